# Shared state of the workflow: the validated preset, wildcard patterns, and the small
# input, parameter and resource functions the stage files use. The preset is expanded by
# spirl.config (one source of truth for runs, methods and studies); nothing under spirl/
# knows about Snakemake.

import os
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError

from spirl import costs as spirl_costs
from spirl.atari import games as spirl_games
from spirl.config import ConfigError, check_preset, mae_settings, method_file_doc, resolve_method
from spirl.devices import gpu_resources
from spirl.plan import for_game
from spirl.utils import read_yaml

# Rules run `python -m spirl ...`. The interpreter running Snakemake has spirl installed, so its
# directory goes first on PATH: that works without an activated venv (`make reproduce` runs
# .venv/bin/snakemake) and on cluster nodes, which re-read this file. With
# `--software-deployment-method conda` the rule's environment (workflow/envs/) comes first instead.
envvars:
    "PATH",


os.environ["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"

# One random-policy dataset per game, as in the paper; its seed is fixed so reruns reproduce it.
COLLECT_SEED = 0


# ------------------------------------------------------------------------------------ config checks


def preset_source() -> str:
    """The preset file(s) the config came from, for error messages and run metadata."""
    files = []
    for f in workflow.configfiles or ["workflow/config/default.yaml"]:
        rel = os.path.relpath(f, workflow.basedir)
        files.append(str(f) if rel.startswith("..") else rel)
    return ", ".join(files)


def _schema_error_line(err) -> str:
    """One line for a jsonschema ValidationError: where it is and what is wrong."""
    from jsonschema.exceptions import best_match

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


def config_error_line(err: Exception) -> str:
    """Turn a schema or spirl.config error into the one line the user sees."""
    inner = err.__context__ if isinstance(err, WorkflowError) else err
    if inner is not None and type(inner).__name__ == "ValidationError":
        msg = _schema_error_line(inner)
    else:
        msg = str(err).splitlines()[0]
    return f"config error ({preset_source()}): {msg}"


def load_workflow_preset(config: dict):
    """Every check of the preset, by the one function `spirl check-config` runs (spirl.config.check_preset):
    keys, types and ranges, the MAE sharing rule, two seeds per method and game, a maximal ratio per game.
    Each preset file is read again with spirl's YAML reader first, which refuses a key given twice
    (Snakemake's reader would keep the last)."""
    for f in workflow.configfiles:
        read_yaml(f, what="preset", error=ConfigError)
    return check_preset(config, preset_source())


# ------------------------------------------------------------------------------------ preset tables
# Filled once by the Snakefile after validation (see set_preset).

PRESET = None
METHODS: dict = {}  # method -> MethodSettings
MAES: dict = {}  # mae variant -> {"mae": ..., "pretrain": ...}
RATES: dict = {}  # the rates file's entries (spirl.costs.read_rates), read once


def set_preset(preset) -> None:
    """Make the validated preset and its resolved methods available to the rule files."""
    global PRESET, METHODS, MAES, RATES
    PRESET = preset
    METHODS = {name: resolve_method(preset, name) for name in preset.method_names()}
    MAES = mae_settings(preset)
    RATES = spirl_costs.read_rates(spirl_costs.RATES_FILE)


def alternatives(names) -> str:
    """A wildcard regex matching exactly one of ``names``."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "(?!)"


def threads_per_job() -> int:
    return PRESET.threads


def gpu_share(device: str, key: str):
    """One of the GPU resources (gpu, gpu_slots, gres) of a job on ``device`` when the preset's
    ``runs_per_gpu`` jobs share one GPU (spirl.devices.gpu_resources; docs/costs.md#sharing-a-gpu)."""
    return gpu_resources(device, PRESET.runs_per_gpu)[key]


# --------------------------------------------------------------------------------------- data, MAE


def pretrain_frames(wildcards) -> int:
    return PRESET.pretrain_frames(wildcards.game)


def set_args(values: dict, section: str) -> str:
    """``--set section.key=value`` for every field (values as YAML scalars, lists in flow style)."""
    parts = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        elif isinstance(value, (list, tuple)):
            text = f"[{', '.join(str(v) for v in value)}]"
        else:
            text = str(value)
        parts.append(f"--set {shlex.quote(f'{section}.{key}={text}')}")
    return " ".join(parts)


def pretrain_args(wildcards) -> str:
    settings = MAES[wildcards.mae]
    return f"{set_args(settings['mae'], 'mae')} {set_args(settings['pretrain'], 'pretrain')}"


# Resources: every figure is spirl.costs's (the one cost model: `spirl bench run --save` rates in
# results/bench/rates.json when present, conservative built-in rates otherwise; docs/costs.md#requests).


def get_frames_mem_mb(wildcards) -> int:
    return spirl_costs.frames_mem_mb(pretrain_frames(wildcards))


def get_collect_runtime(wildcards) -> int:
    return spirl_costs.collect_minutes(pretrain_frames(wildcards))


def get_pretrain_runtime(wildcards) -> int:
    return spirl_costs.pretrain_minutes(pretrain_frames(wildcards), MAES[wildcards.mae]["pretrain"]["epochs"])


def get_kstats_runtime(wildcards) -> int:
    return spirl_costs.kstats_minutes(pretrain_frames(wildcards))


# ------------------------------------------------------------------------------------------- runs


def method_file(method: str) -> dict:
    """The content of results/methods/{method}.yaml, as `spirl resolve-method` writes it."""
    return method_file_doc(method, METHODS[method])


def needs_k_hist(method: str) -> bool:
    """True when the method's maximal ratio is measured from the K statistics (max_ratio: auto...)."""
    s = METHODS[method]
    return s.agent.encoder == "spirl" and isinstance(s.saliency.max_ratio, str) and \
        s.saliency.max_ratio.startswith("auto")


def train_inputs(wildcards) -> dict:
    """A run takes its method file; a SPIRL run also its game's MAE (and K statistics if 'auto')."""
    s = METHODS[wildcards.method]
    inputs = {"method": f"results/methods/{wildcards.method}.yaml"}
    if s.agent.encoder == "spirl":
        inputs["mae"] = f"results/mae/{s.mae_variant}/{wildcards.game}/model.pt"
        if needs_k_hist(wildcards.method):
            inputs["k_hist"] = f"results/saliency/{s.mae_variant}/{wildcards.game}/k_hist.csv"
    return inputs


def train_args(wildcards, input) -> str:
    args = []
    if "mae" in input.keys():
        args.append(f"--mae {shlex.quote(input.mae)}")
    if "k_hist" in input.keys():
        args.append(f"--k-hist {shlex.quote(input.k_hist)}")
    return " ".join(args)


def run_plan(method: str, game: str):
    """The run's concrete numbers (spirl.plan.for_game). A ratio measured from the K statistics
    ('auto') is not known while planning, so resources are sized for a large one."""
    return for_game(METHODS[method], game, pretrain_frames=PRESET.pretrain_frames(game), ideal_ratio=0.95)


def get_train_mem_mb(wildcards) -> int:
    return spirl_costs.train_mem_mb(run_plan(wildcards.method, wildcards.game))


def get_train_runtime(wildcards) -> int:
    """Minutes: the projected run (spirl.costs.train_minutes) with its margin."""
    return spirl_costs.train_minutes(run_plan(wildcards.method, wildcards.game), PRESET.threads, RATES)


def train_gpu(wildcards, key: str = "gpu"):
    return gpu_share(METHODS[wildcards.method].budget.device, key)


# ---------------------------------------------------------------------------------------- targets


def run_dir(method: str, game: str, seed: int) -> str:
    return f"results/runs/{method}/{game}/{seed}"


def all_eval_csvs() -> list[str]:
    """Every run of the preset (comparison and studies, shared runs once)."""
    return [f"{run_dir(m, g, s)}/eval.csv" for m, g, s in PRESET.runs()]


def all_k_hists() -> list[str]:
    """K statistics of every MAE the runs use (paper Fig. 8)."""
    return [f"results/saliency/{v}/{g}/k_hist.csv" for v, g in PRESET.maes()]


# ---------------------------------------------------------------------------- studies and reports


def analysis_code(*modules: str) -> list[str]:
    """Source files a reporting rule depends on: its modules (``analysis/stats`` -> spirl/analysis/stats.py),
    the paper's numbers and the game table (normalisation scores)."""
    names = [*modules, "analysis/paper_numbers", "atari/games"]
    return [f"{workflow.basedir}/spirl/{m}.py" for m in dict.fromkeys(names)]


def study_names() -> list[str]:
    return list(PRESET.studies)


def study_file(study: str) -> dict:
    """results/studies/{study}.yaml: the study as spirl.config expanded it (variants as method names)."""
    return PRESET.studies[study].to_dict()


def write_yaml(doc, out: str, log: str, what: str) -> None:
    """Write a small YAML document the workflow derived from the preset, atomically, and log it."""
    import yaml

    from spirl.utils import atomic_write_text

    atomic_write_text(out, yaml.safe_dump(doc, sort_keys=False))
    with open(log, "w") as fh:
        print(f"{what} from {preset_source()}", file=fh)


def published_entries() -> list[dict]:
    """The preset's `published:` list (name, url, sha256, source): per-run scores fetched on request."""
    return PRESET.published


def published_entry(name: str) -> dict:
    return next(e for e in published_entries() if e["name"] == name)


def published_jsons() -> dict[str, str]:
    return {e["name"]: f"results/published/{e['name']}.json" for e in published_entries()}


def stats_args(wildcards, input) -> str:
    args = [f"--reps {PRESET.stats.reps}", f"--seed {PRESET.stats.seed}", f"--interval {PRESET.stats.interval}"]
    pairs = PRESET.stats.pairs
    if pairs:
        args.append("--pairs " + " ".join(shlex.quote(p) for p in pairs))
    published = published_jsons()
    if published:
        args.append("--published " + " ".join(shlex.quote(f"{n}={p}") for n, p in published.items()))
    return " ".join(args)


def stats_methods() -> list[str]:
    """Methods in the statistics: every method that ran, and each published file."""
    return list(dict.fromkeys(m for m, _, _ in PRESET.runs())) + [f"published:{n}" for n in published_jsons()]


def figure_names() -> list[str]:
    """The figures `spirl plots` draws for this preset (one per study and per MAE variant besides)."""
    names = ["aggregates", "profiles", "sample_efficiency", "learning_curves"]
    if len(stats_methods()) >= 2:  # probability of improvement needs a pair
        names.append("poi")
    return names


def mae_variants_used() -> list[str]:
    return list(dict.fromkeys(v for v, _ in PRESET.maes()))


def attention_runs() -> list[tuple[str, str, int]]:
    """One SPIRL run per game for the policy-attention strip: the first seed of each SPIRL comparison method."""
    out = []
    for method, seeds in PRESET.comparison.items():
        if METHODS[method].agent.encoder == "spirl":
            out += [(method, game, seeds[0]) for game in PRESET.games]
    return out


def visualize_frame(wildcards) -> int:
    """The frame of the pretraining set drawn in the saliency panels: one from the middle."""
    return PRESET.pretrain_frames(wildcards.game) // 2


def report_title() -> str:
    return PRESET.report_title


def report_figure_dirs() -> list[str]:
    dirs = ["reports/figures"]
    if PRESET.maes():
        dirs.append("reports/saliency")
    if attention_runs():
        dirs.append("reports/attention")
    return dirs
