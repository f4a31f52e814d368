"""``reports/report.html``: one self-contained page with the whole reproduction.

It embeds (images as base64 PNG, no external files) every table written by
``spirl tables`` and every figure in the figure directories, each with its caption;
the run inventory (method, game, seed, budget, versions, wall time, steps/s from each
``run.json``); the settings of each method (``results/methods/*.yaml``); the list of
paper/released-code choices (docs/method.md#choices, ``spirl.analysis.paper_numbers.CHOICES``) with each method's value;
the published 26-game aggregates with their sources (shown apart: they are over other games than a
preset's); and the source of every published number. A banner says so when the runs' budget is
not the paper's (their numbers are then a demonstration, not a reproduction).
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from spirl.analysis import paper_numbers as paper
from spirl.analysis.published import read_config

PAPER_BUDGETS = (100_000, 400_000)
PAPER_EVAL_EPISODES = 50

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .85em; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
td.published { color: #555; font-style: italic; }
td.consistent { background: #e7f3ea; } td.differs { background: #fbe3d6; } td.na { color: #888; }
td.too-few-runs { background: #f1f1f1; color: #555; }
tr.section th { background: #fafafa; font-style: italic; text-align: left; }
.banner { background: #fff3cd; border: 2px solid #d39e00; padding: .8em 1em; font-weight: 600; margin: 1em 0; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .caption { font-size: .9em; color: #444; }
ul.notes { font-size: .8em; color: #555; }
nav.contents { font-size: .9em; margin: 1em 0; } nav.contents a { color: #0b5394; }
details { margin: .5em 0; } pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .8em; }
"""


# ============================================================================== inputs


def load_runs(runs_dir: str | Path | None) -> list[dict[str, Any]]:
    """Every ``run.json`` below ``runs_dir`` (results/runs/{method}/{game}/{seed}/run.json), sorted."""
    if runs_dir is None:
        return []
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no runs directory at {root}")
    out = []
    for path in sorted(root.rglob("run.json")):
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{path}: expected a JSON object")
        meta["_path"] = str(path)
        out.append(meta)
    return sorted(out, key=lambda m: (str(m.get("method")), str(m.get("game")), int(m.get("seed", 0))))


def load_methods(methods_dir: str | Path | None) -> dict[str, dict[str, Any]]:
    """``{method: settings}`` from ``results/methods/*.yaml``."""
    if methods_dir is None:
        return {}
    root = Path(methods_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no methods directory at {root}")
    out = {}
    for path in sorted(root.glob("*.y*ml")):
        try:
            out[path.stem] = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({err})") from None
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: ``{"budget": {"env_steps": 1}}`` -> ``{"budget.env_steps": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def budget_banner(runs: Sequence[dict[str, Any]]) -> str | None:
    """The banner text when any run's budget differs from the paper's (100K / 400K env steps, 50 eval episodes)."""
    if not runs:
        return "No runs were found: this report shows the paper's and published numbers only."
    steps, episodes = set(), set()
    for r in runs:
        s = flatten(r.get("settings") or {})
        if "budget.env_steps" in s:
            steps.add(int(s["budget.env_steps"]))
        if "budget.eval_episodes" in s:
            episodes.add(int(s["budget.eval_episodes"]))
    problems = []
    odd_steps = sorted(x for x in steps if x not in PAPER_BUDGETS)
    if odd_steps:
        problems.append(f"runs of {', '.join(f'{x:,}' for x in odd_steps)} env steps (the paper: 100,000 or 400,000)")
    odd_eps = sorted(x for x in episodes if x != PAPER_EVAL_EPISODES)
    if odd_eps:
        problems.append(f"{', '.join(map(str, odd_eps))} evaluation episodes (the paper: 50)")
    if not steps:
        problems.append("no run records its budget (settings.budget.env_steps)")
    if not problems:
        return None
    return ("Demonstration numbers, not the paper's: " + "; ".join(problems)
            + ". Verdicts against the paper's numbers are computed only for runs at the paper's budget.")


def curve_note(runs: Sequence[dict[str, Any]]) -> str | None:
    """The note when some runs followed ``budget.eval_schedule: tables``: their learning curves are lower-resolution."""
    fewer = {}
    for r in runs:
        s = flatten(r.get("settings") or {})
        if s.get("budget.eval_schedule") == "tables":
            episodes = (r.get("plan") or {}).get("eval_episodes", s.get("budget.curve_episodes"))
            fewer[episodes] = fewer.get(episodes, 0) + 1
    if not fewer:
        return None
    counts = ", ".join(f"{n} run(s) {e} games" for e, n in sorted(fewer.items(), key=lambda x: str(x[0])))
    return ("Lower-resolution learning curves: under budget.eval_schedule: tables the evaluations before the last "
            f"played fewer games ({counts}); the last evaluation, the one every table reads, played the full count.")


# ============================================================================== sections


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def tables_section(tables_dir: str | Path | None) -> str:
    """Every table listed in ``index.json`` (HTML fragments written by ``spirl tables``)."""
    if tables_dir is None:
        return ""
    root = Path(tables_dir)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"no index.json in {root} (run 'spirl tables' first)")
    parts = ["<h2>Tables</h2>"]
    for entry in json.loads(index_path.read_text()):
        fragment = root / f"{entry['name']}.html"
        if not fragment.is_file():
            raise FileNotFoundError(f"{fragment} is listed in index.json but missing")
        parts.append(f"<h3 id=\"{_esc(entry['name'])}\">{_esc(entry['title'])}</h3>"
                     f"<p class=\"caption\">{_esc(entry['caption'])}</p>{fragment.read_text()}"
                     f"<p class=\"caption\">Also as {', '.join(_esc(f) for f in entry['files'])}.</p>")
    return "\n".join(parts)


def figures_section(figure_dirs: Sequence[str | Path]) -> str:
    """Every PNG in the figure directories, embedded, with its caption: from the directory's ``captions.json``,
    else the PNG's own ``Description`` text, else its path."""
    parts = []
    for d in figure_dirs:
        root = Path(d)
        if not root.is_dir():
            raise FileNotFoundError(f"no figures directory at {root}")
        captions_path = root / "captions.json"
        captions = json.loads(captions_path.read_text()) if captions_path.is_file() else {}
        for png in sorted(root.rglob("*.png")):
            key = png.relative_to(root).with_suffix("").as_posix()
            caption = captions.get(key) or captions.get(png.stem) or _png_description(png) or key.replace(
                "_", " ").replace("/", ": ")
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f'<figure id="fig-{_esc(key)}"><img alt="{_esc(key)}" src="data:image/png;base64,{data}">'
                         f"<figcaption><b>{_esc(key)}</b>: {_esc(caption)}</figcaption></figure>")
    return ("<h2>Figures</h2>" + "\n".join(parts)) if parts else ""


