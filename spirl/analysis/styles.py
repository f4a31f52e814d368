"""One look for every figure: the matplotlib style, and one distinct style per method kept across figures.

A method's style is a colour x marker x line style (x bar hatch). Our methods take the seven
coloured Okabe-Ito colours (safe for the common colour-vision deficiencies; its black is kept
for estimate ticks and reference lines, never for a method), then, past seven methods, the next
marker, line style and hatch, so 15 methods (``paper100k.yaml``) get 15 different styles.
Published numbers are drawn in greys, hatched, dashed, and labelled "published: ...", the
harness's runs "reproduced". Legends go beside the axes (``legend_outside``), never over the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt

from spirl.analysis import scores as sc

# Okabe & Ito (2008), "Color Universal Design": distinguishable with deuteranopia, protanopia, tritanopia.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
METHOD_COLOURS = OKABE_ITO[:7]  # black is the estimate ticks' and the reference lines' colour
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", ":", "-.")
HATCHES = ("", "..", "xx", "++", "oo")


PUBLISHED_GREYS = ("#555555", "#888888", "#AAAAAA", "#333333", "#BBBBBB")


METRIC_LABELS = {"IQM": "IQM", "median": "Median", "mean": "Mean", "optimality_gap": "Optimality gap"}


STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,  # editable text in the PDFs
}


@dataclass(frozen=True)
class MethodStyle:
    """How one method is drawn: ``line()`` for plot/errorbar keywords, ``hatch`` for bars."""

    colour: str
    marker: str
    linestyle: str
    hatch: str

    def line(self) -> dict[str, str]:
        """Keyword arguments of ``ax.plot`` for this method."""
        return {"color": self.colour, "marker": self.marker, "ls": self.linestyle}


def method_styles(methods: Sequence[str]) -> dict[str, MethodStyle]:
    """A distinct style per method, in the given order: ours in colour, published ones grey, dashed and hatched.

    Method i of a kind takes colour i mod C and marker / line style / hatch from i div C (C the kind's
    colours), so no two methods of up to C x 7 share a colour and a marker.
    """
    out: dict[str, MethodStyle] = {}
    ours = [m for m in dict.fromkeys(methods) if sc.kind_of(m) == "reproduced"]
    published = [m for m in dict.fromkeys(methods) if sc.kind_of(m) == "published"]
    for i, m in enumerate(ours):
        c, r = i % len(METHOD_COLOURS), i // len(METHOD_COLOURS)
        out[m] = MethodStyle(METHOD_COLOURS[c], MARKERS[r % len(MARKERS)], LINESTYLES[r % len(LINESTYLES)],
                             HATCHES[r % len(HATCHES)])
    for i, m in enumerate(published):
        c, r = i % len(PUBLISHED_GREYS), i // len(PUBLISHED_GREYS)
        out[m] = MethodStyle(PUBLISHED_GREYS[c], MARKERS[(r + 1) % len(MARKERS)], "--", "//")
    return out


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """The colour of each method's style (``method_styles``)."""
    return {m: s.colour for m, s in method_styles(methods).items()}


def style_of(styles: Mapping[str, MethodStyle] | None, method: str) -> MethodStyle:
    """The style of ``method`` in ``styles``, else its style on its own."""
    return (styles or {}).get(method) or method_styles([method])[method]


def label_of(method: str) -> str:
    """Legend label: ``published: SPR`` for published data, ``<method> (reproduced)`` for ours."""
    if sc.kind_of(method) == "published":
        return "published: " + method[len(sc.PUBLISHED_PREFIX):]
    return f"{method} (reproduced)"


def legend_outside(ax: plt.Axes, **kwargs: Any) -> None:
    """The legend beside the axes (right of them, top-aligned), so that it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  **{"fontsize": 7, **kwargs})
