"""The run loop: act, store, update, evaluate, checkpoint, resume (docs/method.md#step-agent).

One run = one method on one game with one seed. Read top to bottom: the run's parts
(``Trainer.__init__``), one env step (``_env_step``), the updates it owes
(``_learn``), evaluation (``_evaluate``), checkpoints (``save_checkpoint`` /
``restore``), the final outputs (``finish``). ``spirl.rl.train`` is its command.

Observations (``spirl.rl.observations``): pixel methods stack uint8 frames (H, W, C); SPIRL stacks,
per frame, the (Kmax, 64) feature slab of its salient patches and its true K, computed **once** per new
frame by the frozen MAE. The replay stores each frame (or slab and K) once.

Schedule (env steps are counted from 1): the first ``warmup_steps`` actions are uniform
random (``learner.warmup_random_actions``); after env step s > warm-up the learner has done
floor((s - warm-up) * updates_per_step) updates (1 per step, or one every 4 steps at 0.25);
PER beta follows ``RunPlan.beta``; evaluations run after the steps in ``RunPlan.eval_steps``.

Checkpoints (every ``budget.checkpoint_every`` steps) hold everything needed to continue:
networks, optimizer, replay, every generator, the train and eval environments' states, the
stacks, the counters and the evaluations so far. A run started again with the same
arguments continues from the last complete checkpoint and ends with the same ``eval.csv``
as an uninterrupted run (bit-identical on CPU with the same thread count).
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl import preempt
from spirl.atari.envs import eval_seeds, make_env
from spirl.checkpoints import TRAINING, CheckpointStore, refuse_other_job
from spirl.config import RunPlan, TrackSettings, settings_to_dict
from spirl.integrity import write_with_digest
from spirl.rl.evaluate import EvalResult, evaluate, format_rows
from spirl.rl.learner import RainbowLearner
from spirl.rl.networks import build_network, count_parameters
from spirl.rl.observations import Observations
from spirl.rl.phases import PhaseClock
from spirl.rl.replay import PrioritizedReplay
from spirl.rl.tracking import Tracker
from spirl.saliency.patches import load_checked_mae
from spirl.saliency.select import SalientPatchExtractor
from spirl.utils import (
    atomic_write_text,
    git_commit,
    peak_rss_mb,
    progress,
    seed_everything,
    versions,
    write_json,
)

LOG_COLUMNS = ("step", "updates", "episode", "episode_return", "episode_length", "loss", "beta")
LOG_EVERY = 1000  # env steps between loss rows of train_log.csv
# Independent generator streams of one seed: uniform warm-up actions, evaluation epsilon.
ACT_STREAM, EVAL_STREAM = 1, 2


class RunError(ValueError):
    """A run that cannot start as asked (missing MAE, outputs in the way)."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite while training (exit code 1: the work failed while running)."""


