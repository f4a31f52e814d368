"""spirl.config.keys: a preset's own keys as dataclasses, the docs' table of them, and the command-line numbers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from spirl.config import ConfigError, check_number, check_published
from spirl.config.keys import PresetKeys, StudySpec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SHA = "a" * 64


def _docs_keys() -> set[str]:
    """The keys named in the first column of docs/configuration.md's table under ``### Keys``."""
    text = DOCS.read_text().split("### Keys", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


def test_the_docs_table_names_every_preset_key_and_no_other():
    assert _docs_keys() == {f.name for f in dataclasses.fields(PresetKeys)}


def test_a_study_needs_variants_and_nothing_else():
    assert [f.name for f in dataclasses.fields(StudySpec) if f.default is dataclasses.MISSING] == ["variants"]


def test_command_line_numbers_obey_the_same_fields():
    assert check_number("--threads", "preset.threads", 4) == 4
    assert check_number("--xscale", "saliency.xscale", 2.0) == 2.0
    with pytest.raises(ConfigError, match=r"^--seed: must be >= 0, got -1$"):
        check_number("--seed", "run.seed", -1)
    with pytest.raises(ConfigError, match=r"^--reps: must be >= 10, got 5$"):
        check_number("--reps", "stats.reps", 5)


def test_published_entries():
    entry = {"name": "X.json", "url": "https://e.org/x.json", "sha256": SHA.upper()}
    assert check_published("p", [entry]) == [{**entry, "sha256": SHA}]
    for bad, needle in [({**entry, "sha256": "abc"}, "p[0]: sha256 'abc' is not 64 hex digits"),
                        ({**entry, "url": "ftp://x"}, "p[0]: url 'ftp://x' is not a URL to fetch; it must start with https://"),
                        ({"name": "X", "sha256": SHA}, "p[0]: missing url"),
                        ({**entry, "size": 1}, "p[0]: unknown key(s) size")]:
        with pytest.raises(ConfigError) as err:
            check_published("p", [bad])
        assert needle in str(err.value)
