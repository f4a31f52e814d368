"""Guards every writing command runs before its work: one writer, inputs never overwritten, room to write.

- **One writer per output** (:func:`output_lock`): an OS lock (``fcntl.flock``) on a file beside the
  output (``.NAME.spirl-lock``), holding the holder's PID and host. The kernel releases it when the holder dies, however
  it dies (``kill -9`` included), so there is never a stale lock to remove; a second writer is
  refused in one line naming the first.
- **Inputs never overwritten** (:func:`refuse_output_in_inputs`): an output that is, or is inside,
  one of the command's inputs is refused with or without ``--force``.
- **A writable output** (:func:`refuse_unwritable`): a read-only or unwritable ``--out`` is found
  before any work, not when the first file is written after hours.
- **Memory bounds** (:func:`run_memory_parts`, :func:`refuse_beyond_memory`): what a run, a statistic
  or a plan must hold is estimated before anything is allocated and refused beyond the machine's
  memory in one line with the estimate.

All raise one-line errors the command line turns into exit code 2 (refused before any work).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_SUFFIX = ".spirl-lock"


class OutputBusyError(FileExistsError):
    """Another live process writes the same output (it holds the output's lock)."""


class OutputIsInputError(ValueError):
    """An output that is, or is inside, one of the command's inputs."""


class TooLargeError(ValueError):
    """A request whose memory estimate exceeds this machine's memory."""


def lock_file(output: str | os.PathLike[str]) -> Path:
    """The lock of an output (a file or a run folder): ``DIR/.NAME.spirl-lock`` beside it.

    Beside, not inside, so that a job refused before any work leaves its output folder as it was.
    """
    out = Path(output).resolve()  # "." and "run/" have a name once resolved
    return out.with_name(f".{out.name}{LOCK_SUFFIX}")


@contextmanager
def output_lock(output: str | os.PathLike[str], command: str) -> Iterator[Path]:
    """Hold the OS lock of ``output`` for the block; refuse at once when another process holds it.

    The lock file stays (removing it would let a third writer lock a new file while the second holds
    the old one); only the lock matters, and the kernel drops it with its holder.

    Raises:
        OutputBusyError: one line naming the output and the holder (command, PID, host).
    """
    path = lock_file(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise OutputBusyError(f"{Path(output)} is being written by {holder}; one writer per output: wait for "
                                  f"it to end, or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{command} (PID {os.getpid()} on host {socket.gethostname()})\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def refuse_output_in_inputs(outputs: Mapping[str, str | os.PathLike[str] | None],
                            inputs: Mapping[str, str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None]
                            ) -> None:
    """Refuse an output that is, or is inside, an input (``--force`` or not: it would destroy the input).

    ``outputs`` and ``inputs`` map an option (``--out``) to a path (or, for inputs, several paths).

    Raises:
        OutputIsInputError: one line naming both options and paths.
    """
    for out_name, out in outputs.items():
        if out is None:
            continue
        o = Path(out).resolve()
        for in_name, given in inputs.items():
            if given is None:
                continue
            paths = [given] if isinstance(given, (str, os.PathLike)) else list(given)
            for p in paths:
                i = Path(p).resolve()
                if o == i or i in o.parents:
                    how = "is" if o == i else "is inside"
                    raise OutputIsInputError(f"{out_name} {out} {how} the input {in_name} {p}; it would be "
                                             f"overwritten, --force or not: write the output elsewhere")


def refuse_unwritable(*outputs: str | os.PathLike[str]) -> None:
    """Refuse, before any work, an output whose nearest existing folder cannot be written (read-only, no rights).

    Raises:
        PermissionError: one line naming the output and the folder.
    """
    for out in outputs:
        path = Path(out)
        folder = next((p for p in [path, *path.parents] if p.exists()), Path("."))
        if not folder.is_dir():
            continue  # a file in the way: refuse_existing names it
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write {path}: {folder} is read-only or not writable by this user; "
                                  f"give another --out")


# ------------------------------------------------------------------------------------------ memory

ENV_BYTES = 2 << 20  # one emulator with its frame buffers, a lower bound (ALE allocates more)
FLOAT_BYTES = 4


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def human_size(n: float) -> str:
    """``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def run_memory_parts(plan: Any) -> dict[str, int]:
    """A lower bound of the memory a training run (``spirl.plan.RunPlan``) holds, by part, before any is allocated.

    One stored frame is ``(H, W, C)`` uint8 pixels, or SPIRL's ``(Kmax, D)`` float32 slab. Parts: ``replay``
    (``replay_capacity`` frames and their transitions), ``batch`` (``learner.batch_size`` samples of two
    stacked observations, float32 on the learner), ``evaluation`` (``max(eval_episodes, final_eval_episodes)``
    emulators and their stacks).
    """
    s = plan.method
    if plan.k_max is not None:
        frame, item = int(plan.k_max) * int(s.mae.embed_dim), FLOAT_BYTES
    else:
        frame, item = s.protocol.frame_size ** 2 * (1 if s.protocol.grayscale else 3), 1
    stack = s.protocol.frame_stack
    per_transition = frame * item + 8 + 4 + 1 + 8 * 2  # frame, action, reward, terminal, sum-tree nodes
    episodes = max(int(plan.eval_episodes), int(plan.final_eval_episodes))
    return {"replay": int(plan.replay_capacity) * per_transition,  # capacity: at most budget.env_steps
            "batch": int(s.learner.batch_size) * 2 * stack * frame * FLOAT_BYTES,
            "evaluation": episodes * (ENV_BYTES + stack * frame * FLOAT_BYTES)}


RUN_REMEDY = {"replay": "lower learner.replay_capacity (or budget.env_steps, which bounds it)",
              "batch": "lower learner.batch_size",
              "evaluation": "lower budget.eval_episodes and budget.final_eval_episodes"}


def pretrain_memory_parts(arch: Any, batch_size: int) -> dict[str, int]:
    """A lower bound of what one pretraining batch holds: its float32 images ``(B, C, S, S)`` and the token
    activations ``(B, P + 1, D)`` of each encoder and decoder block (one tensor each)."""
    images = int(batch_size) * arch.in_chans * arch.img_size ** 2 * FLOAT_BYTES
    tokens = (arch.img_size // arch.patch_size) ** 2 + 1
    blocks = tokens * (arch.embed_dim * arch.depth + arch.decoder_embed_dim * arch.decoder_depth) * FLOAT_BYTES
    return {"images": images, "activations": int(batch_size) * blocks}


def refuse_beyond_memory(parts: Mapping[str, int], what: str, remedy: str | Mapping[str, str]) -> None:
    """Refuse, before allocating, a request whose estimate (the sum of ``parts``) exceeds the machine's memory.

    ``remedy``: one line, or one per part (the largest part's is given).

    Raises:
        TooLargeError: one line with the estimate, its largest part, the memory there is and the remedy.
    """
    have = memory_bytes()
    need = sum(parts.values())
    if have and need > have:
        big = max(parts, key=lambda k: parts[k])
        detail = f" ({big} {human_size(parts[big])})" if len(parts) > 1 else ""
        advice = remedy if isinstance(remedy, str) else remedy[big]
        raise TooLargeError(f"{what} needs at least {human_size(need)} of memory{detail}, more than this machine's "
                            f"{human_size(have)}; {advice}")


__all__ = [
    "RUN_REMEDY",
    "OutputBusyError",
    "OutputIsInputError",
    "TooLargeError",
    "human_size",
    "lock_file",
    "memory_bytes",
    "output_lock",
    "pretrain_memory_parts",
    "refuse_beyond_memory",
    "refuse_output_in_inputs",
    "refuse_unwritable",
    "run_memory_parts",
]