def _png_description(path: Path) -> str:
    """The caption a figure carries in its PNG ``Description`` text chunk (e.g. ``spirl attention``), if any."""
    from PIL import Image

    with Image.open(path) as img:
        return str(getattr(img, "text", {}).get("Description", ""))


def _versions_text(v: Any) -> str:
    if not isinstance(v, dict):
        return str(v or "")
    keys = ("torch", "numpy", "gymnasium", "ale-py", "rliable", "python")
    return ", ".join(f"{k} {v[k]}" for k in keys if k in v)


def inventory_section(runs: Sequence[dict[str, Any]]) -> str:
    """The run inventory: one row per run.json."""
    if not runs:
        return "<h2>Run inventory</h2><p>No runs found.</p>"
    rows = []
    total = 0.0
    for r in runs:
        s = flatten(r.get("settings") or {})
        wall = float(r.get("wall_time_s") or 0.0)
        total += wall
        rows.append([r.get("method"), r.get("game"), r.get("seed"), f"{s.get('budget.env_steps', '?'):,}"
                     if isinstance(s.get("budget.env_steps"), int) else "?",
                     str(datetime.timedelta(seconds=round(wall))), f"{float(r.get('steps_per_s') or 0):.1f}",
                     r.get("device", ""), r.get("threads", ""), str(r.get("git_commit", ""))[:12],
                     _versions_text(r.get("versions"))])
    return (f"<h2>Run inventory</h2><p>{len(runs)} runs, {datetime.timedelta(seconds=round(total))} of training "
            f"wall time in total.</p>"
            + _table(["method", "game", "seed", "env steps", "wall time", "steps/s", "device", "threads", "commit",
                      "versions"], rows))


def settings_section(methods: dict[str, dict[str, Any]]) -> str:
    """Settings that differ between methods (all of them in a collapsible YAML block per method)."""
    if not methods:
        return ""
    flat = {m: flatten(s) for m, s in methods.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str)
                                          for f in flat.values()}) > 1]
    rows = [[k, *[flat[m].get(k, "—") for m in methods]] for k in differing]
    details = "".join(f"<details><summary>{_esc(m)}: all settings</summary><pre>"
                      f"{_esc(yaml.safe_dump(s, sort_keys=False))}</pre></details>" for m, s in methods.items())
    intro = ("<p>Settings on which the methods differ (every method starts from the paper's defaults).</p>"
             if len(methods) > 1 else "")
    return ("<h2>Settings of each method</h2>" + intro + (_table(["setting", *methods], rows) if rows else "")
            + details)


def choices_section(methods: dict[str, dict[str, Any]]) -> str:
    """Spec J: where the paper and the released code disagree, and what each method uses."""
    flat = {m: flatten(s) for m, s in methods.items()}
    rows = []
    for c in paper.CHOICES:
        used = [str(flat[m].get(c.setting, "—")) if c.setting else "—" for m in methods]
        rows.append([c.number, c.item, c.paper, c.released, c.default, c.setting or "—", *used])
    return ("<h2>Paper vs released-code choices (docs/method.md#choices)</h2>"
            + _table(["#", "item", "paper", "released code", "harness default", "setting", *methods], rows))


