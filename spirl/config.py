"""Presets, methods and studies: loading, inheritance, overrides and validation.

A preset (``workflow/config/*.yaml``) names the games, seeds, budget, MAE
variants, methods, the main comparison and the ablation studies. A **method**
is a named set of settings that may inherit (``base: spirl``) and override any
field of ``spirl.settings``; ``spirl``, ``de_rainbow`` and ``de_rainbow_p`` are
built in. A **study** names a question, games, seeds, a reference method and
its variants (each a method name or inline overrides).

Everything is checked here, so the CLI works without Snakemake and a wrong key,
type, game or method fails with one line naming the key and the allowed values.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
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
from spirl.utils import read_yaml


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

# Fields restricted to a set of words.
CHOICES: dict[str, tuple[str, ...]] = {
    "saliency.selection": ("dynamic", "fixed", "random"),
    "agent.encoder": ("spirl", "de_cnn"),
    "agent.pooling": ("cls", "avg"),
    "agent.padding": ("zero", "token", "mask"),
    "learner.new_priority": ("one", "max"),
}
MAX_RATIO_WORDS = re.compile(r"^(paper|ideal|auto)([+-](\d+\.?\d*|\.\d+))?$")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

# The three methods of the paper. Each comment says why it differs from the defaults.
BUILTIN_METHODS: dict[str, dict[str, Any]] = {
    "spirl": {"description": "SPIRL: salient MAE patches -> attention encoder -> Rainbow (paper settings)"},
    "de_rainbow": {
        "description": "DE-Rainbow: data-efficient CNN on pixels",
        "protocol": {"frame_size": 84, "grayscale": True},  # released baseline command: 84x84 grey (J#5)
        "agent": {"encoder": "de_cnn"},
    },
    "de_rainbow_p": {
        "base": "de_rainbow",
        "description": "DE-Rainbow-P: random-action warm-up as long as SPIRL's pretraining set (Table 12)",
        "learner": {
            "warmup_steps": "pretrain_frames",
            "matched_warmup_steps": 1600,  # same number of learning steps as DE-Rainbow
            "replay_capacity": 100_000,  # Table 12 (the released code would keep everything, J#4)
        },
    },
}

PRESET_KEYS = {
    "description": str,
    "demo": bool,
    "games": list,
    "seeds": (int, list),
    "budget": dict,
    "pretrain_frames": (int, dict, type(None)),
    "mae_variants": dict,
    "pretrain": dict,
    "methods": dict,
    "comparison": dict,
    "studies": dict,
    "stats": dict,
    "published": list,
    "threads": int,
    "report": dict,
}
STUDY_KEYS = {"question", "games", "seeds", "reference", "variants", "table"}


def _suggest(word: str, allowed: typing.Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(word, allowed, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"


def _coerce(where: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a dataclass field's annotation (a string under postponed evaluation)."""
    hint = eval(annotation, vars(typing)) if isinstance(annotation, str) else annotation
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
        if typing.get_origin(opt) is tuple and isinstance(value, (list, tuple)):
            return tuple(float(v) for v in value)
    names = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
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
    if key == "learner.warmup_steps" and isinstance(value, str) and value != "pretrain_frames":
        raise ConfigError(f"{where}: use a number of steps or 'pretrain_frames', got {value!r}")


def _validate_overrides(where: str, spec: dict[str, Any]) -> dict[str, Any]:
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
            raise ConfigError(f"{where}: unknown key {key!r}" + _suggest(key, allowed))
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{key}: expected a mapping of settings, got {value!r}")
        known = {f.name: f for f in fields(SECTIONS[key])}
        section: dict[str, Any] = {}
        for sub, subval in value.items():
            if sub not in known:
                raise ConfigError(f"{where}.{key}: unknown setting {sub!r}" + _suggest(sub, known))
            coerced = _coerce(f"{where}.{key}.{sub}", subval, known[sub].type)
            _check_value(f"{where}.{key}.{sub}", f"{key}.{sub}", coerced)
            section[sub] = coerced
        out[key] = section
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
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
    checked = _validate_overrides("settings", body)
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
        checked = _validate_overrides("--set", {section: {key: value}})
        d[section][key] = checked[section][key]
    return settings_from_dict(d)


