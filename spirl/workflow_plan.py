"""What the workflow's rules need from a validated preset, as pure functions: target paths, the
inputs and command-line flags of a job, and the reading of a schema error.

The Snakemake files (workflow/rules/*.smk) call these through small ``get_*`` functions, so every
decision about which files exist and which flags a job gets is made, and tested, here
(tests/test_workflow_plan.py); nothing here imports Snakemake. ``methods`` is always the preset's
resolved methods, ``{name: spirl.config.resolve_method(preset, name)}``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spirl.config import MethodSettings, Preset, StatsSettings

# One random-policy dataset per game, as in the paper; its seed is fixed so reruns reproduce it.
COLLECT_SEED = 0


# ----------------------------------------------------------------------------------------- paths

def run_dir(method: str, game: str, seed: int) -> str:
    """The folder of one training run: ``results/runs/{method}/{game}/{seed}``."""
    return f"results/runs/{method}/{game}/{seed}"


def mae_model(variant: str, game: str) -> str:
    return f"results/mae/{variant}/{game}/model.pt"


def k_hist_file(variant: str, game: str) -> str:
    return f"results/saliency/{variant}/{game}/k_hist.csv"


def method_yaml(method: str) -> str:
    return f"results/methods/{method}.yaml"


def study_yaml(study: str) -> str:
    return f"results/studies/{study}.yaml"


def eval_csvs(preset: Preset) -> list[str]:
    """Every run's eval.csv (comparison and studies, a run shared by both once)."""
    return [f"{run_dir(m, g, s)}/eval.csv" for m, g, s in preset.runs()]


def run_jsons(preset: Preset) -> list[str]:
    return [f"{run_dir(m, g, s)}/run.json" for m, g, s in preset.runs()]


def k_hists(preset: Preset) -> list[str]:
    """The K statistics of every MAE the runs use (paper Fig. 8)."""
    return [k_hist_file(v, g) for v, g in preset.maes()]


def study_yamls(preset: Preset) -> list[str]:
    return [study_yaml(s) for s in preset.studies]


def method_yamls(preset: Preset) -> list[str]:
    return [method_yaml(m) for m in preset.method_names()]


def published_jsons(preset: Preset) -> dict[str, str]:
    """The preset's published per-run files: name -> ``results/published/{name}.json``."""
    return {e["name"]: f"results/published/{e['name']}.json" for e in preset.published}


def published_entry(preset: Preset, name: str) -> dict[str, str]:
    """The ``published:`` entry called ``name``."""
    return next(e for e in preset.published if e["name"] == name)


def mae_variants_used(preset: Preset) -> list[str]:
    return list(dict.fromkeys(v for v, _ in preset.maes()))


def saliency_panel_dirs(preset: Preset) -> list[str]:
    """``reports/saliency/{mae}/{game}`` for every MAE the runs use."""
    return [f"reports/saliency/{v}/{g}" for v, g in preset.maes()]


def attention_runs(preset: Preset, methods: Mapping[str, MethodSettings]) -> list[tuple[str, str, int]]:
    """One SPIRL run per game for the policy-attention strip: the first seed of each SPIRL comparison method."""
    out = []
    for method, seeds in preset.comparison.items():
        if methods[method].agent.encoder == "spirl":
            out += [(method, game, seeds[0]) for game in preset.games]
    return out


def attention_pngs(preset: Preset, methods: Mapping[str, MethodSettings]) -> list[str]:
    return [f"reports/attention/{m}/{g}/{s}/attention.png" for m, g, s in attention_runs(preset, methods)]


def stats_methods(preset: Preset) -> list[str]:
    """Methods in the statistics: every method that ran, and each published file."""
    ran = dict.fromkeys(m for m, _, _ in preset.runs())
    return [*ran, *(f"published:{n}" for n in published_jsons(preset))]


def figure_names(preset: Preset) -> list[str]:
    """The figures ``spirl plots`` draws from the statistics (study and K figures are named apart)."""
    names = ["aggregates", "profiles", "sample_efficiency", "learning_curves"]
    if len(stats_methods(preset)) >= 2:  # probability of improvement needs a pair
        names.append("poi")
    return names


def report_figure_dirs(preset: Preset, methods: Mapping[str, MethodSettings]) -> list[str]:
    dirs = ["reports/figures"]
    if preset.maes():
        dirs.append("reports/saliency")
    if attention_runs(preset, methods):
        dirs.append("reports/attention")
    return dirs


