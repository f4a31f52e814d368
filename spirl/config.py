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

import copy
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from spirl.atari import games
from spirl.fields import (
    NAME,
    ConfigError,
    check_published,
    check_range,
    merge,
    parse_games,
    parse_seeds,
    settings_from_dict,
    settings_to_dict,
    suggest,
    validate_sections,
)
from spirl.plan import resolve_max_ratio
from spirl.settings import IntervalMethod, MethodSettings, StatsSettings, TrackSettings, allowed
from spirl.studies import Study, parse_study
from spirl.utils import read_yaml

PAIR = re.compile(r"^.+:.+$")  # a probability-of-improvement pair "X:Y"

# The three methods of the paper. Each comment says why it differs from the defaults.
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
        "protocol": {"frame_size": 96, "grayscale": False},  # the appendix's reading (docs/method.md#choice-5)
    },
    "de_rainbow_p": {
        "base": "de_rainbow",
        "description": "DE-Rainbow-P: random-action warm-up as long as SPIRL's pretraining set (Table 12)",
        "learner": {
            "warmup_steps": "pretrain_frames",
            "matched_warmup_steps": 1600,  # same number of learning steps as DE-Rainbow
            "replay_capacity": 100_000,  # Table 12 (the released code would keep everything, docs/method.md#choice-4)
        },
    },
}

PRESET_KEYS = {
    "description": str,
    "demo": bool,
    "games": list,
    "game": str,  # one game, as `--config game=X` overrides it (paper1game.yaml); instead of `games`
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
    "runs_per_gpu": int,
    "report": dict,
    "track": dict,
}


# --------------------------------------------------------------------------------------------- presets


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
        """A demonstration preset: its report says the numbers are not the paper's."""
        return bool(self.raw.get("demo", False))

    @property
    def threads(self) -> int:
        """Threads per training, pretraining and K-statistics job."""
        return int(self.raw.get("threads", 1))

    @property
    def runs_per_gpu(self) -> int:
        """GPU jobs that share one GPU (``spirl.devices.gpu_resources`` turns it into Snakemake resources)."""
        return int(self.raw.get("runs_per_gpu", 1))

    @property
    def device(self) -> str:
        """The preset's ``budget.device`` (auto | cpu | cuda | cuda:N)."""
        return settings_from_dict({"budget": self.raw.get("budget", {})}).budget.device

    @property
    def stats(self) -> StatsSettings:
        """The preset's ``stats:`` over the defaults of ``StatsSettings``."""
        body = dict(self.raw.get("stats") or {})
        known = {f.name for f in fields(StatsSettings)}
        for key in body:
            if key not in known:
                raise ConfigError(f"stats: unknown key {key!r}" + suggest(key, known))
        interval = str(body.get("interval", StatsSettings.interval))
        if interval not in allowed(IntervalMethod):
            raise ConfigError(f"stats.interval: {interval!r} is not an interval method" +
                              suggest(interval, allowed(IntervalMethod)))
        return StatsSettings(**body)

    @property
    def published(self) -> list[dict[str, str]]:
        """The preset's ``published:`` entries (name, url, sha256, source): per-run scores fetched on request."""
        return check_published("published", self.raw.get("published") or [])

    @property
    def track(self) -> TrackSettings:
        """The preset's ``track:`` (TensorBoard, W&B) over the defaults of ``TrackSettings``."""
        return check_track("track", self.raw.get("track") or {})

    @property
    def report_title(self) -> str:
        """The report's title: the preset's ``report.title``, else one that says whether it is a demonstration."""
        default = "SPIRL demonstration (not the paper's numbers)" if self.demo else "SPIRL reproduction report"
        return str((self.raw.get("report") or {}).get("title", default))

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


