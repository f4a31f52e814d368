"""Which of our methods ran with sticky actions, so that no table sets their scores beside published numbers.

Every published number the tables hold (the SPIRL paper's, DE-Rainbow's, the Atari 100k per-run data
of rliable and its successors) was made without sticky actions, as the paper's protocol. A method
whose ``protocol.repeat_action_probability`` is above 0 (Machado et al.'s sticky actions, 0.25; the
``sticky_actions`` study) plays another game: its cells in the paper-comparison tables read
``STICKY_CELL`` and a note says why, and ``spirl stats`` refuses a probability-of-improvement pair of
it with published data (and leaves such pairs out of its default every-pair table); ``spirl plots`` leaves
it out of the learning curves, which carry published markers. Within a study it is compared with our own
no-sticky runs, which is the point.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from spirl.analysis.scores import PUBLISHED_PREFIX, StatsError
from spirl.analysis.table_model import Cell

STICKY_CELL = "sticky: not compared"
STICKY_NOTE = ("sticky actions (repeat_action_probability > 0): not compared with published numbers, which were "
               "made without (docs/protocol.md#sticky-actions)")


def sticky_methods(method_files: Iterable[str | Path]) -> frozenset[str]:
    """The methods with sticky actions among resolved method files (``results/methods/*.yaml``)."""
    from spirl.config import load_method
    from spirl.utils import read_yaml

    out = set()
    for path in method_files:
        raw = read_yaml(Path(path), what="method file", error=StatsError) or {}
        name = raw.get("resolved_method") if isinstance(raw, dict) else None
        if not name:
            raise StatsError(f"{path}: not a resolved method file (spirl resolve-method)")
        if load_method(path, name).protocol.repeat_action_probability > 0:
            out.add(str(name))
    return frozenset(out)


def sticky_cell() -> Cell:
    """The cell of a sticky-action method where a table compares with published numbers."""
    return Cell(STICKY_CELL, kind="reproduced", source=STICKY_NOTE)


def sticky_note(shown: Iterable[str], sticky: Collection[str]) -> list[str]:
    """The table note naming the methods of ``shown`` left uncompared because they ran with sticky actions."""
    left_out = sorted({m for m in shown if m in sticky})
    return [f"{', '.join(left_out)}: {STICKY_NOTE}"] if left_out else []


def comparable_pairs(pairs: Sequence[tuple[str, str]], sticky: Collection[str], *,
                     chosen: bool) -> list[tuple[str, str]]:
    """``pairs`` less those of a sticky-action method with published data; refused in one line if ``chosen``.

    ``chosen``: the pairs were asked for by name (``--pairs``, a preset's ``stats.pairs``); otherwise they are
    every pair of the methods, and the incomparable ones are dropped.
    """
    def crosses(a: str, b: str) -> bool:
        return (a in sticky and b.startswith(PUBLISHED_PREFIX)) or (b in sticky and a.startswith(PUBLISHED_PREFIX))

    bad = [(a, b) for a, b in pairs if crosses(a, b)]
    if bad and chosen:
        a, b = bad[0]
        raise StatsError(f"pair {a}:{b} compares a method run with sticky actions with published data made "
                         f"without (docs/protocol.md#sticky-actions)")
    return [p for p in pairs if p not in bad]
