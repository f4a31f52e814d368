"""The table model of ``spirl tables``: cells with the numbers and provenance behind them, and their renderings.

Every table is written as Markdown, LaTeX, CSV (one row per cell, with the numbers, run
counts, source and verdict behind it) and an HTML fragment for the report, and listed in
``index.json``. The tables themselves are built in ``paper_tables`` and ``study_tables``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spirl.analysis import paper_numbers as paper
from spirl.utils import atomic_path, atomic_write_text


class TableError(ValueError):
    """Inputs a table cannot be built from; the message names the file or study."""


# ============================================================================== table model and rendering


@dataclass
class Cell:
    """One table cell: its text and, for the CSV, the numbers and provenance behind it.

    A row made of one cell of kind ``section`` is a block heading spanning the table.
    """

    text: str
    bold: bool = False
    mean: float | None = None
    std: float | None = None
    n: int | None = None
    kind: str = ""  # published | reproduced | verdict | section | "" (labels)
    source: str = ""
    verdict: str = ""
    detail: str = ""


@dataclass
class Table:
    """A rendered-ready table; ``rows[i][0]`` is the row label."""

    name: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """GitHub Markdown: title, table, notes."""
        def text(c: Cell) -> str:
            t = c.text.replace("|", "\\|")
            return f"**{t}**" if c.bold and t else t

        lines = [f"### {self.title}", "", self.caption, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        for row in self.rows:
            if is_section(row):
                row = [Cell(f"*{row[0].text}*")] + [Cell("")] * (len(self.columns) - 1)
            lines.append("| " + " | ".join(text(c) for c in row) + " |")
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A ``table`` environment with ``booktabs`` rules."""
        def text(c: Cell) -> str:
            t = latex_escape(c.text)
            return f"\\textbf{{{t}}}" if c.bold and t else t

        spec = "l" + "r" * (len(self.columns) - 1)
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{latex_escape(self.caption)}}}",
                 f"\\label{{tab:{self.name}}}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                 " & ".join(latex_escape(c) for c in self.columns) + " \\\\", "\\midrule"]
        for row in self.rows:
            if is_section(row):
                heading = f"\\emph{{{latex_escape(row[0].text)}}}"
                lines += ["\\midrule", f"\\multicolumn{{{len(self.columns)}}}{{l}}{{{heading}}} \\\\"]
            else:
                lines.append(" & ".join(text(c) for c in row) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            lines += ["\\par\\smallskip\\footnotesize"] + [latex_escape(n) + "\\\\" for n in self.notes]
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """An HTML fragment (table + notes) for the report; verdict cells carry their test in a tooltip."""
        def cell(c: Cell, tag: str = "td") -> str:
            t = html.escape(c.text)
            if c.bold and t:
                t = f"<b>{t}</b>"
            attrs = f' class="{c.kind} {verdict_class(c.verdict)}"' if (c.kind or c.verdict) else ""
            if c.detail or c.source:
                attrs += f' title="{html.escape("; ".join(x for x in (c.detail, c.source) if x))}"'
            return f"<{tag}{attrs}>{t}</{tag}>"

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            f'<tr class="section"><th colspan="{len(self.columns)}">{html.escape(row[0].text)}</th></tr>'
            if is_section(row) else "<tr>" + cell(row[0], "th") + "".join(cell(c) for c in row[1:]) + "</tr>"
            for row in self.rows)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f'<table class="paper-table" id="{self.name}"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>" + (f'<ul class="notes">{notes}</ul>' if notes else "") + "\n")

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``table, block, row, column, text, bold, mean, std, n, kind, source, verdict, detail``
        (``block``: the heading of the row's block, "" before the first)."""
        records = []
        block = ""
        for row in self.rows:
            if is_section(row):
                block = row[0].text
                continue
            for column, c in zip(self.columns[1:], row[1:]):
                records.append({"table": self.name, "block": block, "row": row[0].text, "column": column,
                                "text": c.text, "bold": c.bold, "mean": c.mean, "std": c.std, "n": c.n, "kind": c.kind,
                                "source": c.source, "verdict": c.verdict, "detail": c.detail})
        return pd.DataFrame(records)


def is_section(row: Sequence[Cell]) -> bool:
    """Whether a row is a block heading (one cell of kind ``section``)."""
    return len(row) == 1 and row[0].kind == "section"


def section(text: str) -> list[Cell]:
    """A block-heading row."""
    return [Cell(text, kind="section")]


def verdict_class(word: str) -> str:
    """The verdict as an HTML class: ``too few runs`` -> ``too-few-runs``, ``n/a`` -> ``na``."""
    return word.replace("/", "").replace(" ", "-")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "ε": r"$\varepsilon$", "—": "---", "–": "--", "†": r"$^\dagger$", "≥": r"$\geq$",
                  "×": r"$\times$", "±": r"$\pm$", "→": r"$\to$", "≠": r"$\neq$", "↑": r"$\uparrow$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters and spell out the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def write_table(table: Table, out_dir: str | Path) -> list[Path]:
    """Write ``<name>.md``, ``.tex``, ``.csv`` and ``.html`` atomically; return the paths."""
    out = Path(out_dir)
    paths = []
    for ext, text in (("md", table.to_markdown()), ("tex", table.to_latex()), ("html", table.to_html())):
        path = out / f"{table.name}.{ext}"
        atomic_write_text(path, text)
        paths.append(path)
    path = out / f"{table.name}.csv"
    with atomic_path(path) as tmp:
        table.to_frame().to_csv(tmp, index=False)
    paths.append(path)
    return paths


# ============================================================================== our numbers


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof 1) of per-run scores over ``n`` runs at env step ``step``."""

    mean: float
    std: float
    n: int
    step: int


def summarise(runs: pd.DataFrame, method: str, game: str) -> Summary | None:
    """Summary of one method on one game from a per-run table (``stats.final_scores``); None if it never ran."""
    cell = runs[(runs["method"] == method) & (runs["game"] == game)]
    if cell.empty:
        return None
    values = cell["score"].to_numpy(dtype=float)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return Summary(float(values.mean()), std, len(values), int(cell["step"].max()))


def fmt(mean: float | None, std: float | None = None, n: int | None = None, decimals: int = 1,
        std_decimals: int | None = None) -> str:
    """``mean (std) n=N`` as the paper prints its tables: one decimal (or the source's), no thousands separators."""
    if mean is None:
        return "—"
    text = f"{mean:.{decimals}f}"
    if std is not None and math.isfinite(std):
        text += f" ({std:.{decimals if std_decimals is None else std_decimals}f})"
    if n is not None:
        text += f" n={n}"
    return text


def ours_cell(s: Summary | None) -> Cell:
    """A reproduced cell; "not run" when there is no run."""
    if s is None:
        return Cell("not run", kind="reproduced")
    std = s.std if math.isfinite(s.std) else None
    return Cell(fmt(s.mean, std, s.n), mean=s.mean, std=std, n=s.n, kind="reproduced",
                source=f"reproduced: final evaluation at {s.step:,} env steps")


def paper_cell(p: paper.PaperNumber | None, show_n: bool = True) -> Cell:
    """A published cell carrying its source."""
    if p is None:
        return Cell("—", kind="published")
    note = " (run count assumed)" if p.n_assumed else ""
    return Cell(fmt(p.mean, p.std, p.n if show_n else None, p.decimals, p.std_decimals), mean=p.mean, std=p.std, n=p.n,
                kind="published",
                source=f"published: {p.source}{note}" + (f"; {p.note}" if p.note else ""))


def bold_best(cells: list[Cell]) -> None:
    """Bold the cell(s) with the highest mean (the paper's "best in bold")."""
    means = [c.mean for c in cells if c.mean is not None]
    if not means:
        return
    best = max(means)
    for c in cells:
        if c.mean is not None and c.mean == best:
            c.bold = True


ABOVE_MARK = "↑"
ABOVE_NOTE = (f"{ABOVE_MARK}: our mean is above the best published entry of the paper's own comparison (the bold one); "
              "bold stays where the paper put it.")


def mark_above(ours: Sequence[Cell], published: Sequence[Cell]) -> None:
    """Mark (``ABOVE_MARK``) each of our cells whose mean is above every published mean beside it; bold untouched."""
    means = [c.mean for c in published if c.mean is not None]
    if not means:
        return
    for c in ours:
        if c.mean is not None and c.mean > max(means):
            c.text += f" {ABOVE_MARK}"
            c.detail = "; ".join(x for x in (c.detail, "above the paper's best entry") if x)


# ============================================================================== writing


def write_tables(tables: Sequence[Table], out_dir: str | Path) -> Path:
    """Write every table and ``index.json`` (name, title, caption, files) for the report."""
    out = Path(out_dir)
    index = []
    for t in tables:
        files = [p.name for p in write_table(t, out)]
        index.append({"name": t.name, "title": t.title, "caption": t.caption, "files": files})
    path = out / "index.json"
    atomic_write_text(path, json.dumps(index, indent=2) + "\n")
    return path


