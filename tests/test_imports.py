"""spirl.imports: the import graph read from source files, its cycles, and a module's source files."""

from pathlib import Path

import pytest

from spirl.imports import cycles, import_graph, imported_modules, module_name, source_files


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.fixture
def tree(tmp_path):
    return _package(tmp_path, {
        "spirl/__init__.py": "",
        "spirl/a/__init__.py": "",
        "spirl/a/x.py": "from spirl.a import y\nimport json\n",
        "spirl/a/y.py": "def f():\n    from spirl.b import thing\n",
        "spirl/b.py": "thing = 1\n",
        "spirl/c.py": "import spirl.a.x\nfrom spirl.b import thing as t\n",
    })


def test_imports_count_functions_and_resolve_submodules(tree):
    assert imported_modules(tree / "spirl/a/x.py", tree) == {"spirl.a.y"}  # not json, and y is a module
    assert imported_modules(tree / "spirl/a/y.py", tree) == {"spirl.b"}  # inside a function; thing is a name
    assert module_name(tree / "spirl/a/__init__.py", tree) == "spirl.a"


def test_source_files_are_transitive_with_package_inits(tree):
    assert source_files("spirl.c", tree) == ["spirl/__init__.py", "spirl/a/__init__.py", "spirl/a/x.py",
                                             "spirl/a/y.py", "spirl/b.py", "spirl/c.py"]
    assert source_files("spirl.b", tree) == ["spirl/__init__.py", "spirl/b.py"]
    with pytest.raises(ValueError, match=r"spirl\.nothing is not a module"):
        source_files("spirl.nothing", tree)


def test_cycles_found_through_any_path(tree):
    assert cycles(import_graph(tree)) == []
    (tree / "spirl/b.py").write_text("from spirl.c import t\n")
    assert cycles(import_graph(tree)) == [["spirl.a.x", "spirl.a.y", "spirl.b", "spirl.c"]]
    assert cycles({"p": {"q"}, "q": {"p"}, "r": {"r"}}) == [["p", "q"]]  # a self-import is not a cycle