def _number(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def published_aggregates_section() -> str:
    """The published human-normalised aggregates over Atari 100k's 26 games, each with its source."""
    rows = [[a.method, a.kind, a.runs, _number(a.iqm), _number(a.median), _number(a.mean),
             _number(a.optimality_gap), a.source] for a in paper.PUBLISHED_AGGREGATES]
    return (f"<h2>Published aggregates (Atari 100k, {paper.AGGREGATES_GAMES} games, human-normalised)</h2>"
            f"<p>Over all {paper.AGGREGATES_GAMES} games of Atari 100k: comparable with an aggregate of ours only "
            "when ours covers the same games (the statistics compare methods over the games they share, "
            "docs/statistics.md#shared-games). 'recomputed': rliable's estimators on the published per-run scores; "
            "'reported': as the source printed them; —: not published.</p>"
            + _table(["agent", "kind", "runs", "IQM", "median", "mean", "optimality gap", "source"], rows))


def sources_section(published_config: str | Path | None = None) -> str:
    """The source of every published number the tables and figures show."""
    rows = [[r.method, r.kind, r.runs, r.source] for r in paper.PUBLISHED_100K]
    rows += [["DE-Rainbow re-impl. (SPIRL paper)", "published", "10", paper.TABLE11_SOURCE],
             ["DE-Rainbow reported", "published", "5", "van Hasselt et al. 2019, via " + paper.TABLE11_SOURCE],
             ["Padding schemes", "published", "5 (assumed)", paper.TABLE14_SOURCE],
             ["Pooling, 100K and 400K", "published", "5 (assumed)", paper.TABLE15_SOURCE],
             ["K histograms and ideal ratios", "published", "—", paper.FIG8_SOURCE]]
    rows += [[a.method + " (26-game aggregates)", "published", a.runs, a.source] for a in paper.PUBLISHED_AGGREGATES]
    text = "<h2>Sources of published numbers</h2>" + _table(["numbers", "kind", "runs", "source"], rows)
    if published_config is not None:
        entries = read_config(published_config)
        if entries:
            text += "<p>Published per-run score files (downloaded on request, sha256-pinned, never committed):</p>"
            text += _table(["name", "url", "sha256", "source"],
                           [[e.name, e.url, e.sha256, e.source] for e in entries])
        else:
            text += "<p>No published per-run score files were fetched for this report.</p>"
    return text


def build_report(*, tables_dir: str | Path | None = None, figure_dirs: Sequence[str | Path] = (),
                 runs_dir: str | Path | None = None, methods_dir: str | Path | None = None,
                 published_config: str | Path | None = None, title: str = "SPIRL reproduction report") -> str:
    """The report's HTML text."""
    runs = load_runs(runs_dir)
    methods = load_methods(methods_dir)
    banner, note = budget_banner(runs), curve_note(runs)
    body = [f"<h1>{_esc(title)}</h1>",
            f'<div class="banner">{_esc(banner)}</div>' if banner else "",
            f'<div class="banner">{_esc(note)}</div>' if note else "",
            "<p>Numbers labelled <i>published</i> come from the paper or the named source; numbers labelled "
            "<i>reproduced</i> come from this harness's runs (final evaluation, mean over its episodes; runs are the "
            "unit of every statistic). Verdicts test, at 5%, whether our runs and the paper's could come from one "
            "distribution, counting the uncertainty on both sides; 'too few runs' where the test could not find a "
            "gap of one run-to-run standard deviation half the time, and (±X) is the gap it finds half the time "
            "(docs/statistics.md#verdict). Intervals from fewer than 5 runs per game under-cover "
            "(docs/statistics.md#coverage).</p>",
            tables_section(tables_dir), figures_section(figure_dirs), published_aggregates_section(),
            inventory_section(runs), settings_section(methods), choices_section(methods),
            sources_section(published_config)]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
            + _with_contents("\n".join(b for b in body if b)) + "</body></html>\n")


def _with_contents(text: str) -> str:
    """Give every section heading (``<h2>``) an id and put links to them under the first paragraph."""
    links = []

    def anchor(m: re.Match[str]) -> str:
        slug = "sec-" + (re.sub(r"[^a-z0-9]+", "-", html.unescape(re.sub(r"<[^>]+>", "", m[1])).lower()).strip("-")
                         or str(len(links)))
        links.append(f'<a href="#{slug}">{m[1]}</a>')
        return f'<h2 id="{slug}">{m[1]}</h2>'

    text = re.sub(r"<h2>(.*?)</h2>", anchor, text)
    nav = '<nav class="contents">Contents: ' + " · ".join(links) + "</nav>" if links else ""
    return text.replace("</p>", "</p>" + nav, 1) if "</p>" in text else nav + text