# ---------------------------------------------------------------------------------------- inputs

def needs_k_hist(settings: MethodSettings) -> bool:
    """True when the method's maximal ratio is measured from the K statistics (``max_ratio: auto...``)."""
    ratio = settings.saliency.max_ratio
    return settings.agent.encoder == "spirl" and isinstance(ratio, str) and ratio.startswith("auto")


def train_inputs(method: str, game: str, settings: MethodSettings) -> dict[str, str]:
    """A run takes its method file; a SPIRL run also its game's MAE (and K statistics if ``auto``)."""
    inputs = {"method": method_yaml(method)}
    if settings.agent.encoder == "spirl":
        inputs["mae"] = mae_model(settings.mae_variant, game)
        if needs_k_hist(settings):
            inputs["k_hist"] = k_hist_file(settings.mae_variant, game)
    return inputs


# ----------------------------------------------------------------------------------------- flags

def _flag(name: str, values: Sequence[str] | str) -> str:
    """``--name v1 v2 ...`` with each value quoted for the shell; empty when there is none."""
    values = [values] if isinstance(values, str) else list(values)
    return f"--{name} {' '.join(shlex.quote(str(v)) for v in values)}" if values else ""


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def train_flags(inputs: Mapping[str, str]) -> str:
    """``--mae`` and ``--k-hist`` of a run, from its inputs (:func:`train_inputs`)."""
    return _join(_flag("mae", inputs["mae"]) if "mae" in inputs else "",
                 _flag("k-hist", inputs["k_hist"]) if "k_hist" in inputs else "")


def bootstrap_flags(stats: StatsSettings) -> str:
    """``--reps --seed --interval``: how ``spirl stats`` and ``spirl tables`` bootstrap (the preset's ``stats:``)."""
    return _join(_flag("reps", str(stats.reps)), _flag("seed", str(stats.seed)), _flag("interval", stats.interval))


def stats_flags(stats: StatsSettings, published: Mapping[str, str]) -> str:
    """The flags of ``spirl stats``: the bootstrap, the pairs, and the published files as ``NAME=PATH``."""
    return _join(bootstrap_flags(stats), _flag("pairs", stats.pairs),
                 _flag("published", [f"{n}={p}" for n, p in published.items()]))


def tables_flags(stats: StatsSettings, k_hist_files: Sequence[str], study_files: Sequence[str]) -> str:
    """The flags of ``spirl tables``: the same bootstrap as ``spirl stats``, the K statistics and the studies."""
    return _join(bootstrap_flags(stats), plots_flags(k_hist_files, study_files))


def plots_flags(k_hist_files: Sequence[str], study_files: Sequence[str]) -> str:
    """``--k-hist`` and ``--study`` of ``spirl plots`` (and ``spirl tables``)."""
    return _join(_flag("k-hist", k_hist_files), _flag("study", study_files))


# ---------------------------------------------------------------------------------------- config

def alternatives(names: Iterable[str]) -> str:
    """A wildcard regex that matches exactly one of ``names`` (longest first); none: matches nothing."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "(?!)"


def schema_error_line(err: Any) -> str:
    """One line for a ``jsonschema.ValidationError``: where it is and what is wrong."""
    from jsonschema.exceptions import best_match  # only when the schema refused a preset

    if err.context:  # anyOf/oneOf: report the branch that came closest, not "matches none"
        err = best_match([err])
    where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key {', '.join(repr(e) for e in extra)}{hint}"
    if err.validator == "propertyNames":
        return f"{where}: bad name {err.instance!r} (letters, digits, _ and -, starting with a letter)"
    if err.validator in ("type", "anyOf", "oneOf"):
        expected = err.schema.get("description") or err.schema.get("type") or "another type"
        return f"{where}: expected {expected}, got {err.instance!r}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not allowed; allowed: {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}"


def error_line(err: BaseException, source: str) -> str:
    """The one line a refused preset prints: a schema error read by :func:`schema_error_line` (also when
    Snakemake wrapped it: it is then the error's context), else the error's first line."""
    inner = err if type(err).__name__ == "ValidationError" else err.__context__
    if inner is not None and type(inner).__name__ == "ValidationError":
        return f"config error ({source}): {schema_error_line(inner)}"
    return f"config error ({source}): {str(err).splitlines()[0]}"
