# The validated preset and the small get_* functions the stage files call. Every decision (which
# files, which flags) is a tested pure function of spirl.workflow_plan; the cost model is in
# resources.smk. Nothing under spirl/ knows about Snakemake.

import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from spirl import workflow_lock
from spirl import workflow_plan as wp
from spirl.atari import games as spirl_games
from spirl.config import ConfigError, check_preset, mae_settings, method_file_doc, resolve_method
from spirl.devices import gpu_resources
from spirl.imports import source_files
from spirl.mae.variant_file import mae_file_doc
from spirl.utils import atomic_write_text, read_yaml

# Rules run `python -m spirl ...`. The interpreter running Snakemake has spirl installed, so its
# directory goes first on PATH: that works without an activated venv (`make reproduce` runs
# .venv/bin/snakemake) and on cluster nodes, which re-read this file. With
# `--software-deployment-method conda` the rule's environment (workflow/envs/) comes first instead.
envvars:
    "PATH",


os.environ["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"

# One run per working directory: a second one stops here with one line naming the live one (a dry run
# may look on; cluster jobs re-read this file and are not main processes).
if workflow.is_main_process and not workflow_lock.is_dry_run(sys.argv[1:]):
    workflow_lock.refuse_second_run(os.getcwd())


def preset_source() -> str:
    """The preset file(s) the config came from, for error messages and run metadata."""
    files = []
    for f in workflow.configfiles or ["workflow/config/default.yaml"]:
        rel = os.path.relpath(f, workflow.basedir)
        files.append(str(f) if rel.startswith("..") else rel)
    return ", ".join(files)


def load_workflow_preset(config: dict):
    """Every check of the preset, first by the one function `spirl check-config` runs (spirl.config.check_preset),
    then by the JSON Schema (written from the same dataclass fields by python -m spirl.config.schema, so it never refuses what spirl accepts). Each preset file is read again with
    spirl's YAML reader first, which refuses a key given twice (Snakemake's reader would keep the last).
    A wrong config stops here, before any job, with one line naming the key."""
    try:
        for f in workflow.configfiles:
            read_yaml(f, what="preset", error=ConfigError)
        preset = check_preset(config, preset_source())
        validate(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml", set_default=False)
    except (WorkflowError, ValueError) as err:
        sys.exit(wp.error_line(err, preset_source()))
    return preset


PRESET = load_workflow_preset(config)
METHODS = {name: resolve_method(PRESET, name) for name in PRESET.method_names()}  # name -> MethodSettings
MAES = mae_settings(PRESET)  # mae variant -> {"mae": ..., "pretrain": ...}
# The train rule's tracking flags, in its shell command rather than its params: tracking changes no number, so
# turning it on or off must not rerun a finished run (spirl.workflow_plan.track_flags).
TRACK_ARGS = wp.track_flags(PRESET.track)


def get_threads() -> int:
    return PRESET.threads


def get_gpu(device: str, key: str):
    """One of the GPU resources (gpu, gpu_slots, gres) of a job on ``device`` when the preset's
    ``runs_per_gpu`` jobs share one GPU (spirl.devices.gpu_resources; docs/costs.md#sharing-a-gpu)."""
    return gpu_resources(device, PRESET.runs_per_gpu)[key]


def get_train_gpu(wildcards, key: str = "gpu"):
    return get_gpu(METHODS[wildcards.method].budget.device, key)


def get_pretrain_frames(wildcards) -> int:
    return PRESET.pretrain_frames(wildcards.game)


def get_train_inputs(wildcards) -> dict:
    return wp.train_inputs(wildcards.method, wildcards.game, METHODS[wildcards.method])


def get_code(module: str) -> list[str]:
    """The source files a rule's command reads (spirl.imports.source_files): editing one remakes its outputs."""
    return [f"{workflow.basedir}/{p}" for p in source_files(module, Path(workflow.basedir))]


def write_yaml(doc, out: str, log: str, what: str) -> None:
    """Write a small YAML document the workflow derived from the preset, atomically, and log it."""
    import yaml

    atomic_write_text(out, yaml.safe_dump(doc, sort_keys=False))
    with open(log, "w") as fh:
        print(f"{what} from {preset_source()}", file=fh)