# --------------------------------------------------------------------------------------------- presets


@dataclass
class Study:
    """One ablation: a question, where it is asked, and the methods that answer it."""

    name: str
    question: str
    games: list[str]
    seeds: list[int]
    reference: str
    variants: dict[str, str]  # label -> method name
    table: str | None = None  # which paper table it mirrors, if any


@dataclass
class Preset:
    """A validated preset."""

    path: str
    raw: dict[str, Any]
    games: list[str]
    seeds: list[int]
    methods: dict[str, dict[str, Any]]  # name -> validated body (may still have ``base``)
    mae_variants: dict[str, dict[str, Any]]
    comparison: dict[str, list[int]]  # method -> seeds, run on every game of the preset
    studies: dict[str, Study] = field(default_factory=dict)

    @property
    def demo(self) -> bool:
        return bool(self.raw.get("demo", False))

    def method_names(self) -> list[str]:
        """Every method some run of this preset uses, in a stable order."""
        names = list(self.comparison)
        for study in self.studies.values():
            names += [m for m in study.variants.values() if m not in names]
        return list(dict.fromkeys(names))

    def runs(self) -> list[tuple[str, str, int]]:
        """All (method, game, seed) triples: the comparison on every game, then every study."""
        out: list[tuple[str, str, int]] = []
        for method, seeds in self.comparison.items():
            out += [(method, g, s) for g in self.games for s in seeds]
        for study in self.studies.values():
            out += [(m, g, s) for m in study.variants.values() for g in study.games for s in study.seeds]
        return list(dict.fromkeys(out))

    def maes(self) -> list[tuple[str, str]]:
        """All (mae variant, game) pairs the runs need (SPIRL encoders only)."""
        out = []
        for method, game, _ in self.runs():
            s = resolve_method(self, method)
            if s.agent.encoder == "spirl":
                out.append((s.mae_variant, game))
        return list(dict.fromkeys(out))

    def pretrain_frames(self, game: str) -> int:
        """Size of the pretraining set of ``game``: the preset's, else the paper's (Table 6)."""
        spec = self.raw.get("pretrain_frames")
        game = games.canonical(game)
        if isinstance(spec, int):
            return spec
        if isinstance(spec, dict):
            if game in spec:
                return int(spec[game])
            if "default" in spec:
                return int(spec["default"])
        return games.get(game).pretrain_frames


def _seeds(where: str, value: Any) -> list[int]:
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


