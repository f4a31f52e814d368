"""Presets: a preset file read once into a frozen :class:`Preset` that holds every method's resolved settings.

A preset (``workflow/config/*.yaml``) names the games, seeds, budget, MAE variants, methods, the
main comparison and the ablation studies. :func:`parse_preset` checks its keys against
``spirl.config.keys.PresetKeys``, parses its studies (an inline variant becomes method
``<study>-<label>``), and resolves every method once (``spirl.config.methods.resolve_chain``);
the :class:`Preset` it returns is not changed afterwards. Everything is checked here, so the CLI
works without Snakemake and a wrong key, type, game or method fails with one line naming the key.

The road of a setting: preset -> ``results/methods/{method}.yaml`` (:func:`method_file_doc`) ->
``MethodSettings`` (:func:`load_method`) -> its use (docs/configuration.md#the-road-of-a-setting).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spirl.atari import games
from spirl.config.keys import PresetKeys, ReportSettings, StudySpec, check_published
from spirl.config.methods import (
    BUILTIN_METHODS,
    check_method_body,
    resolve_chain,
    settings_from_dict,
    settings_to_dict,
)
from spirl.config.plan import resolve_max_ratio
from spirl.config.settings import BudgetSettings, MethodSettings, StatsSettings
from spirl.config.studies import Study, study_from_file
from spirl.config.validate import ConfigError, check_fields, parse_games, parse_seeds, suggest
from spirl.utils import read_yaml


@dataclass(frozen=True)
class Preset:
    """A validated preset: its runs, its studies and every method's resolved settings."""

    path: str
    games: list[str]
    seeds: list[int]
    methods: dict[str, MethodSettings]  # name -> resolved settings (resolve_method returns a copy)
    mae_variants: dict[str, dict[str, Any]]
    comparison: dict[str, list[int]]  # method -> seeds, run on every game of the preset
    studies: dict[str, Study]
    stats: StatsSettings
    published: list[dict[str, str]]  # name, url, sha256, source: per-run scores fetched on request
    report_title: str
    demo: bool = False  # a demonstration preset: its report says the numbers are not the paper's
    threads: int = 1  # threads per training, pretraining and K-statistics job
    runs_per_gpu: int = 1  # GPU jobs that share one GPU (spirl.devices.gpu_resources)
    device: str = "auto"  # the preset's budget.device (auto | cpu | cuda | cuda:N)
    pretrain_frames_spec: int | dict[str, int] | None = None  # the preset's pretrain_frames

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
            s = self.methods[method]
            if s.agent.encoder == "spirl":
                out.append((s.mae_variant, game))
        return list(dict.fromkeys(out))

    def pretrain_frames(self, game: str) -> int:
        """Size of the pretraining set of ``game``: the preset's, else the paper's (Table 6)."""
        spec = self.pretrain_frames_spec
        game = games.canonical(game)
        if isinstance(spec, int):
            return spec
        if isinstance(spec, dict):
            if game in spec:
                return int(spec[game])
            if "default" in spec:
                return int(spec["default"])
        return games.get(game).pretrain_frames


def _pretrain_frames(spec: Any) -> None:
    """Game names of a ``pretrain_frames`` mapping (``default`` allowed); its type checks the counts."""
    for game in spec if isinstance(spec, dict) else []:
        if game != "default":
            try:
                games.canonical(str(game))
            except games.UnknownGameError as err:
                raise ConfigError(f"pretrain_frames.{game}: {err}") from None


def parse_study(name: str, body: dict[str, Any], methods: dict[str, dict[str, Any]], gs: list[str],
                seeds: list[int]) -> tuple[Study, dict[str, dict[str, Any]]]:
    """One ``studies:`` entry (checked as ``StudySpec``) -> the study and the methods its inline variants add.

    ``methods`` holds the method bodies known so far (a variant may name one); the inline variants
    come back as bodies named ``<study>-<label>``.
    """
    where = f"studies.{name}"
    spec = StudySpec(**check_fields(where, StudySpec, body))
    if len(spec.variants) < 2:
        raise ConfigError(f"{where}.variants: give at least two variants (label: method name or settings)")
    variants: dict[str, str] = {}
    added: dict[str, dict[str, Any]] = {}
    for label, variant in spec.variants.items():
        if isinstance(variant, str):
            if variant not in methods:
                raise ConfigError(f"{where}.variants.{label}: unknown method {variant!r}"
                                  + suggest(variant, methods))
            variants[str(label)] = variant
        else:
            method = f"{name}-{label}"
            added[method] = check_method_body(f"{where}.variants.{label}", method, variant)
            variants[str(label)] = method
    reference = spec.reference if spec.reference is not None else next(iter(spec.variants))
    reference = variants.get(reference, reference)
    if reference not in variants.values():
        raise ConfigError(f"{where}.reference: {reference!r} is not one of the study's variants "
                          f"({', '.join(variants)})")
    study = Study(
        name=name,
        question=spec.question or name,
        games=parse_games(f"{where}.games", spec.games) if spec.games is not None else list(gs),
        seeds=parse_seeds(f"{where}.seeds", spec.seeds) if spec.seeds is not None else list(seeds),
        reference=reference,
        variants=variants,
        table=spec.table,
    )
    return study, added