def parse_preset(raw: dict[str, Any], path: str = "<preset>") -> Preset:
    """Validate a preset dict (see ``workflow/config/default.yaml`` for a commented example)."""
    if raw is None:
        raise ConfigError(f"{path}: the preset is empty; name games, methods and a comparison "
                          "(see workflow/config/default.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset is a mapping of keys, got {type(raw).__name__}")
    for key, value in raw.items():
        if key not in PRESET_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}" + suggest(str(key), PRESET_KEYS))
        if not isinstance(value, PRESET_KEYS[key]) or (isinstance(value, bool) and PRESET_KEYS[key] is int):
            raise ConfigError(f"{key}: expected {_PRESET_TYPE_NAMES.get(key, 'another type')}, got {value!r}")
    _check_preset_keys(raw)
    if "game" in raw and "games" in raw:
        raise ConfigError(f"{path}: give either games (a list) or game (one), not both")
    gs = parse_games("game", [raw["game"]]) if "game" in raw else parse_games("games", raw.get("games",
                                                                                              list(games.PAPER_GAMES)))
    seeds = parse_seeds("seeds", raw.get("seeds", 1))
    budget = validate_sections("", {"budget": raw.get("budget") or {}})["budget"]

    variants = raw.get("mae_variants", {"paper": {}})
    if not variants:
        raise ConfigError("mae_variants: name at least one MAE variant (e.g. paper: {})")
    mae_variants = {}
    for name, body in variants.items():
        if not NAME.match(str(name)):
            raise ConfigError(f"mae_variants: bad name {name!r} (letters, digits, _ and -)")
        mae_variants[name] = validate_sections(f"mae_variants.{name}", {"mae": body or {}})["mae"]
    pretrain = validate_sections("", {"pretrain": raw.get("pretrain") or {}})["pretrain"]

    methods: dict[str, dict[str, Any]] = {k: copy.deepcopy(v) for k, v in BUILTIN_METHODS.items()}
    for name, body in (raw.get("methods") or {}).items():
        _add_method(methods, name, body or {}, f"methods.{name}")

    comparison: dict[str, list[int]] = {}
    for name, body in (raw.get("comparison") or {}).items():
        if name not in methods:
            raise ConfigError(f"comparison: unknown method {name!r}" + suggest(name, methods))
        body = body or {}
        if not isinstance(body, dict) or set(body) - {"seeds"}:
            raise ConfigError(f"comparison.{name}: only 'seeds' may be given")
        comparison[name] = parse_seeds(f"comparison.{name}.seeds", body.get("seeds", seeds))

    studies: dict[str, Study] = {}
    for sname, sbody in (raw.get("studies") or {}).items():
        studies[sname] = parse_study(sname, sbody, methods, gs, seeds, _add_method)

    preset = Preset(path, raw, gs, seeds, methods, mae_variants, comparison, studies)
    preset.raw = {**raw, "budget": budget, "pretrain": pretrain}
    for name in preset.methods:
        s = resolve_method(preset, name)  # raises on cycles, bad bases, unknown MAE variants
        if s.agent.encoder == "spirl" and s.mae_variant not in mae_variants:
            raise ConfigError(f"methods.{name}: mae_variant {s.mae_variant!r} is not in mae_variants"
                              + suggest(s.mae_variant, mae_variants))
    return preset


_PRESET_TYPE_NAMES = {
    "description": "a string", "demo": "true or false", "games": "a list of games", "seeds": "a seed count or a list "
    "of seeds", "budget": "a mapping of budget settings", "pretrain_frames": "a frame count or a mapping game -> count",
    "mae_variants": "a mapping of MAE variants", "pretrain": "a mapping of pretraining settings",
    "methods": "a mapping of methods", "comparison": "a mapping of methods", "studies": "a mapping of studies",
    "stats": "a mapping (reps, seed, pairs)", "published": "a list of entries with name, url, sha256",
    "threads": "an integer", "report": "a mapping (title)", "track": "a mapping (tensorboard, wandb, project, entity)",
}


