# The runtime and memory each job asks of a scheduler: small get_* wrappers over spirl.costs, the one cost
# model (`spirl bench run --save` rates in results/bench/rates.json when present, conservative built-in
# rates otherwise, with a margin; docs/costs.md#requests). Uses PRESET, METHODS and MAES (common.smk).

from spirl import costs as spirl_costs

RATES = spirl_costs.read_rates(spirl_costs.RATES_FILE)  # the rates file's entries, read once


def run_plan(method: str, game: str):
    """The plan the run is costed by (spirl.costs.request_plan, as `spirl status` costs it)."""
    return spirl_costs.request_plan(METHODS[method], PRESET, game)


def get_frames_mem_mb(wildcards) -> int:
    return spirl_costs.frames_mem_mb(get_pretrain_frames(wildcards))


def get_collect_runtime(wildcards) -> int:
    return spirl_costs.collect_minutes(get_pretrain_frames(wildcards))


def get_pretrain_runtime(wildcards) -> int:
    return spirl_costs.pretrain_minutes(get_pretrain_frames(wildcards), MAES[wildcards.mae]["pretrain"]["epochs"])


def get_kstats_runtime(wildcards) -> int:
    return spirl_costs.kstats_minutes(get_pretrain_frames(wildcards))


def get_train_mem_mb(wildcards) -> int:
    return spirl_costs.train_mem_mb(run_plan(wildcards.method, wildcards.game))


def get_train_runtime(wildcards) -> int:
    """Minutes: the projected run (spirl.costs.train_minutes) with its margin."""
    return spirl_costs.train_minutes(run_plan(wildcards.method, wildcards.game), PRESET.threads, RATES)
