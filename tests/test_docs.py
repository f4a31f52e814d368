"""The documentation names only things that exist (README.md and docs/*.md, and the docs citations in the code).

Checked: relative links and their ``#anchor`` (an explicit ``<a id>`` or a heading's GitHub slug); every
``docs/<page>.md#<anchor>`` cited in spirl/, workflow/, tests/ or the docs; every ``path:LINE`` into this
repository; every repository path and ``spirl.module`` named; every ``spirl COMMAND`` (and ``spirl bench NAME``)
against the CLI; every ``make TARGET`` against the Makefile; every package version against
requirements/lock.txt; and the published numbers of docs/published.md against ``spirl.analysis.paper_numbers``
and the game table. Each failure names the page and the broken reference.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from spirl import cli
from spirl.analysis import paper_numbers
from spirl.atari import games
from spirl.commands.bench import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_DIRS = ("spirl", "workflow", "tests")
CODE_SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".md", ".rst", ".sh", ".txt", ".toml"}
REPO_TOP = r"(?:spirl|tests|workflow|docs|requirements|\.ci)/[\w./-]*[\w/]|Snakefile|Makefile|pyproject\.toml"
# Paths that look like ours but name a file of the authors' released code, with the page that cites it.
EXTERNAL: dict[tuple[str, str], str] = {}

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.I)
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
ANCHOR = re.compile(r"<a\s[^>]*?(?:id|name)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
DOC_CITATION = re.compile(r"(?<![\w./-])docs/([\w./-]+?\.md)(?:#([\w-]+))?")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _page(path: Path) -> str:
    """A page as rendered text sees it: HTML comments (placeholders, notes to editors) removed."""
    return re.sub(r"<!--.*?-->", "", _text(path), flags=re.S)


def _prose(text: str) -> str:
    """The page without fenced blocks and inline code (links are only links outside code)."""
    return INLINE_CODE.sub(" ", FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Every fenced block's body and every inline code span of the page."""
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    spans = [m.group(2) for m in INLINE_CODE.finditer(FENCE.sub("", text))]
    return blocks + spans


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors a Markdown file offers: explicit ``<a id>``/``<a name>`` and every heading's slug."""
    text = _text(path)
    found = set(ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for m in HEADING.finditer(FENCE.sub("", text)):
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


@cache
def ignored(rel: str) -> bool:
    """True when git ignores the path (an output of a run, absent from a clean clone)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", rel], capture_output=True)
    return done.returncode == 0


def _check_target(page: Path, target: Path, anchor: str | None, what: str) -> str | None:
    """None when ``target`` (and its anchor) exists inside the repository, else the problem."""
    where = f"{_rel(page)}: {what}"
    target = target.resolve()
    if not target.is_relative_to(ROOT):
        return f"{where} points outside the repository (a clone has nothing beside it)"
    if not target.exists():
        return f"{where}: no such file {_rel(target)}"
    if ignored(_rel(target)):
        return f"{where}: {_rel(target)} is a run output (git-ignored), absent from a clean clone"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f"{where}: {_rel(target)} has no anchor #{anchor} (add <a id=\"{anchor}\"></a> or fix the link)"
    return None


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    prose = _prose(_page(page))
    targets = LINK.findall(prose) + HTML_LINK.findall(prose) + REF_DEF.findall(prose)
    problems = []
    for raw in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", raw, re.I):  # https:, mailto: ...
            continue
        path, _, anchor = raw.partition("#")
        target = page if not path else page.parent / path
        problem = _check_target(page, target, anchor or None, f"link ({raw})")
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


def _citation_sources() -> list[Path]:
    files = list(PAGES)
    for folder in CODE_DIRS:
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file() and p.suffix in CODE_SUFFIXES
                  and "__pycache__" not in p.parts]
    return [*files, ROOT / "Snakefile", ROOT / "Makefile"]


def test_every_docs_citation_resolves():
    problems = []
    for source in _citation_sources():
        for m in DOC_CITATION.finditer(_text(source)):
            problem = _check_target(source, ROOT / "docs" / m.group(1), m.group(2), f"citation {m.group(0)}")
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)


@cache
def _line_count(path: Path) -> int:
    return len(_text(path).splitlines())


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_file_and_line_references_exist(page):
    """``spirl/rl/replay.py:120`` (or ``:120-130``) names an existing file with at least that many lines."""
    problems = []
    for m in re.finditer(rf"(?<![\w./-])({REPO_TOP}):(\d+)(?:-(\d+))?", _page(page)):
        path, line = m.group(1), int(m.group(3) or m.group(2))
        if (_rel(page), path) in EXTERNAL:
            continue
        target = ROOT / path
        if not target.is_file():
            problems.append(f"{_rel(page)}: {m.group(0)} names no file of the repository")
        elif _line_count(target) < line:
            problems.append(f"{_rel(page)}: {m.group(0)} but {path} has {_line_count(target)} lines")
    assert not problems, "\n".join(problems)


def test_the_external_exceptions_are_still_needed():
    for (page, path), why in EXTERNAL.items():
        assert not (ROOT / path).exists(), f"{path} is now a file of ours: drop it from EXTERNAL ({why})"
        assert path in _text(ROOT / page), f"{page} no longer cites {path}: drop it from EXTERNAL"


@cache
def _top_level_names(module: Path) -> frozenset[str]:
    names = set()
    for node in ast.parse(_text(module)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _module_problem(dotted: str) -> str | None:
    """None when ``spirl.a.b[.name]`` is a module of the package (and ``name`` is defined in it)."""
    parts = dotted.split(".")
    path = ROOT
    for i, part in enumerate(parts):
        if (path / part).is_dir():
            path = path / part
            continue
        if (path / f"{part}.py").is_file():
            module = path / f"{part}.py"
            rest = parts[i + 1:]
            if rest and rest[0] not in _top_level_names(module):
                return f"{dotted}: {_rel(module)} defines no {rest[0]!r}"
            return None
        if i >= 2 and (path / "__init__.py").is_file():  # spirl.pkg.name defined or given by the package
            given = part in _top_level_names(path / "__init__.py") or hasattr(
                importlib.import_module(".".join(parts[:i])), part)  # spirl.config loads its names lazily
            return None if given else f"{dotted}: no module {part!r}"
        return f"{dotted}: no module {'.'.join(parts[: i + 1])}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_paths_and_modules_exist(page):
    """Every repository path (``spirl/analysis/scores.py``, ``workflow/config/``) and ``spirl.module`` named exists."""
    text = _page(page)
    problems = []
    for m in re.finditer(rf"(?<![\w./-])({REPO_TOP})", text):
        path = m.group(1)
        if (_rel(page), path) in EXTERNAL or text[m.end():m.end() + 1] in ("<", "{", "*"):  # a pattern, not a path
            continue
        if not (ROOT / path).exists():
            problems.append(f"{_rel(page)}: names {path}, which does not exist")
    for m in re.finditer(r"(?<![\w./-])spirl(?:\.\w+)+", text):
        problem = _module_problem(m.group(0))
        if problem:
            problems.append(f"{_rel(page)}: {problem}")
    assert not problems, "\n".join(sorted(set(problems)))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_commands_exist(page):
    """Every ``spirl COMMAND`` in code is a command of spirl.cli.COMMANDS; ``spirl bench NAME`` a benchmark."""
    problems = []
    for code in _code(_page(page)):
        for m in re.finditer(r"(?:^|(?<=[\s(`$;|&]))spirl[ \t]+([a-z][a-z0-9-]*)(?:[ \t]+([a-z][a-z0-9_-]*))?", code,
                             re.M):
            command, sub = m.group(1), m.group(2)
            if command not in cli.COMMANDS:
                problems.append(f"{_rel(page)}: 'spirl {command}' is not a command (spirl.cli.COMMANDS)")
            elif command == "bench" and sub and sub not in BENCHMARKS:
                problems.append(f"{_rel(page)}: 'spirl bench {sub}' is not a benchmark "
                                f"(spirl.commands.bench.BENCHMARKS)")
    assert not problems, "\n".join(sorted(set(problems)))


def _make_targets() -> set[str]:
    targets = set()
    for line in _text(ROOT / "Makefile").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-][A-Za-z0-9_. -]*?)\s*:(?!=)", line)
        if m and "$" not in m.group(1):
            targets.update(t for t in m.group(1).split() if not t.startswith("."))
    return targets


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_make_targets_exist(page):
    targets = _make_targets()
    problems = []
    for code in _code(_page(page)):
        for m in re.finditer(r"(?:^|(?<=[\s(;|&]))make[ \t]+([a-z][\w.-]*)", code, re.M):
            if m.group(1) not in targets:
                known = ", ".join(sorted(targets))
                problems.append(f"{_rel(page)}: 'make {m.group(1)}' is not a Makefile target ({known})")
    assert not problems, "\n".join(sorted(set(problems)))


def _pins() -> dict[str, str]:
    pins = {}
    for line in _text(ROOT / "requirements" / "lock.txt").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_versions_match_the_lock_file(page):
    """``torch 2.13`` or ``gymnasium==1.4.0`` in a page must be what requirements/lock.txt pins."""
    pins = _pins()
    problems = []
    for m in re.finditer(r"(?<![\w.-])([A-Za-z][\w.-]*?)(?:==|[ \t]+v?)(\d+(?:\.\d+)+)(?!\.?\w)", _page(page)):
        name, version = m.group(1).lower().replace("_", "-"), m.group(2)
        pinned = pins.get(name)
        if pinned is not None and pinned.split(".")[: len(version.split("."))] != version.split("."):
            problems.append(f"{_rel(page)}: names {m.group(0)!r} but requirements/lock.txt pins {name}=={pinned}")
    assert not problems, "\n".join(problems)


def test_readme_is_short_and_shows_the_two_commands():
    text = _page(ROOT / "README.md")
    assert len(text.splitlines()) <= 220, f"README.md has {len(text.splitlines())} lines; move detail into docs/"
    code = "\n".join(_code(text))
    for command in ("make reproduce", "make test"):
        assert re.search(rf"(?:^|\s){command}(?:\s|$)", code, re.M), f"README.md no longer shows `{command}`"


# ------------------------------------------------------------------ docs/published.md is the source of paper_numbers


def _section_rows(page: Path, heading: str) -> list[list[str]]:
    """The table rows (cells stripped) of the section under ``heading`` of a page, header and rule excluded."""
    text = _text(page)
    m = re.search(rf"^#+[ \t]+{re.escape(heading)}[ \t]*$", text, re.M)
    assert m, f"{_rel(page)} has no section '{heading}' (spirl/analysis/paper_numbers.py cites it)"
    body = re.split(r"^#", text[m.end():], maxsplit=1, flags=re.M)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in body.splitlines()
            if line.lstrip().startswith("|")]
    return [r for r in rows[1:] if not all(set(c) <= set(":- ") for c in r)]


def _number(cell: str) -> float | None:
    m = re.search(r"-?[\d,]*\.?\d+", cell)
    return None if m is None else float(m.group(0).replace(",", ""))


def test_published_page_holds_every_published_number_of_the_code():
    page = ROOT / "docs" / "published.md"
    rows = {r[0]: r for r in _section_rows(page, "Published 100K scores on SPIRL's four games")}
    for row in paper_numbers.PUBLISHED_100K:
        assert row.method in rows, f"docs/published.md: no row '{row.method}' (spirl/analysis/paper_numbers.py)"
        cells = rows[row.method]
        for i, game in enumerate(games.PAPER_GAMES):
            assert _number(cells[1 + i]) == row.scores[game].mean, (
                f"docs/published.md: {row.method} {game} is {cells[1 + i]}, the code has {row.scores[game].mean}")
    aggregates = {r[0]: r for r in _section_rows(page, "Aggregates (Atari 100k, 26 games, human-normalised)")}
    for agg in paper_numbers.PUBLISHED_AGGREGATES:
        assert agg.method in aggregates, f"docs/published.md: no aggregate row '{agg.method}'"
        cells = aggregates[agg.method]
        got = [_number(cells[1]), *(_number(c) for c in cells[2:6])]
        want = [agg.runs, agg.iqm, agg.median, agg.mean, agg.optimality_gap]
        assert got == want, f"docs/published.md: aggregates of {agg.method} are {got}, the code has {want}"


def test_published_page_normalisation_scores_are_the_game_table():
    page = ROOT / "docs" / "published.md"
    rows = {r[0]: r for r in _section_rows(page, "Random and human scores")}
    assert sorted(rows) == sorted(games.GAMES), "docs/published.md: the random/human table must list the 26 games"
    for name, cells in rows.items():
        game = games.get(name)
        assert (_number(cells[1]), _number(cells[2])) == (game.random, game.human), (
            f"docs/published.md: {name} random/human {cells[1]}/{cells[2]}, spirl/atari/games.py "
            f"{game.random}/{game.human}")
