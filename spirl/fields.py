"""Settings as plain dicts, checked field by field: the one validation of every value a user writes.

Every section of ``spirl.settings`` is checked against its dataclass: a key must be a field,
a value must fit the field's type (a ``Literal`` type lists the allowed words), and a few
fields obey a rule of their own (``max_ratio``, ``warmup_steps``). Presets, method files,
``--set`` overrides on the command line and the workflow all go through here; a wrong value
fails with one line naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from dataclasses import asdict, fields
from typing import Any

import yaml

from spirl.atari import games
from spirl.settings import (
    AgentSettings,
    BudgetSettings,
    LearnerSettings,
    MAEArch,
    MethodSettings,
    PretrainSettings,
    ProtocolSettings,
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
        if opt is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if opt is float and isinstance(value, str):
            try:  # YAML 1.1 reads 1e-4 (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if opt is str and isinstance(value, str):
            return value
        if typing.get_origin(opt) is typing.Literal and isinstance(value, str):
            return value  # the word itself is checked against CHOICES
        if typing.get_origin(opt) is tuple and isinstance(value, (list, tuple)):
            return tuple(float(v) for v in value)
    def name(o: Any) -> str:
        if o is type(None):
            return "null"
        if typing.get_origin(o) is typing.Literal:
            return "one of " + ", ".join(map(str, typing.get_args(o)))
        return getattr(o, "__name__", str(o))

    names = " or ".join(name(o) for o in options)
    raise ConfigError(f"{where}: expected {names}, got {value!r}")


def _check_value(where: str, key: str, value: Any) -> None:
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {', '.join(CHOICES[key])}")
    if key == "saliency.max_ratio" and value is not None:
        if isinstance(value, str):
            if not MAX_RATIO_WORDS.match(value):
                raise ConfigError(
                    f"{where}: {value!r} is not a ratio; use a number in (0, 1], 'paper', 'ideal', 'auto', "
                    "or one of those with an offset such as 'ideal-0.05'"
                )
        elif not 0.0 < float(value) <= 1.0:
            raise ConfigError(f"{where}: max_ratio must be in (0, 1], got {value}")
    if key == "budget.device" and not DEVICE.match(value):
        raise ConfigError(f"{where}: {value!r} is not a device; use auto, cpu, cuda or cuda:N")
    if key == "learner.warmup_steps" and isinstance(value, str) and value != "pretrain_frames":
        raise ConfigError(f"{where}: use a number of steps or 'pretrain_frames', got {value!r}")


def validate_sections(where: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Check a method body (without ``base``) and return it with values coerced."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("description", "mae_variant"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
            out[key] = value
            continue
        if key not in SECTIONS:
            allowed = [*SECTIONS, "description", "mae_variant"]
            raise ConfigError(f"{where}: unknown key {key!r}" + suggest(key, allowed))
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{key}: expected a mapping of settings, got {value!r}")
        known = {f.name: f for f in fields(SECTIONS[key])}
        section: dict[str, Any] = {}
        for sub, subval in value.items():
            if sub not in known:
                raise ConfigError(f"{where}.{key}: unknown setting {sub!r}" + suggest(sub, known))
            coerced = _coerce(f"{where}.{key}.{sub}", subval, HINTS[key][sub])
            _check_value(f"{where}.{key}.{sub}", f"{key}.{sub}", coerced)
            section[sub] = coerced
        out[key] = section
    return out


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
    checked = validate_sections("settings", body)
    sections = {name: cls(**checked.get(name, {})) for name, cls in SECTIONS.items()}
    return MethodSettings(
        name=d.get("name", "spirl"),
        description=checked.get("description", ""),
        mae_variant=checked.get("mae_variant", "paper"),
        **sections,
    )


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
        value = yaml.safe_load(raw) if raw != "" else None
        checked = validate_sections("--set", {section: {key: value}})
        d[section][key] = checked[section][key]
    return settings_from_dict(d)


def parse_seeds(where: str, value: Any) -> list[int]:
    """Seeds given as a count (``3`` -> 0, 1, 2) or a list of non-negative integers."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a count or a list of seeds, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where}: need at least one seed, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value):
        return list(value)
    raise ConfigError(f"{where}: expected a count or a list of non-negative integer seeds, got {value!r}")


def parse_games(where: str, value: Any) -> list[str]:
    """A non-empty list of games, any spelling, as canonical ids."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of games, got {value!r}")
    try:
        return [games.canonical(str(g)) for g in value]
    except games.UnknownGameError as err:
        raise ConfigError(f"{where}: {err}") from None