def _games(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of games, got {value!r}")
    try:
        return [games.canonical(str(g)) for g in value]
    except games.UnknownGameError as err:
        raise ConfigError(f"{where}: {err}") from None


def parse_preset(raw: dict[str, Any], path: str = "<preset>") -> Preset:
    """Validate a preset dict (see ``workflow/config/default.yaml`` for a commented example)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset is a mapping of keys, got {type(raw).__name__}")
    for key, value in raw.items():
        if key not in PRESET_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}" + _suggest(key, PRESET_KEYS))
        if not isinstance(value, PRESET_KEYS[key]):
            raise ConfigError(f"{path}: {key}: wrong type {type(value).__name__}")
    gs = _games("games", raw.get("games", list(games.PAPER_GAMES)))
    seeds = _seeds("seeds", raw.get("seeds", 1))
    budget = _validate_overrides("preset", {"budget": raw.get("budget", {})})["budget"]

    variants = raw.get("mae_variants", {"paper": {}})
    mae_variants = {}
    for name, body in variants.items():
        if not NAME.match(str(name)):
            raise ConfigError(f"mae_variants: bad name {name!r} (letters, digits, _ and -)")
        mae_variants[name] = _validate_overrides(f"mae_variants.{name}", {"mae": body or {}})["mae"]
    pretrain = _validate_overrides("preset", {"pretrain": raw.get("pretrain", {})})["pretrain"]

    methods: dict[str, dict[str, Any]] = {k: copy.deepcopy(v) for k, v in BUILTIN_METHODS.items()}
    for name, body in (raw.get("methods") or {}).items():
        _add_method(methods, name, body or {}, f"methods.{name}")

    comparison: dict[str, list[int]] = {}
    for name, body in (raw.get("comparison") or {}).items():
        if name not in methods:
            raise ConfigError(f"comparison: unknown method {name!r}" + _suggest(name, methods))
        body = body or {}
        if not isinstance(body, dict) or set(body) - {"seeds"}:
            raise ConfigError(f"comparison.{name}: only 'seeds' may be given")
        comparison[name] = _seeds(f"comparison.{name}.seeds", body.get("seeds", seeds))

    studies: dict[str, Study] = {}
    for sname, sbody in (raw.get("studies") or {}).items():
        studies[sname] = _parse_study(sname, sbody, methods, gs, seeds)

    preset = Preset(path, raw, gs, seeds, methods, mae_variants, comparison, studies)
    preset.raw = {**raw, "budget": budget, "pretrain": pretrain}
    for name in preset.methods:
        s = resolve_method(preset, name)  # raises on cycles, bad bases, unknown MAE variants
        if s.agent.encoder == "spirl" and s.mae_variant not in mae_variants:
            raise ConfigError(f"methods.{name}: mae_variant {s.mae_variant!r} is not in mae_variants"
                              + _suggest(s.mae_variant, mae_variants))
    return preset


def _add_method(methods: dict[str, dict[str, Any]], name: str, body: Any, where: str) -> None:
    if not NAME.match(str(name)):
        raise ConfigError(f"{where}: bad method name {name!r} (letters, digits, _ and -, starting with a letter)")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {body!r}")
    base = body.get("base")
    checked = _validate_overrides(where, {k: v for k, v in body.items() if k != "base"})
    if base is not None:
        checked["base"] = base
    elif name in BUILTIN_METHODS:
        # a preset's `spirl:` refines the built-in method rather than replacing it
        checked = _merge(BUILTIN_METHODS[name], checked)
    methods[name] = checked


def _parse_study(name: str, body: Any, methods: dict[str, dict[str, Any]], gs: list[str],
                 seeds: list[int]) -> Study:
    where = f"studies.{name}"
    if not NAME.match(name):
        raise ConfigError(f"{where}: bad study name (letters, digits, _ and -)")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for key in body:
        if key not in STUDY_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}" + _suggest(key, STUDY_KEYS))
    raw_variants = body.get("variants")
    if not isinstance(raw_variants, dict) or len(raw_variants) < 2:
        raise ConfigError(f"{where}.variants: give at least two variants (label: method name or settings)")
    variants: dict[str, str] = {}
    for label, spec in raw_variants.items():
        if isinstance(spec, str):
            if spec not in methods:
                raise ConfigError(f"{where}.variants.{label}: unknown method {spec!r}" + _suggest(spec, methods))
            variants[str(label)] = spec
        else:
            method_name = f"{name}-{label}"
            _add_method(methods, method_name, spec, f"{where}.variants.{label}")
            variants[str(label)] = method_name
    reference = body.get("reference", next(iter(raw_variants)))
    if reference in variants:
        reference = variants[reference]
    if reference not in variants.values():
        raise ConfigError(f"{where}.reference: {reference!r} is not one of the study's variants "
                          f"({', '.join(variants)})")
    return Study(
        name=name,
        question=str(body.get("question", name)),
        games=_games(f"{where}.games", body.get("games", gs)),
        seeds=_seeds(f"{where}.seeds", body.get("seeds", seeds)),
        reference=reference,
        variants=variants,
        table=body.get("table"),
    )


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset YAML file."""
    raw = read_yaml(path, what="preset", error=ConfigError) or {}
    return parse_preset(raw, str(path))


def resolve_method(preset: Preset, name: str) -> MethodSettings:
    """Resolve ``name`` through its chain of ``base`` methods, then the preset's budget and MAE variant."""
    if name not in preset.methods:
        raise ConfigError(f"unknown method {name!r}" + _suggest(name, preset.methods))
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur in chain:
            raise ConfigError(f"methods: inheritance cycle {' -> '.join([*chain, cur])}")
        if cur not in preset.methods:
            raise ConfigError(f"methods.{chain[-1]}.base: unknown method {cur!r}" + _suggest(cur, preset.methods))
        chain.append(cur)
        cur = preset.methods[cur].get("base")
    merged: dict[str, Any] = {
        "budget": dict(preset.raw.get("budget", {})),
        "pretrain": dict(preset.raw.get("pretrain", {})),
    }
    for link in reversed(chain):
        merged = _merge(merged, {k: v for k, v in preset.methods[link].items() if k != "base"})
    variant = merged.get("mae_variant", "paper")
    merged["mae"] = {**preset.mae_variants.get(variant, {}), **merged.get("mae", {})}
    merged["name"] = name
    return settings_from_dict(merged)


def load_method(config: str | Path, method: str) -> MethodSettings:
    """Settings of ``method`` from a preset or from a resolved method file (``spirl resolve-method``)."""
    p = Path(config)
    raw = read_yaml(p, what="config", error=ConfigError) or {}
    if isinstance(raw, dict) and "resolved_method" in raw:
        if raw["resolved_method"] != method:
            raise ConfigError(f"{p} holds method {raw['resolved_method']!r}, not {method!r}")
        return settings_from_dict({**raw["settings"], "name": method})
    return resolve_method(parse_preset(raw, str(p)), method)


# ------------------------------------------------------------------------------------------ run plans


@dataclass
class RunPlan:
    """Concrete numbers for one (method, game) run, derived from its settings."""

    method: MethodSettings  # with max_ratio and warm-up made concrete
    game: str
    k_max: int | None  # patches kept per frame (SPIRL encoders), else None
    warmup_steps: int  # uniform-random steps before learning starts
    total_env_steps: int
    replay_capacity: int
    eval_steps: list[int]  # env steps after which an evaluation runs (the last = total_env_steps)
    expected_updates: int

    def beta(self, step: int) -> float:
        """PER importance exponent: linear from beta0 at the end of warm-up to 1 at the last step."""
        b0 = self.method.learner.per_beta0
        span = max(1, self.total_env_steps - self.warmup_steps)
        frac = min(1.0, max(0.0, (step - self.warmup_steps) / span))
        return b0 + (1.0 - b0) * frac


def resolve_max_ratio(spec: float | str | None, game: str, ideal_ratio: float | None = None) -> float:
    """Turn a ``max_ratio`` setting into a number for ``game``.

    ``None``/``"paper"``: the adopted ratio of Table 13; ``"ideal"``: Fig. 8's ideal ratio;
    ``"auto"``: the ideal ratio measured by ``spirl saliency-stats`` (passed as ``ideal_ratio``);
    any of those may carry an offset (``"ideal-0.05"``). Rounded to 4 decimals, checked in (0, 1].
    """
    g = games.get(game)
    if spec is None:
        spec = "paper"
    if isinstance(spec, (int, float)):
        value = float(spec)
    else:
        m = MAX_RATIO_WORDS.match(spec)
        if not m:
            raise ConfigError(f"saliency.max_ratio: {spec!r} is not a ratio")
        word, offset = m.group(1), float(m.group(2) or 0.0)
        if word == "paper":
            base = g.max_ratio
        elif word == "ideal":
            base = g.ideal_ratio
        else:
            base = ideal_ratio
            if base is None:
                raise ConfigError(f"saliency.max_ratio {spec!r} needs the K statistics of {g.id} "
                                  "(spirl saliency-stats); pass them with --k-hist")
        if base is None:
            raise ConfigError(f"the paper gives no {word} maximal ratio for {g.id}; use max_ratio: auto "
                              "(measured from the K statistics) or a number")
        value = base + offset
    value = round(value, 4)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"saliency.max_ratio for {g.id} resolves to {value}, outside (0, 1]")
    return value


