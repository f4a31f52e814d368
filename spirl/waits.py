"""Counting the operations that make the host wait for a GPU (docs/costs.md#host-device-waits).

A GPU runs work queued by the host; the host waits for it only where it needs a result or hands over
memory it must not touch again. :func:`count_waits` records every such operation in a block of code,
on any device, so that a test on the CPU bounds what a training or evaluation step will wait for on a GPU:

- ``scalar``: a value read back (``.item()``, ``bool()``, ``float()``, ``int()``: ``_local_scalar_dense``);
- ``data-dependent``: an output whose size depends on the values (``nonzero``, ``masked_select``, boolean-mask
  indexing and assignment, ``unique``);
- ``to-host``: a copy to the host (``.cpu()``, ``.numpy()``, ``.tolist()``, ``np.asarray(tensor)``,
  ``.to("cpu")``);
- ``blocking-copy``: a copy between host and device that the host waits for (``.to(device)``,
  ``torch.tensor``/``torch.as_tensor`` with a device, without ``non_blocking=True``; on CUDA also
  ``copy_`` between devices).

On a CPU every tensor is on the host, so a copy's direction cannot be seen: ``.to(d)`` without
``non_blocking`` outside torch's own code counts whatever ``d`` is (torch's own calls, such as those of
``clip_grad_norm_``, move tensors within one device), and ``.cpu()``/``.numpy()`` count on any tensor (``.numpy()``
of a tensor just copied by a counted ``.cpu()`` is not counted again). The CPU count is therefore an upper bound of
the GPU count of the same code; on CUDA, copies within one device are not counted.
"""

from __future__ import annotations

import contextlib
import traceback
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

KINDS = ("scalar", "data-dependent", "to-host", "blocking-copy")
# The waits a step is designed to have on a GPU (``spirl bench waits`` measures them; tests/bench/test_waits.py):
# a training step reads the action back and, after its update, the priorities, with the loss, the gradient norm
# and (SPIRL) the new frame's feature slab and K for the replay in the same copy. An evaluation step reads the
# actions back, nothing else: stacks, features and the error cache's table stay on the device.
BUDGET: dict[str, Any] = {"train_step": {"de_rainbow": 2, "spirl": 2}, "eval_step": 1}
_HERE = str(Path(__file__).resolve())
_PACKAGE = str(Path(__file__).resolve().parent)
_TORCH = str(Path(torch.__file__).resolve().parent)

_DATA_DEPENDENT = {"nonzero", "masked_select", "unique", "_unique", "_unique2", "unique_consecutive",
                   "unique_dim", "nonzero_numpy"}
_HOST = {"cpu", "numpy", "tolist", "__array__"}


@dataclass
class WaitLog:
    """The waits recorded by :func:`count_waits`: ``events`` holds ``(kind, op, where)`` in order."""

    events: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """All waits recorded."""
        return len(self.events)

    def by_kind(self) -> dict[str, int]:
        """Waits per kind (``KINDS``)."""
        return dict(Counter(kind for kind, _, _ in self.events))

    def describe(self) -> str:
        """One line per wait: kind, operation and the project's line that asked for it."""
        return "\n".join(f"{kind:15s} {op:28s} {where}" for kind, op, where in self.events)


def _caller() -> str:
    """The innermost frame in the project (outside this module), as ``path:line``; else outside torch."""
    frames = [fr for fr in traceback.extract_stack() if fr.filename != _HERE]
    for fr in reversed(frames):
        if fr.filename.startswith(_PACKAGE):
            return f"{Path(fr.filename).relative_to(Path(_PACKAGE).parent)}:{fr.lineno}"
    for fr in reversed(frames):
        if not fr.filename.startswith(_TORCH):
            return f"{fr.filename}:{fr.lineno}"
    return "?"


def _outside_torch() -> bool:
    """Whether the innermost caller outside this module is code outside torch (torch's own moves stay on a device)."""
    for fr in reversed(traceback.extract_stack()):
        if fr.filename != _HERE:
            return not fr.filename.startswith(_TORCH)
    return False


def _same(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are one (``cuda`` names the current GPU, as a tensor's ``cuda:0`` does)."""
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


def _target_device(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.device | None:
    """The device a ``Tensor.to`` call names, if any."""
    for a in (*args[1:], kwargs.get("device")):
        if isinstance(a, (str, torch.device)):
            return torch.device(a)
        if isinstance(a, torch.Tensor):
            return a.device
    return None


class _Functions(TorchFunctionMode):
    def __init__(self, log: WaitLog) -> None:
        super().__init__()
        self.log = log
        self.copied: dict[int, weakref.ref[torch.Tensor]] = {}  # outputs of counted copies, by id

    def _was_copied(self, t: torch.Tensor) -> bool:
        """True once for the output of a counted copy (``x.cpu().numpy()`` is one; on a CPU ``.cpu()`` is ``x``)."""
        ref = self.copied.pop(id(t), None)
        return ref is not None and ref() is t

    def _mark(self, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            self.copied[id(out)] = weakref.ref(out)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        out = func(*args, **kwargs)
        src = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if name in _HOST and src is not None:
            if not self._was_copied(src) and (src.device.type != "cpu" or not torch.cuda.is_available()):
                self.log.events.append(("to-host", name, _caller()))
                self._mark(out)
        elif name == "to" and src is not None and not kwargs.get("non_blocking", False) and not (
                len(args) > 2 and isinstance(args[2], bool) and args[2]):
            dev = _target_device(args, kwargs)
            if dev is not None and (not _same(dev, src.device) if torch.cuda.is_available() else _outside_torch()):
                kind = "to-host" if dev.type == "cpu" and src.device.type != "cpu" else "blocking-copy"
                self.log.events.append((kind, "to", _caller()))
                self._mark(out)
        elif (name == "copy_" and torch.cuda.is_available() and len(args) > 1 and isinstance(args[1], torch.Tensor)
              and not _same(src.device, args[1].device) and not kwargs.get("non_blocking", False)
              and not (len(args) > 2 and args[2] is True)):
            kind = "to-host" if src.device.type == "cpu" else "blocking-copy"
            self.log.events.append((kind, "copy_", _caller()))
        elif name in ("tensor", "as_tensor") and kwargs.get("device") is not None and (
                torch.device(kwargs["device"]).type != "cpu" or not torch.cuda.is_available()):
            self.log.events.append(("blocking-copy", name, _caller()))
        return out


def _bool_index(indices: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8) for t in (indices or ()))


class _Dispatch(TorchDispatchMode):
    def __init__(self, log: WaitLog) -> None:
        super().__init__()
        self.log = log

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name == "_local_scalar_dense":
            self.log.events.append(("scalar", "item", _caller()))
        elif name in _DATA_DEPENDENT:
            self.log.events.append(("data-dependent", name, _caller()))
        elif name in ("index", "index_put", "index_put_", "_index_put_impl_") and _bool_index(
                args[1] if len(args) > 1 else kwargs.get("indices")):
            self.log.events.append(("data-dependent", f"{name} (boolean mask)", _caller()))
        return func(*args, **kwargs)


@contextlib.contextmanager
def count_waits() -> Iterator[WaitLog]:
    """Record, in the block, every operation that makes the host wait for the device (module docstring).

    Yields a :class:`WaitLog`, filled as the block runs. Nested use records in the innermost one only.
    """
    log = WaitLog()
    with _Functions(log), _Dispatch(log):
        yield log


__all__ = ["BUDGET", "KINDS", "WaitLog", "count_waits"]
