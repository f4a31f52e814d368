"""Settings as plain dicts, checked field by field: the one validation of every value a user writes.

Every section of ``spirl.settings`` is checked against its dataclass: a key must be a field,
a value must fit the field's type (a ``Literal`` type lists the allowed words), a number must
lie in its ``spirl.settings.RANGES`` entry, a few fields obey a rule of their own
(``max_ratio``, ``warmup_steps``, ``device``), and :func:`check_rules` ties fields together
(heads divide widths, ``v_min < v_max``, ...). Presets, method files, ``--set`` overrides,
the numbers given on the command line and the workflow all go through here; a wrong value
fails with one line naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import types
import typing
from dataclasses import asdict, fields
from typing import Any

import yaml

from spirl.atari import games
from spirl.settings import (
    RANGES,
    AgentSettings,
    BudgetSettings,
    LearnerSettings,
    MAEArch,
    MethodSettings,
    PretrainSettings,
    ProtocolSettings,
    Range,
    SaliencySettings,
)


class ConfigError(ValueError):
    """A preset, method or override that cannot be used; the message names the key."""


SECTIONS: dict[str, type] = {
    "protocol": ProtocolSettings,
    "mae": MAEArch,
    "pretrain": PretrainSettings,
    "saliency": SaliencySettings,
    "agent": AgentSettings,
    "learner": LearnerSettings,
    "budget": BudgetSettings,
}


# The resolved type of every field (the dataclasses use postponed annotations).
HINTS: dict[str, dict[str, Any]] = {name: typing.get_type_hints(cls) for name, cls in SECTIONS.items()}


def _words(hint: Any) -> tuple[str, ...] | None:
    """The allowed words of a ``Literal`` field (or an optional one), else None."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for opt in options:
        if typing.get_origin(opt) is typing.Literal:
            return typing.get_args(opt)
    return None


# Fields restricted to a set of words, from their Literal types: {"saliency.selection": ("dynamic", ...)}.
CHOICES: dict[str, tuple[str, ...]] = {
    f"{section}.{name}": words
    for section, hints in HINTS.items() for name, hint in hints.items() if (words := _words(hint)) is not None
}
MAX_RATIO_WORDS = re.compile(r"^(paper|ideal|auto)([+-](\d+\.?\d*|\.\d+))?$")
DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def suggest(word: str, allowed: typing.Iterable[str]) -> str:
    """"; did you mean X?" for the closest allowed word, else the list of allowed words."""
    allowed = list(allowed)
    close = difflib.get_close_matches(word, allowed, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"


def _type_name(o: Any) -> str:
    if o is type(None):
        return "null"
    if typing.get_origin(o) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(o)))
    if typing.get_origin(o) is tuple:
        return f"a list of {len(typing.get_args(o))} numbers"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(o, str(o))


def _number(where: str, value: Any) -> float | None:
    """``value`` as a finite float if it is a number (or a string YAML 1.1 left unparsed, e.g. ``1e-4``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(out):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return out


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a dataclass field's resolved type hint (see ``HINTS``)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for opt in options:
        if opt is type(None) and value is None:
            return None
        if opt is bool and isinstance(value, bool):
            return value
        if opt is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if opt is float and (number := _number(where, value)) is not None:
            return number
        if opt is str and isinstance(value, str):
            return value
        if typing.get_origin(opt) is typing.Literal and isinstance(value, str):
            return value  # the word itself is checked against CHOICES
        if typing.get_origin(opt) is tuple and isinstance(value, (list, tuple)):
            numbers = [_number(where, v) for v in value]
            if len(value) == len(typing.get_args(opt)) and all(n is not None for n in numbers):
                return tuple(numbers)
    names = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"{where}: expected {names}, got {value!r}")


def check_range(where: str, key: str, value: Any) -> None:
    """Refuse a number outside ``RANGES[key]`` (each element of a list), naming ``where`` and the range."""
    rng: Range | None = RANGES.get(key)
    if rng is None:
        return
    for v in value if isinstance(value, (list, tuple)) else (value,):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not rng.contains(v):
            raise ConfigError(f"{where}: must be {rng.describe()}, got {v!r}")


def _check_value(where: str, key: str, value: Any) -> None:
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {', '.join(CHOICES[key])}")
    check_range(where, key, value)
    if key == "saliency.max_ratio" and isinstance(value, str) and not MAX_RATIO_WORDS.match(value):
        raise ConfigError(
            f"{where}: {value!r} is not a ratio; use a number in (0, 1], 'paper', 'ideal', 'auto', "
            "or one of those with an offset such as 'ideal-0.05'"
        )
    if key == "budget.device" and not DEVICE.match(value):
        raise ConfigError(f"{where}: {value!r} is not a device; use auto, cpu, cuda or cuda:N")
    if key == "learner.warmup_steps" and isinstance(value, str) and value != "pretrain_frames":
        raise ConfigError(f"{where}: use a number of steps or 'pretrain_frames', got {value!r}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def validate_sections(where: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Check a method body (without ``base``) and return it with values coerced.

    ``where`` prefixes the key in messages (``methods.m`` gives ``methods.m.learner.lr: ...``);
    an empty ``where`` names the key alone.
    """
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("description", "mae_variant"):
            if not isinstance(value, str):
                raise ConfigError(f"{_join(where, key)}: expected a string, got {value!r}")
            out[key] = value
            continue
        if key not in SECTIONS:
            allowed = [*SECTIONS, "description", "mae_variant"]
            raise ConfigError(f"{where or 'settings'}: unknown key {key!r}" + suggest(str(key), allowed))
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{_join(where, key)}: expected a mapping of settings, got {value!r}")
        known = {f.name: f for f in fields(SECTIONS[key])}
        section: dict[str, Any] = {}
        for sub, subval in value.items():
            if sub not in known:
                raise ConfigError(f"{_join(where, key)}: unknown setting {sub!r}" + suggest(str(sub), known))
            coerced = _coerce(f"{_join(where, key)}.{sub}", subval, HINTS[key][sub])
            _check_value(f"{_join(where, key)}.{sub}", f"{key}.{sub}", coerced)
            section[sub] = coerced
        out[key] = section
    return out