def for_game(settings: MethodSettings, game: str, *, pretrain_frames: int | None = None,
             ideal_ratio: float | None = None) -> RunPlan:
    """Make every game-dependent setting concrete for one run of ``settings`` on ``game``."""
    game = games.canonical(game)
    s = copy.deepcopy(settings)
    k_max = None
    if s.agent.encoder == "spirl":
        s.saliency.max_ratio = resolve_max_ratio(s.saliency.max_ratio, game, ideal_ratio)
        k_max = games.k_max(s.saliency.max_ratio)
    warm = s.learner.warmup_steps
    if warm == "pretrain_frames":
        warm = pretrain_frames if pretrain_frames is not None else games.get(game).pretrain_frames
    warm = int(warm)
    s.learner.warmup_steps = warm
    total = s.budget.env_steps
    if s.learner.matched_warmup_steps is not None:
        total += warm - s.learner.matched_warmup_steps
    if total < 1:
        raise ConfigError(f"{s.name} on {game}: the budget comes to {total} env steps; raise budget.env_steps")
    if s.budget.eval_episodes < 1:
        raise ConfigError("budget.eval_episodes must be at least 1")
    capacity = s.learner.replay_capacity or total
    s.learner.replay_capacity = capacity
    points = s.budget.eval_points
    if points < 1:
        raise ConfigError("budget.eval_points must be at least 1")
    eval_steps = sorted({max(1, round(total * i / points)) for i in range(1, points + 1)})
    updates = int((total - warm) * s.learner.updates_per_step)
    return RunPlan(s, game, k_max, warm, total, capacity, eval_steps, updates)


