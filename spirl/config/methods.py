"""Methods: the built-in ones, inheritance, ``--set`` overrides, the rules that tie fields together.

A **method** is a named set of settings that may inherit (``base: spirl``) and override any field of
``spirl.config.settings``; ``spirl``, ``de_rainbow``, ``de_rainbow_rgb96`` and ``de_rainbow_p`` are
built in. :func:`resolve_chain` turns a method's chain of bases into ``MethodSettings`` (the preset
does it once per method, ``spirl.config.preset``); :func:`settings_to_dict` and
:func:`settings_from_dict` are the method file's form (``results/methods/*.yaml``).
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any

import yaml

from spirl.config.settings import MAEArch, MethodSettings, PretrainSettings
from spirl.config.validate import NAME, ConfigError, check_fields, hints, suggest

# The sections of a method, from MethodSettings' fields: {"protocol": ProtocolSettings, ...}.
SECTIONS: dict[str, type] = {name: hint for name, hint in hints(MethodSettings).items()
                             if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__")}
# The keys of a method besides its sections: a method body may also name its ``base``.
METHOD_WORDS = tuple(k for k in hints(MethodSettings) if k not in SECTIONS and k != "name")

# The methods of the paper. Each comment says why it differs from the defaults.
BUILTIN_METHODS: dict[str, dict[str, Any]] = {
    "spirl": {"description": "SPIRL: salient MAE patches -> attention encoder -> Rainbow (paper settings)"},
    "de_rainbow": {
        "description": "DE-Rainbow: data-efficient CNN on pixels",
        # the released baseline command: 84x84 grey (docs/method.md#choice-5)
        "protocol": {"frame_size": 84, "grayscale": True},
        "agent": {"encoder": "de_cnn"},
    },
    "de_rainbow_rgb96": {
        "base": "de_rainbow",
        "description": "DE-Rainbow on SPIRL's observation (96x96 RGB): isolates the encoder from the input",
        # the appendix's reading (docs/method.md#choice-5)
        "protocol": {"frame_size": 96, "grayscale": False},
    },
    "de_rainbow_p": {
        "base": "de_rainbow",
        "description": "DE-Rainbow-P: random-action warm-up as long as SPIRL's pretraining set (Table 12)",
        "learner": {
            "warmup_steps": "pretrain_frames",
            "matched_warmup_steps": 1600,  # same number of learning steps as DE-Rainbow
            # Table 12 (the released code would keep everything, docs/method.md#choice-4)
            "replay_capacity": 100_000,
        },
    },
}


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def validate_sections(where: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Check a method body (without ``base``) and return it with values coerced.

    ``where`` prefixes the key in messages (``methods.m`` gives ``methods.m.learner.lr: ...``);
    an empty ``where`` names the key alone.
    """
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in METHOD_WORDS:
            out[key] = check_fields(where, MethodSettings, {key: value}, label="settings")[key]
        elif key not in SECTIONS:
            allowed = [*SECTIONS, *METHOD_WORDS]
            raise ConfigError(f"{where or 'settings'}: unknown key {key!r}" + suggest(str(key), allowed))
        else:
            body = {} if value is None else value
            out[key] = check_fields(_join(where, key), SECTIONS[key], body, noun="setting")
    return out


def check_method_body(where: str, name: str, body: Any) -> dict[str, Any]:
    """One preset method (``methods.NAME`` or a study's inline variant) checked; its ``base`` kept."""
    if not NAME.match(str(name)):
        raise ConfigError(f"{where}: bad method name {name!r} (letters, digits, _ and -, starting with a "
                          "letter)")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {body!r}")
    base = body.get("base")
    checked = validate_sections(where, {k: v for k, v in body.items() if k != "base"})
    if base is not None:
        checked["base"] = str(base)
    elif name in BUILTIN_METHODS:
        # a preset's `spirl:` refines the built-in method rather than replacing it
        checked = merge(BUILTIN_METHODS[name], checked)
    return checked


# ------------------------------------------------------------------------------ rules across fields