# ------------------------------------------------------------------------------ rules across fields


def check_arch(arch: MAEArch, where: str = "mae") -> None:
    """The MAE can be built: patches tile the image, heads divide the widths, widths split in four."""
    if arch.img_size % arch.patch_size:
        raise ConfigError(f"{where}.img_size ({arch.img_size}) must be a multiple of {where}.patch_size "
                          f"({arch.patch_size})")
    for width, heads, name in ((arch.embed_dim, arch.num_heads, ""),
                               (arch.decoder_embed_dim, arch.decoder_num_heads, "decoder_")):
        if width % heads:
            raise ConfigError(f"{where}.{name}embed_dim ({width}) must be a multiple of {where}.{name}num_heads "
                              f"({heads})")
        if width % 4:
            raise ConfigError(f"{where}.{name}embed_dim ({width}) must be a multiple of 4 for the 2-D sin-cos "
                              "position embedding")


def check_pretrain(settings: PretrainSettings, num_patches: int = 144, where: str = "pretrain") -> None:
    """The schedule can run: ``min_lr`` at most the peak lr, the masks leave a patch visible."""
    s = settings
    peak = s.blr * s.batch_size / 256
    if s.min_lr > peak:
        raise ConfigError(f"{where}.min_lr ({s.min_lr}) must be at most the peak lr blr * batch_size / 256 ({peak:g})")
    if int(num_patches * (1 - s.mask_ratio)) < 1:
        raise ConfigError(f"{where}.mask_ratio ({s.mask_ratio}) hides all {num_patches} patches; lower it")