# ------------------------------------------------------------------------------------------------ CLI


def _resolve_cmd(args: argparse.Namespace) -> int:
    from spirl.utils import atomic_write_text

    settings = resolve_method(load_preset(args.config), args.method)
    doc = {"resolved_method": args.method, "settings": settings_to_dict(settings)}
    atomic_write_text(args.out, yaml.safe_dump(doc, sort_keys=False))
    return 0


def configure_resolve_method(parser: argparse.ArgumentParser) -> None:
    """``spirl resolve-method --config PRESET --method M --out results/methods/M.yaml``."""
    parser.add_argument("--config", required=True, help="preset YAML")
    parser.add_argument("--method", required=True, help="method name")
    parser.add_argument("--out", required=True, help="where to write the resolved settings (YAML)")
    parser.set_defaults(func=_resolve_cmd)


def _check_cmd(args: argparse.Namespace) -> int:
    preset = load_preset(args.config)
    runs = preset.runs()
    print(f"{args.config}: valid; {len(preset.games)} games, {len(preset.method_names())} methods, "
          f"{len(preset.maes())} MAE pretrainings, {len(runs)} training runs, {len(preset.studies)} studies")
    if args.list:
        for method, game, seed in runs:
            print(f"  {method:<28} {game:<14} {seed}")
    return 0


def configure_check_config(parser: argparse.ArgumentParser) -> None:
    """``spirl check-config --config PRESET [--list]``."""
    parser.add_argument("--config", required=True, help="preset YAML")
    parser.add_argument("--list", action="store_true", help="list every run")
    parser.set_defaults(func=_check_cmd)


__all__ = [
    "BUILTIN_METHODS",
    "ConfigError",
    "Preset",
    "RunPlan",
    "Study",
    "apply_overrides",
    "for_game",
    "load_method",
    "load_preset",
    "parse_preset",
    "resolve_max_ratio",
    "resolve_method",
    "settings_from_dict",
    "settings_to_dict",
]