def check_track(where: str, body: Any) -> TrackSettings:
    """A ``track:`` mapping as ``TrackSettings``: known keys, booleans for the switches, strings for the names."""
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping (tensorboard, wandb, project, entity), got {body!r}")
    known = {f.name: f for f in fields(TrackSettings)}
    for key, value in body.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}" + suggest(str(key), known))
        if key in ("tensorboard", "wandb") and not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
        if key in ("project", "entity") and not ((isinstance(value, str) and value.strip())
                                                 or (key == "entity" and value is None)):
            raise ConfigError(f"{where}.{key}: expected a name, got {value!r}")
    return TrackSettings(**body)


def _check_preset_keys(raw: dict[str, Any]) -> None:
    """The preset's own keys (not method settings): threads, pretrain_frames, stats, published, report."""
    for key in ("threads", "runs_per_gpu"):
        if key in raw:
            check_range(key, f"preset.{key}", raw[key])
    spec = raw.get("pretrain_frames")
    counts = spec.items() if isinstance(spec, dict) else [] if spec is None else [("", spec)]
    for game, n in counts:
        where = f"pretrain_frames.{game}" if game else "pretrain_frames"
        if game and game != "default":
            try:
                games.canonical(str(game))
            except games.UnknownGameError as err:
                raise ConfigError(f"{where}: {err}") from None
        if isinstance(n, bool) or not isinstance(n, int):
            raise ConfigError(f"{where}: expected a frame count, got {n!r}")
        check_range(where, "preset.pretrain_frames", n)
    stats = raw.get("stats") or {}
    known = {f.name: f for f in fields(StatsSettings)}
    for key, value in stats.items():
        if key not in known:
            raise ConfigError(f"stats: unknown key {key!r}" + suggest(str(key), known))
        if key == "pairs":
            if not isinstance(value, list) or not all(isinstance(v, str) and PAIR.match(v) for v in value):
                raise ConfigError(f"stats.pairs: expected a list of 'X:Y' method pairs, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"stats.{key}: expected an integer, got {value!r}")
        else:
            check_range(f"stats.{key}", f"stats.{key}", value)
    if "published" in raw:
        check_published("published", raw["published"])
    if "track" in raw:
        check_track("track", raw["track"])
    report = raw.get("report") or {}
    for key, value in report.items():
        if key != "title":
            raise ConfigError(f"report: unknown key {key!r}; allowed: title")
        if not isinstance(value, str):
            raise ConfigError(f"report.title: expected a string, got {value!r}")


def _add_method(methods: dict[str, dict[str, Any]], name: str, body: Any, where: str) -> None:
    if not NAME.match(str(name)):
        raise ConfigError(f"{where}: bad method name {name!r} (letters, digits, _ and -, starting with a letter)")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {body!r}")
    base = body.get("base")
    checked = validate_sections(where, {k: v for k, v in body.items() if k != "base"})
    if base is not None:
        checked["base"] = base
    elif name in BUILTIN_METHODS:
        # a preset's `spirl:` refines the built-in method rather than replacing it
        checked = merge(BUILTIN_METHODS[name], checked)
    methods[name] = checked


def method_file_doc(name: str, settings: MethodSettings) -> dict[str, Any]:
    """The content of ``results/methods/{name}.yaml``: one method's fully resolved settings (:func:`load_method`)."""
    return {"resolved_method": name, "settings": settings_to_dict(settings)}


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset YAML file."""
    raw = read_yaml(path, what="preset", error=ConfigError)
    return parse_preset(raw, str(path))


def resolve_method(preset: Preset, name: str) -> MethodSettings:
    """Resolve ``name`` through its chain of ``base`` methods, then the preset's budget and MAE variant."""
    if name not in preset.methods:
        raise ConfigError(f"unknown method {name!r}" + suggest(name, preset.methods))
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur in chain:
            raise ConfigError(f"methods: inheritance cycle {' -> '.join([*chain, cur])}")
        if cur not in preset.methods:
            raise ConfigError(f"methods.{chain[-1]}.base: unknown method {cur!r}" + suggest(cur, preset.methods))
        chain.append(cur)
        cur = preset.methods[cur].get("base")
    merged: dict[str, Any] = {
        "budget": dict(preset.raw.get("budget", {})),
        "pretrain": dict(preset.raw.get("pretrain", {})),
    }
    for link in reversed(chain):
        merged = merge(merged, {k: v for k, v in preset.methods[link].items() if k != "base"})
    variant = merged.get("mae_variant", "paper")
    merged["mae"] = {**preset.mae_variants.get(variant, {}), **merged.get("mae", {})}
    merged["name"] = name
    return settings_from_dict(merged)


def mae_settings(preset: Preset) -> dict[str, dict[str, Any]]:
    """{mae variant: {"mae": arch, "pretrain": settings}} of every MAE the runs need.

    The MAE of a variant is pretrained once per game and shared by every SPIRL method that
    names the variant, so those methods must agree on its architecture and pretraining; a
    method that wants another (e.g. the released code's 100 epochs) names its own variant.

    Raises:
        ConfigError: two methods share a variant but differ in its architecture or pretraining.
    """
    out: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for name in preset.method_names():
        s = resolve_method(preset, name)
        if s.agent.encoder != "spirl":
            continue
        d = settings_to_dict(s)
        want = {"mae": d["mae"], "pretrain": d["pretrain"]}
        have = out.setdefault(s.mae_variant, want)
        if have != want:
            section = "mae" if have["mae"] != want["mae"] else "pretrain"
            diff = sorted(k for k in want[section] if want[section][k] != have[section][k])
            raise ConfigError(
                f"methods {owner[s.mae_variant]!r} and {name!r} share mae_variant {s.mae_variant!r} "
                f"but differ in {section}.{', '.join(diff)}; give one of them its own mae_variant"
            )
        owner.setdefault(s.mae_variant, name)
    return out


def check_preset(raw: Any, path: str = "<preset>") -> Preset:
    """Every check of a preset, as both ``spirl check-config`` and the Snakefile run it (one function).

    ``parse_preset`` (keys, types, ranges, games, methods, studies), then what the workflow needs:
    at least one run, MAE variants that their methods agree on (:func:`mae_settings`), at least
    two seeds per method and game (every statistic is over runs), and a maximal ratio the paper
    gives for each SPIRL run's game (or ``auto``).

    Raises:
        ConfigError: one line naming the key and what is allowed.
    """
    preset = parse_preset(raw, path)
    if not preset.runs():
        raise ConfigError("the preset runs nothing; name methods under 'comparison:' or 'studies:'")
    mae_settings(preset)
    seeds: dict[tuple[str, str], set[int]] = {}
    for method, game, seed in preset.runs():
        seeds.setdefault((method, game), set()).add(seed)
    for (method, game), found in seeds.items():
        if len(found) < 2:  # runs are the unit of every statistic; spirl stats refuses one
            raise ConfigError(f"method {method!r} has {len(found)} seed on {game}; the statistics need at least 2")
    for method, game, _ in preset.runs():
        s = resolve_method(preset, method)
        ratio = s.saliency.max_ratio
        if s.agent.encoder == "spirl" and not (isinstance(ratio, str) and ratio.startswith("auto")):
            try:
                resolve_max_ratio(ratio, game)
            except ConfigError as err:
                raise ConfigError(f"method {method!r} on {game}: {err}") from None
    return preset


def load_method(config: str | Path, method: str) -> MethodSettings:
    """Settings of ``method`` from a preset or from a resolved method file (``spirl resolve-method``)."""
    p = Path(config)
    raw = read_yaml(p, what="config", error=ConfigError) or {}
    if isinstance(raw, dict) and "resolved_method" in raw:
        if raw["resolved_method"] != method:
            raise ConfigError(f"{p} holds method {raw['resolved_method']!r}, not {method!r}")
        return settings_from_dict({**raw["settings"], "name": method})
    return resolve_method(parse_preset(raw, str(p)), method)