def check_rules(settings: MethodSettings) -> None:
    """Rules that tie a method's settings together; ranges and words are checked field by field before."""
    s = settings
    check_arch(s.mae)
    check_pretrain(s.pretrain, (s.mae.img_size // s.mae.patch_size) ** 2)
    if not s.agent.v_min < s.agent.v_max:
        raise ConfigError(f"agent.v_min ({s.agent.v_min}) must be below agent.v_max ({s.agent.v_max})")
    patches = (s.mae.img_size // s.mae.patch_size) ** 2
    for key in ("max_ratio", "fixed_ratio"):  # a ratio below one patch would silently keep one (Kmax >= 1)
        ratio = getattr(s.saliency, key)
        if isinstance(ratio, (int, float)) and int(patches * ratio) < 1:
            raise ConfigError(f"saliency.{key} ({ratio}) keeps no patch of {patches} (floor({patches} x {ratio}) "
                              f"= 0); use at least 1/{patches} = {1 / patches:.4f}")
    if s.agent.proj_dim % s.agent.attention_heads:
        raise ConfigError(f"agent.proj_dim ({s.agent.proj_dim}) must be a multiple of agent.attention_heads "
                          f"({s.agent.attention_heads})")


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, section by section (a section of ``over`` updates the same section of ``base``)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def settings_from_dict(d: dict[str, Any]) -> MethodSettings:
    """Build ``MethodSettings`` from a (possibly partial) nested dict, validating every key."""
    body = {k: v for k, v in d.items() if k != "name"}
    checked = validate_sections("", body)
    sections = {name: cls(**checked.get(name, {})) for name, cls in SECTIONS.items()}
    settings = MethodSettings(
        name=d.get("name", "spirl"),
        description=checked.get("description", ""),
        mae_variant=checked.get("mae_variant", "paper"),
        **sections,
    )
    check_rules(settings)
    return settings


def settings_to_dict(settings: MethodSettings) -> dict[str, Any]:
    """The nested plain-dict form of the settings (tuples as lists), for YAML and run.json."""
    d = asdict(settings)
    d["pretrain"]["betas"] = list(d["pretrain"]["betas"])
    return d


def apply_overrides(settings: MethodSettings, pairs: list[str]) -> MethodSettings:
    """Apply ``section.key=value`` overrides (``--set``), values parsed as YAML scalars.

    Raises:
        ConfigError: for a malformed pair, an unknown section or key, or a bad value.
    """
    d = settings_to_dict(settings)
    for pair in pairs:
        if "=" not in pair or "." not in pair.split("=", 1)[0]:
            raise ConfigError(f"--set {pair!r}: expected section.key=value, e.g. learner.lr=3e-4")
        path, raw = pair.split("=", 1)
        section, key = path.split(".", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(f"--set {path}: {raw!r} is not a YAML value ({problem}); check its brackets "
                              "and quotes") from None
        if section not in SECTIONS:
            raise ConfigError(f"--set {pair!r}: unknown section {section!r}" + suggest(section, SECTIONS))
        try:
            checked = validate_sections("", {section: {key: value}})
        except ConfigError as err:
            raise ConfigError(f"--set {err}") from None
        d[section][key] = checked[section][key]
    try:
        return settings_from_dict(d)
    except ConfigError as err:
        raise ConfigError(f"--set: {err}") from None


def check_number(where: str, key: str, value: Any) -> Any:
    """A number given on the command line (``--threads``, ``--seed``, ``--n-frames``): ``RANGES[key]`` checked."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    check_range(where, key, value)
    return value


def parse_seeds(where: str, value: Any) -> list[int]:
    """Seeds given as a count (``3`` -> 0, 1, 2) or a list of non-negative integers."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a count or a list of seeds, got {value!r}")
    top = int(RANGES["run.seed"].high)
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where}: need at least one seed, got {value}")
        _refuse_seed_list(where, value)
        if value - 1 > top:
            raise ConfigError(f"{where}: {value:,} seeds go up to seed {value - 1:,}, beyond the largest seed {top}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value):
        if max(value) > top:
            raise ConfigError(f"{where}: seed {max(value)} is beyond the largest seed {top}")
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise ConfigError(f"{where}: seed {twice[0]} is given twice")
        return list(value)
    raise ConfigError(f"{where}: expected a count or a list of non-negative integer seeds, got {value!r}")


def _refuse_seed_list(where: str, count: int) -> None:
    """Refuse a seed count whose list alone (about 40 bytes a seed) would not fit in this machine's memory."""
    from spirl.guards import TooLargeError, refuse_beyond_memory

    try:
        refuse_beyond_memory({"seeds": 40 * count}, f"{where}: a plan of {count:,} seeds", "give fewer seeds")
    except TooLargeError as err:
        raise ConfigError(str(err)) from None


def parse_games(where: str, value: Any) -> list[str]:
    """A non-empty list of games, any spelling, as canonical ids."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of games, got {value!r}")
    try:
        return [games.canonical(str(g)) for g in value]
    except games.UnknownGameError as err:
        raise ConfigError(f"{where}: {err}") from None


SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.()+-]*$")
URL = re.compile(r"^(https?|file)://")
PUBLISHED_KEYS = ("name", "url", "sha256", "source")


def check_published(where: str, items: Any) -> list[dict[str, str]]:
    """A ``published:`` list (``spirl fetch-published``, a preset's): entries with name, url, sha256 (and source).

    Returns the entries with the sha256 in lower case.

    Raises:
        ConfigError: not a list, an entry that is not a mapping, a missing or unknown key, a name that
            cannot be a file name, a URL that is not https:// or file://, a sha256 that is not 64 hex
            digits, or a name given twice.
    """
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of entries with name, url, sha256")
    out: list[dict[str, str]] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping with name, url, sha256")
        missing = [k for k in PUBLISHED_KEYS[:3] if not item.get(k)]
        if missing:
            raise ConfigError(f"{at}: missing {', '.join(missing)}")
        unknown = sorted(set(item) - set(PUBLISHED_KEYS))
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                              f"{', '.join(PUBLISHED_KEYS)}")
        entry = {k: str(item[k]) for k in PUBLISHED_KEYS if k in item}
        if not FILE_NAME.match(entry["name"]):
            raise ConfigError(f"{at}: name {entry['name']!r} must be usable as a file name")
        if not URL.match(entry["url"]):
            raise ConfigError(f"{at}: url {entry['url']!r} must start with https://, http:// or file://")
        if not SHA256.match(entry["sha256"]):
            raise ConfigError(f"{at}: sha256 {entry['sha256']!r} is not 64 hex digits")
        entry["sha256"] = entry["sha256"].lower()
        if any(e["name"] == entry["name"] for e in out):
            raise ConfigError(f"{at}: name {entry['name']!r} appears twice")
        out.append(entry)
    return out