class Trainer:
    """Everything one run owns, built deterministically from its plan and seed.

    Args:
        plan: ``spirl.config.for_game`` of the method's settings on the game.
        seed: the run's seed (networks, noise, replay sampling, envs, actions).
        out: where ``eval.csv``, ``run.json`` (declared outputs) and ``train_log.csv`` go.
        ckpt_dir: checkpoint directory (outside the declared outputs).
        mae_path: the MAE checkpoint of the game (required by SPIRL encoders).
        device: torch device of the networks and the MAE.
        extractor: for SPIRL encoders, a ready feature extractor used instead of loading ``mae_path``
            (``spirl bench train`` passes random features to time the learner alone); it has the methods
            of ``SalientPatchExtractor`` the trainer calls: ``__call__``, ``rng_state``, ``set_rng_state``,
            ``reset_cache`` and its ``cache`` (an ``ErrorCache`` or None).
        inputs: ``{name: sha256}`` of the input files that decide the run's numbers (the MAE, the K
            statistics), bound to its checkpoints and ``run.json`` (``spirl.checkpoints``).
        track: TensorBoard and W&B outputs (``spirl.rl.tracking``); None: TensorBoard only, as the default.
    """

    def __init__(self, plan: RunPlan, seed: int, out: str | Path, ckpt_dir: str | Path,
                 mae_path: str | Path | None = None, device: str = "cpu", extractor: Any = None,
                 inputs: dict[str, str] | None = None, track: TrackSettings | None = None) -> None:
        s = plan.method
        self.track = TrackSettings() if track is None else track
        self.plan, self.settings, self.seed = plan, s, int(seed)
        self.out, self.ckpt_dir, self.device = Path(out), Path(ckpt_dir), device
        self.store = CheckpointStore(self.ckpt_dir, TRAINING)
        self.inputs = dict(inputs or {})
        self.uses_features = s.agent.encoder == "spirl"
        seed_everything(self.seed)
        self.env = make_env(plan.game, "train", self.seed, s.protocol)
        self.n_actions = self.env.n_actions
        self.extractor = None
        self.mae_meta: dict[str, Any] | None = None
        if self.uses_features:
            self.extractor = extractor
            if extractor is None:
                self.extractor, self.mae_meta = self._load_extractor(mae_path)
            frame_shape: tuple[int, ...] = (int(plan.k_max), s.mae.embed_dim)
            dtype: Any = np.float32
        else:
            frame_shape, dtype = tuple(self.env.frame_shape), np.uint8
        self.frame_shape = frame_shape
        depth = s.protocol.frame_stack
        torch.manual_seed(self.seed)
        network = build_network(s.agent, self.n_actions, frame_shape=frame_shape, stack=depth)
        self.learner = RainbowLearner(network.to(device), s.learner, device, seed=self.seed)
        self.replay = PrioritizedReplay(
            plan.replay_capacity, frame_shape, dtype, stack=depth, n_step=s.learner.n_step, gamma=s.learner.gamma,
            alpha=s.learner.per_alpha, new_priority=s.learner.new_priority, store_k=self.uses_features,
            seed=self.seed,
        )
        self.obs = Observations(self.extractor, frame_shape, dtype, depth, device)  # the acting stack, encoders
        self.act_rng = np.random.default_rng([self.seed, ACT_STREAM])
        self.eval_rng = np.random.default_rng([self.seed, EVAL_STREAM])
        self.eval_envs: list[Any] | None = None
        # counters
        self.step = 0  # env steps done
        self.skipped_updates = 0  # updates owed while the replay had nothing sampleable (never made up)
        self.episodes = 0  # finished games in the train env
        self.episode_return, self.episode_length = 0.0, 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.last_loss: float | None = None  # the latest loss written to train_log.csv (shown in progress)
        self.eval_rows: list[dict[str, Any]] = []
        self.wall_before = 0.0  # wall time of earlier sessions of this run
        self.sessions = 1
        self.started = time.perf_counter()
        self.saved_step: int | None = None  # the step of the latest checkpoint written or resumed from
        self.clock = PhaseClock()  # seconds per phase and error-cache hit rates, for run.json
        self.log_path = self.ckpt_dir / "train_log.csv"
        self.tracker: Tracker | None = None

    def _load_extractor(self, mae_path: str | Path | None) -> tuple[Any, dict[str, Any]]:
        game = self.plan.game
        if mae_path is None:
            raise RunError(f"method {self.settings.name!r} uses the SPIRL encoder, which needs the MAE pretrained "
                           f"on {game}: pass --mae results/mae/{self.settings.mae_variant}/{game}/model.pt")
        # refuses another game's MAE, or another architecture than the method's
        mae, meta = load_checked_mae(mae_path, game=game, arch=self.settings.mae, device=self.device)
        extractor = SalientPatchExtractor(mae, self.settings.saliency, int(self.plan.k_max), seed=self.seed,
                                          device=self.device)
        return extractor, {"path": str(mae_path), "game": meta["game"], "extra": meta.get("extra", {})}

    # --------------------------------------------------------------------------------------- acting

    def _env_step(self) -> None:
        obs = self.obs
        obs.flush()  # a slab no update brought back (warm-up, or no update due): fetched now
        warm = self.step < self.plan.warmup_steps and self.settings.learner.warmup_random_actions
        k = obs.k_array()
        if warm:
            action = int(self.act_rng.integers(self.n_actions))
        else:
            action = int(self.learner.act(obs.stack.array[None], None if k is None else k[None])[0])
        result = self.env.step(action)
        self.replay.add(obs.stack.array[-1], action, result.reward, result.terminal,
                        k=None if k is None else int(k[-1]))
        self.step += 1
        self.episode_return += result.raw_reward
        self.episode_length += 1
        if result.game_over:
            self.episodes += 1
            self._log(episode=self.episodes, episode_return=self.episode_return, episode_length=self.episode_length)
            self.episode_return, self.episode_length = 0.0, 0
            obs.push(self.env.reset(), terminal=True)
        else:
            obs.push(result.frame, terminal=result.terminal)

    def _learn(self) -> None:
        warm, ups = self.plan.warmup_steps, self.settings.learner.updates_per_step
        if self.step <= warm:
            return
        due = int((self.step - warm) * ups) - self.skipped_updates
        if due > self.learner.updates and self.replay.tree.total <= 0:
            self.skipped_updates += due - self.learner.updates  # nothing sampleable yet (warm-up < n_step)
            return
        beta = self.plan.beta(self.step)
        while self.learner.updates < due:
            batch = self.replay.sample(self.settings.learner.batch_size, beta, reuse=True)  # used up by the update
            carry = self.obs.pending_slab()
            result = self.learner.update(batch, carry=carry)  # the pending slab comes back with the priorities
            if carry is not None:
                self.obs.flush(result.carried)
            if not math.isfinite(result.loss):
                raise TrainingDivergedError(f"the training loss of {self.settings.name} on {self.plan.game} became "
                                       f"{result.loss} at update {self.learner.updates} (env step {self.step}); "
                                       "lower learner.lr or raise learner.adam_eps")
            self.replay.update_priorities(batch.index, result.priorities)
            self.loss_sum += result.loss
            self.loss_count += 1

    def _evaluate(self) -> EvalResult:
        s = self.settings
        n = self.plan.episodes_at(self.step)  # the last evaluation may play more (budget.final_eval_episodes)
        have = [] if self.eval_envs is None else self.eval_envs
        # eval_seeds(seed, n) extends eval_seeds(seed, m < n): the first m environments are the same ones
        more = eval_seeds(self.seed, n)[len(have):]
        self.eval_envs = have + [make_env(self.plan.game, "eval", sd, s.protocol) for sd in more]
        with self.clock.timed("evaluation", self._cache(), count=0):
            result = evaluate(self.eval_envs[:n], self.learner.act_greedy, self.obs.eval_encoder(),
                              stack=s.protocol.frame_stack, epsilon=s.budget.eval_epsilon, rng=self.eval_rng,
                              step=self.step, desc=f"evaluation at step {self.step}", stop=self._stop_in_evaluation)
        self.clock.add_count("evaluation", int(result.lengths.sum()))  # frames encoded: the resets and all but the last
        row = result.row()
        self.eval_rows.append(row)
        if self.tracker is not None:
            self.tracker.log({f"eval/{k}": float(row[k]) for k in ("mean", "median", "std", "min", "max")}, self.step)
        return result

    def _cache(self) -> Any:
        """The extractor's error cache, or None (pixel agents, no cache, a stand-in extractor)."""
        return None if self.extractor is None else self.extractor.cache

    def _stop_in_evaluation(self) -> None:
        """A warning signal during an evaluation: stop there (an evaluation cannot be resumed midway)."""
        preempt.check(f"the evaluation at step {self.step} was not finished; the run resumes from its last "
                      f"checkpoint ({self._last_saved()})")

    def _last_saved(self) -> str:
        step = self.saved_step
        return f"step {step:,} in {self.ckpt_dir}" if step is not None else "none yet: the run starts again"

    # ----------------------------------------------------------------------------------------- logs

    def _open_logs(self) -> None:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not self.log_path.exists() or self.step == 0:
            atomic_write_text(self.log_path, ",".join(LOG_COLUMNS) + "\n")
        name = f"{self.settings.name}/{self.plan.game}/{self.seed}"
        config = {"method": self.settings.name, "game": self.plan.game, "seed": self.seed,
                  "settings": settings_to_dict(self.settings), "plan": self._plan_dict()}
        self.tracker = Tracker(self.track, self.ckpt_dir, name, config, step=self.step)

    def _log(self, **fields: Any) -> None:
        """Append a train_log.csv row; ``loss`` is the mean loss of the updates since the previous row."""
        if self.loss_count:
            fields["loss"] = self.last_loss = self.loss_sum / self.loss_count
            self.loss_sum, self.loss_count = 0.0, 0
        row = {"step": self.step, "updates": self.learner.updates, "beta": round(self.plan.beta(self.step), 6),
               **fields}
        with open(self.log_path, "a") as f:
            f.write(",".join("" if row.get(c) is None else str(row[c]) for c in LOG_COLUMNS) + "\n")
        if self.tracker is not None:
            keys = [k for k in ("loss", "episode_return", "episode_length", "beta") if row.get(k) is not None]
            self.tracker.log({f"train/{k}": float(row[k]) for k in keys}, self.step)

    # -------------------------------------------------------------------------------------- running

    def start(self) -> None:
        """Begin a fresh run (first frame of the first game), or nothing if ``restore`` already ran."""
        if self.step == 0:
            self.obs.push(self.env.reset(), terminal=True)
        self._open_logs()

    def run(self, stop_after_steps: int | None = None) -> bool:
        """Train to the end of the budget; True when finished, False when stopped by ``stop_after_steps``."""
        plan, every = self.plan, self.settings.budget.checkpoint_every
        eval_steps = set(plan.eval_steps)
        bar = progress(total=plan.total_env_steps, desc=f"{self.settings.name} {plan.game} seed {self.seed}",
                       unit="step", initial=self.step)  # spirl status reads this unit's records
        shown = {"eval_mean": f"{self.eval_rows[-1]['mean']:.1f}"} if self.eval_rows else {}
        loss_shown = self.last_loss
        while self.step < plan.total_env_steps:
            with self.clock.timed("training", self._cache()):
                self._env_step()
                self._learn()
            if self.step % LOG_EVERY == 0 and self.loss_count:
                self._log()
            evaluated = self.step in eval_steps
            if evaluated:
                shown["eval_mean"] = f"{self._evaluate().row()['mean']:.1f}"
            if evaluated or self.last_loss is not loss_shown:  # progress shows the latest of each
                loss_shown = self.last_loss
                if loss_shown is not None:
                    shown["loss"] = f"{loss_shown:.4g}"
                bar.set_postfix(shown, refresh=False)
            bar.update(1)
            if stop_after_steps is not None and self.step >= stop_after_steps:
                bar.close()
                if self.tracker is not None:
                    self.tracker.close()
                return False  # as if killed here: no checkpoint of this step
            due = every > 0 and self.step % every == 0
            if self.step < plan.total_env_steps and (due or preempt.requested() is not None):
                path = self.save_checkpoint()
                if not due:  # a warning signal (spirl.preempt): the state of this step is kept
                    bar.close()
                    preempt.check(f"checkpoint at step {self.step:,} of {plan.total_env_steps:,} in {path}; "
                                  "the same command resumes from it")
        bar.close()
        return True

    # ---------------------------------------------------------------------------------- checkpoints

    def _state(self) -> dict[str, Any]:
        return {
            "method": self.settings.name,
            "game": self.plan.game,
            "seed": self.seed,
            "settings": settings_to_dict(self.settings),
            "inputs": dict(self.inputs),
            "learner": self.learner.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "act_rng": self.act_rng.bit_generator.state,
            "eval_rng": self.eval_rng.bit_generator.state,
            "extractor_rng": None if self.extractor is None else self.extractor.rng_state(),
            "env": self.env.get_state(),
            "eval_envs": None if self.eval_envs is None else [e.get_state() for e in self.eval_envs],
            **self.obs.state(),  # "stack", "k_stack" (the pending slab stacked first)
            "counters": {
                "step": self.step, "skipped_updates": self.skipped_updates, "episodes": self.episodes,
                "episode_return": self.episode_return, "episode_length": self.episode_length,
                "loss_sum": self.loss_sum, "loss_count": self.loss_count,
                "wall_time": self.wall_before + time.perf_counter() - self.started, "sessions": self.sessions,
                "log_bytes": self.log_path.stat().st_size if self.log_path.exists() else 0,
            },
            "eval_rows": list(self.eval_rows),
            "phases": self.clock.state(),
        }

    def save_checkpoint(self) -> Path:
        """Write the run's state as ``ckpt_dir/step-XXXXXXXXX/`` (``spirl.checkpoints``).

        The extractor's error cache is emptied here: a run resumed from this checkpoint starts with an
        empty one, so both go on with the same cache and give the same numbers.
        """
        with self.clock.timed("checkpoints"):
            path = self.store.save(self.step, self._state(), lambda folder: self.replay.save(folder / "replay.npz"))
        self.saved_step = self.step
        if self.extractor is not None:
            self.extractor.reset_cache()
        return path

    def _bound(self) -> dict[str, Any]:
        """What binds a checkpoint to this run (``spirl.checkpoints.refuse_other_job``): its inputs' digests,
        its identity and its settings."""
        run = {"method": self.settings.name, "game": self.plan.game, "seed": self.seed}
        return {"inputs": dict(self.inputs), "settings": {"run": run, **settings_to_dict(self.settings)}}

    def restore(self, path: Path, state: dict[str, Any]) -> None:
        """Continue from checkpoint ``path`` whose verified ``state`` the store read (``CheckpointStore.resume``).

        Raises:
            spirl.checkpoints.CheckpointMismatchError: a checkpoint of another run, other settings or other
                inputs (never resumed; ``--force`` starts over).
        """
        saved = {"inputs": state.get("inputs"), "settings": {
            "run": {k: state[k] for k in ("method", "game", "seed")}, **state["settings"]}}
        refuse_other_job(path, TRAINING, saved, self._bound())
        self.replay.load(path / "replay.npz")
        self.learner.load_state_dict(state["learner"])
        torch.set_rng_state(state["torch_rng"])
        self.act_rng.bit_generator.state = state["act_rng"]
        self.eval_rng.bit_generator.state = state["eval_rng"]
        if self.extractor is not None:
            self.extractor.set_rng_state(state["extractor_rng"])
        self.env.set_state(state["env"])
        self.eval_envs = None  # every field is set anew: a failed newer checkpoint may have set some (fall-back)
        if state["eval_envs"] is not None:
            self.eval_envs = [make_env(self.plan.game, "eval", sd, self.settings.protocol)
                              for sd in eval_seeds(self.seed, len(state["eval_envs"]))]
            for env, env_state in zip(self.eval_envs, state["eval_envs"]):
                env.set_state(env_state)
        self.obs.load(state)
        c = state["counters"]
        self.step, self.skipped_updates, self.episodes = c["step"], c["skipped_updates"], c["episodes"]
        self.episode_return, self.episode_length = c["episode_return"], c["episode_length"]
        self.loss_sum, self.loss_count = c["loss_sum"], c["loss_count"]
        self.wall_before, self.sessions = c["wall_time"], c["sessions"] + 1
        self.eval_rows = list(state["eval_rows"])
        self.clock.load(state.get("phases"))
        self.saved_step = self.step
        if self.log_path.exists():  # drop log rows written after the checkpoint; they will be written again
            with open(self.log_path, "r+b") as f:
                f.truncate(c["log_bytes"])

    # ---------------------------------------------------------------------------------------- outputs

    def finish(self, threads: int) -> dict[str, Any]:
        """Write ``eval.csv`` and ``run.json`` atomically, the trained network to ``ckpt_dir/final.pt``,
        then drop the step checkpoints. Returns the run.json dict."""
        wall = self.wall_before + time.perf_counter() - self.started
        plan = self.plan
        final_model = self.ckpt_dir / "final.pt"
        network = {"format": "spirl-trained-network-1", "method": self.settings.name, "game": plan.game,
                   "seed": self.seed, "settings": settings_to_dict(self.settings), "n_actions": self.n_actions,
                   "frame_shape": list(self.frame_shape), "k_max": plan.k_max,
                   "online": self.learner.online.state_dict()}
        write_with_digest(final_model, lambda tmp: torch.save(network, tmp))
        info = {
            "method": self.settings.name,
            "game": plan.game,
            "seed": self.seed,
            "settings": settings_to_dict(self.settings),
            "plan": self._plan_dict(),
            "n_actions": self.n_actions,
            "parameters": count_parameters(self.learner.online),
            "mae": self.mae_meta,
            "inputs": dict(self.inputs),
            "versions": versions(),
            "git_commit": git_commit(),
            "device": str(self.device),
            "threads": threads,
            "wall_time_s": round(wall, 3),
            "steps_per_s": round(plan.total_env_steps / wall, 3) if wall > 0 else None,
            "updates": self.learner.updates,
            "episodes": self.episodes,
            "sessions": self.sessions,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "gpu_peak_mb": (round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
                            if torch.device(self.device).type == "cuda" else None),
            "phases": self.clock.summary(),
            "checkpoint_dir": str(self.ckpt_dir),
            "final_network": str(final_model),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            atomic_write_text(self.out / "train_log.csv", self.log_path.read_text())
        eval_csv = format_rows(self.eval_rows)
        info["eval_csv_sha256"] = hashlib.sha256(eval_csv.encode()).hexdigest()
        atomic_write_text(self.out / "eval.csv", eval_csv)
        write_json(self.out / "run.json", info)  # last: a run.json marks a finished run (spirl.rl.train)
        if self.tracker is not None:
            files = [self.out / name for name in ("eval.csv", "run.json", "train_log.csv")]
            final = self.eval_rows[-1] if self.eval_rows else {}
            self.tracker.finish(files, {f"final/{k}": final[k] for k in ("mean", "median") if k in final})
        self.store.remove_all()
        return info

    def _plan_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {"k_max": plan.k_max, "warmup_steps": plan.warmup_steps, "total_env_steps": plan.total_env_steps,
                "replay_capacity": plan.replay_capacity, "eval_steps": list(plan.eval_steps),
                "eval_episodes": plan.eval_episodes, "final_eval_episodes": plan.final_eval_episodes,
                "expected_updates": plan.expected_updates}
