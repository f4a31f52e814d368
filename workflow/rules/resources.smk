# ------------------------------------------------------------------------ cost model (runtime, mem_mb)
# The runtime and memory each job asks of a scheduler. Moved as-is from common.smk; the one cost model
# (spirl.bench.projection) replaces this block. Uses PRESET and METHODS (common.smk).


def frames_mem_mb(n_frames: int) -> int:
    """Memory of a job that holds a frame dataset: 96x96x3 bytes per frame, twice, plus torch."""
    return int(1500 + 2 * n_frames * 96 * 96 * 3 / 2**20)


def pretrain_runtime(wildcards) -> int:
    """Minutes: about 1.6 GPU-hours per 50 epochs on 50K frames (paper Table 8), with a margin."""
    s = MAES[wildcards.mae]["pretrain"]
    work = PRESET.pretrain_frames(wildcards.game) * s["epochs"] / (50_000 * 50)
    return max(10, math.ceil(3 * 60 * work))


def run_plan(method: str, game: str):
    """The run's concrete numbers (spirl.config.for_game). A ratio measured from the K statistics
    ('auto') is not known while planning, so resources are sized for a large one."""
    return for_game(METHODS[method], game, pretrain_frames=PRESET.pretrain_frames(game), ideal_ratio=0.95)


def train_mem_mb(wildcards) -> int:
    """Replay memory: each frame once (uint8) for pixel agents, each frame's K_max x 64 floats for SPIRL."""
    plan = run_plan(wildcards.method, wildcards.game)
    protocol = plan.method.protocol
    if plan.k_max is not None:
        per_frame = plan.k_max * 64 * 4
    else:
        per_frame = protocol.frame_size**2 * (1 if protocol.grayscale else 3)
    capacity = min(plan.total_env_steps, plan.replay_capacity)
    return int(2000 + 1.5 * capacity * per_frame / 2**20)


def train_runtime(wildcards) -> int:
    """Minutes, generous for a CPU node: about 1 h per 100K env steps plus 1 h per 100K updates for
    DE-Rainbow; SPIRL adds the error map of every new frame (about 4 h per 100K frames)."""
    plan = run_plan(wildcards.method, wildcards.game)
    hours = (plan.total_env_steps + plan.expected_updates) / 100_000
    if plan.k_max is not None:
        hours += 4 * plan.total_env_steps / 100_000
    return max(10, math.ceil(60 * hours))


# ------------------------------------------------------------------------ end of the cost model