def parse_preset(raw: dict[str, Any], path: str = "<preset>") -> Preset:
    """Validate a preset dict (see ``workflow/config/default.yaml`` for a commented example)."""
    if raw is None:
        raise ConfigError(f"{path}: the preset is empty; name games, methods and a comparison "
                          "(see workflow/config/default.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset is a mapping of keys, got {type(raw).__name__}")
    keys = PresetKeys(**check_fields("", PresetKeys, raw, label=path))
    if keys.game is not None and keys.games is not None:
        raise ConfigError(f"{path}: give either games (a list) or game (one), not both")
    _pretrain_frames(keys.pretrain_frames)
    gs = (parse_games("game", [keys.game]) if keys.game is not None
          else parse_games("games", keys.games if keys.games is not None else list(games.PAPER_GAMES)))
    seeds = parse_seeds("seeds", keys.seeds)
    variants = keys.mae_variants if keys.mae_variants is not None else {"paper": {}}
    if not variants:
        raise ConfigError("mae_variants: name at least one MAE variant (e.g. paper: {})")
    mae_variants = {name: dict(body or {}) for name, body in variants.items()}
    stats = StatsSettings(**(keys.stats or {}))
    published = check_published("published", keys.published or [])

    bodies: dict[str, dict[str, Any]] = {k: copy.deepcopy(v) for k, v in BUILTIN_METHODS.items()}
    for name, body in (keys.methods or {}).items():
        bodies[name] = check_method_body(f"methods.{name}", name, body or {})

    comparison: dict[str, list[int]] = {}
    for name, entry in (keys.comparison or {}).items():
        if name not in bodies:
            raise ConfigError(f"comparison: unknown method {name!r}" + suggest(name, bodies))
        given = (entry or {}).get("seeds")
        comparison[name] = parse_seeds(f"comparison.{name}.seeds", seeds if given is None else given)

    studies: dict[str, Study] = {}
    for sname, sbody in (keys.studies or {}).items():
        studies[sname], added = parse_study(sname, sbody, bodies, gs, seeds)
        bodies.update(added)

    under = {"budget": dict(keys.budget or {}), "pretrain": dict(keys.pretrain or {})}
    methods: dict[str, MethodSettings] = {}
    for name in bodies:
        s = resolve_chain(bodies, name, under, mae_variants)  # raises on cycles, bad bases
        if s.agent.encoder == "spirl" and s.mae_variant not in mae_variants:
            raise ConfigError(f"methods.{name}: mae_variant {s.mae_variant!r} is not in mae_variants"
                              + suggest(s.mae_variant, mae_variants))
        methods[name] = s
    demo = keys.demo
    default_title = "SPIRL demonstration (not the paper's numbers)" if demo else "SPIRL reproduction report"
    title = ReportSettings(**(keys.report or {})).title
    return Preset(
        path=path, games=gs, seeds=seeds, methods=methods, mae_variants=mae_variants, comparison=comparison,
        studies=studies, stats=stats, published=published, report_title=title or default_title, demo=demo,
        threads=keys.threads, runs_per_gpu=keys.runs_per_gpu,
        device=BudgetSettings(**under["budget"]).device,
        pretrain_frames_spec=keys.pretrain_frames,
    )


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset YAML file."""
    raw = read_yaml(path, what="preset", error=ConfigError)
    return parse_preset(raw, str(path))


def resolve_method(preset: Preset, name: str) -> MethodSettings:
    """The resolved settings of method ``name`` (a copy: the preset's own stay as they are)."""
    if name not in preset.methods:
        raise ConfigError(f"unknown method {name!r}" + suggest(name, preset.methods))
    return copy.deepcopy(preset.methods[name])


def load_method(config: str | Path, method: str) -> MethodSettings:
    """Settings of ``method`` from a preset or from a resolved method file (``spirl resolve-method``)."""
    p = Path(config)
    raw = read_yaml(p, what="config", error=ConfigError) or {}
    if isinstance(raw, dict) and "resolved_method" in raw:
        if raw["resolved_method"] != method:
            raise ConfigError(f"{p} holds method {raw['resolved_method']!r}, not {method!r}")
        return settings_from_dict({**raw["settings"], "name": method})
    return resolve_method(parse_preset(raw, str(p)), method)


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
        s = preset.methods[name]
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
            raise ConfigError(f"method {method!r} has {len(found)} seed on {game}; the statistics need at "
                              "least 2")
    for method, game, _ in preset.runs():
        s = preset.methods[method]
        ratio = s.saliency.max_ratio
        if s.agent.encoder == "spirl" and not (isinstance(ratio, str) and ratio.startswith("auto")):
            try:
                resolve_max_ratio(ratio, game)
            except ConfigError as err:
                raise ConfigError(f"method {method!r} on {game}: {err}") from None
    return preset


def preset_summary(preset: Preset, path: str) -> str:
    """The line ``spirl check-config`` prints for a valid preset."""
    return (f"{path}: valid; {len(preset.games)} games, {len(preset.method_names())} methods, "
            f"{len(preset.maes())} MAE pretrainings, {len(preset.runs())} training runs, "
            f"{len(preset.studies)} studies")


def read_studies(path: str | Path) -> list[Study]:
    """Studies from a study file (one study or a list, as ``Study.to_dict`` writes) or from a preset."""
    raw = read_yaml(path, what="study file", error=ConfigError)
    # a preset: its studies, expanded as the workflow does
    if isinstance(raw, dict) and "variants" not in raw:
        return list(parse_preset(raw, str(path)).studies.values())
    items = raw if isinstance(raw, list) else [raw]
    return [study_from_file(body, f"{path}: study {i}") for i, body in enumerate(items)]
