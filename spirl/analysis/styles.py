"""One look for every figure: the matplotlib style, and one colour per method kept across figures.

The Okabe-Ito palette is safe for the common colour-vision deficiencies; published numbers
are drawn grey and labelled "published: ...", the harness's runs "reproduced".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spirl.analysis import scores as sc

# Okabe & Ito (2008), "Color Universal Design": distinguishable with deuteranopia, protanopia, tritanopia.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


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


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """A fixed colour per method: reproduced ones from Okabe-Ito in the given order, published ones grey."""
    out: dict[str, str] = {}
    ours = [m for m in dict.fromkeys(methods) if sc.kind_of(m) == "reproduced"]
    published = [m for m in dict.fromkeys(methods) if sc.kind_of(m) == "published"]
    for i, m in enumerate(ours):
        out[m] = OKABE_ITO[i % len(OKABE_ITO)]
    for i, m in enumerate(published):
        out[m] = PUBLISHED_GREYS[i % len(PUBLISHED_GREYS)]
    return out


def label_of(method: str) -> str:
    """Legend label: ``published: SPR`` for published data, ``<method> (reproduced)`` for ours."""
    if sc.kind_of(method) == "published":
        return "published: " + method[len(sc.PUBLISHED_PREFIX):]
    return f"{method} (reproduced)"


def colour_of(colours: Mapping[str, str] | None, method: str) -> str:
    """The colour of ``method`` in ``colours``, else its colour on its own."""
    return (colours or {}).get(method) or method_colours([method])[method]