def check_arch(arch: MAEArch, where: str = "mae") -> None:
    """The MAE can be built: patches tile the image, heads divide the widths, widths split in four."""
    if arch.img_size % arch.patch_size:
        raise ConfigError(f"{where}.img_size ({arch.img_size}) must be a multiple of {where}.patch_size "
                          f"({arch.patch_size})")
    for width, heads, name in ((arch.embed_dim, arch.num_heads, ""),
                               (arch.decoder_embed_dim, arch.decoder_num_heads, "decoder_")):
        if width % heads:
            raise ConfigError(f"{where}.{name}embed_dim ({width}) must be a multiple of "
                              f"{where}.{name}num_heads ({heads})")
        if width % 4:
            raise ConfigError(f"{where}.{name}embed_dim ({width}) must be a multiple of 4 for the 2-D "
                              "sin-cos position embedding")


def check_pretrain(settings: PretrainSettings, num_patches: int = 144, where: str = "pretrain") -> None:
    """The schedule can run: ``min_lr`` at most the peak lr, the masks leave a patch visible."""
    s = settings
    peak = s.blr * s.batch_size / 256
    if s.min_lr > peak:
        raise ConfigError(f"{where}.min_lr ({s.min_lr}) must be at most the peak lr blr * batch_size / 256 "
                          f"({peak:g})")
    if int(num_patches * (1 - s.mask_ratio)) < 1:
        raise ConfigError(f"{where}.mask_ratio ({s.mask_ratio}) hides all {num_patches} patches; lower it")


def check_rules(settings: MethodSettings) -> None:
    """Rules that tie a method's settings together; ranges and words are checked field by field before."""
    s = settings
    check_arch(s.mae)
    check_pretrain(s.pretrain, (s.mae.img_size // s.mae.patch_size) ** 2)
    if not s.agent.v_min < s.agent.v_max:
        raise ConfigError(f"agent.v_min ({s.agent.v_min}) must be below agent.v_max ({s.agent.v_max})")
    if s.agent.proj_dim % s.agent.attention_heads:
        raise ConfigError(f"agent.proj_dim ({s.agent.proj_dim}) must be a multiple of agent.attention_heads "
                          f"({s.agent.attention_heads})")


# ------------------------------------------------------------------------------ building settings


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, section by section (a section of ``over`` updates ``base``'s)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def settings_from_dict(d: dict[str, Any]) -> MethodSettings:
    """Build ``MethodSettings`` from a (possibly partial) nested dict, validating every key."""
    checked = validate_sections("", {k: v for k, v in d.items() if k != "name"})
    sections = {name: cls(**checked.get(name, {})) for name, cls in SECTIONS.items()}
    words = {k: checked[k] for k in METHOD_WORDS if k in checked}
    settings = MethodSettings(name=d.get("name", "spirl"), **words, **sections)
    check_rules(settings)
    return settings


def settings_to_dict(settings: MethodSettings) -> dict[str, Any]:
    """The nested plain-dict form of the settings (tuples as lists), for YAML and run.json."""
    d = asdict(settings)
    d["pretrain"]["betas"] = list(d["pretrain"]["betas"])
    return d


def resolve_chain(bodies: dict[str, dict[str, Any]], name: str, under: dict[str, Any],
                  mae_variants: dict[str, dict[str, Any]]) -> MethodSettings:
    """Resolve method ``name`` through its chain of ``base`` methods in ``bodies``, on top of ``under``.

    ``under`` holds the preset's sections every method sits on (``budget``, ``pretrain``); the method's
    ``mae_variant`` then supplies the MAE architecture (its own ``mae:`` wins).

    Raises:
        ConfigError: an unknown method or base, an inheritance cycle, or settings that break a rule.
    """
    if name not in bodies:
        raise ConfigError(f"unknown method {name!r}" + suggest(name, bodies))
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur in chain:
            raise ConfigError(f"methods: inheritance cycle {' -> '.join([*chain, cur])}")
        if cur not in bodies:
            raise ConfigError(f"methods.{chain[-1]}.base: unknown method {cur!r}" + suggest(cur, bodies))
        chain.append(cur)
        cur = bodies[cur].get("base")
    merged = copy.deepcopy(under)
    for link in reversed(chain):
        merged = merge(merged, {k: v for k, v in bodies[link].items() if k != "base"})
    variant = merged.get("mae_variant", MethodSettings.mae_variant)
    merged["mae"] = {**mae_variants.get(variant, {}), **merged.get("mae", {})}
    merged["name"] = name
    return settings_from_dict(merged)


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


def method_file_doc(name: str, settings: MethodSettings) -> dict[str, Any]:
    """The content of ``results/methods/{name}.yaml``: one method's resolved settings (``load_method``)."""
    return {"resolved_method": name, "settings": settings_to_dict(settings)}
