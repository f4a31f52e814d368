"""spirl.config.schema: the committed JSON Schema is the one the fields give, and each allowed value is written once."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from spirl.config import SECTIONS, StatsSettings, settings
from spirl.config.keys import PresetKeys
from spirl.config.schema import SCHEMA_PATH, main, schema, schema_text
from spirl.config.validate import hints, range_of, words

SPIRL = Path(__file__).resolve().parents[2] / "spirl"
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _prop(section: str, name: str) -> dict[str, Any]:
    s = schema()
    if section == "preset":
        return s["properties"][name]
    return s["$defs"][section]["properties"][name]


def _find(node: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere under a schema node ($refs not followed)."""
    if isinstance(node, dict):
        return ([node[key]] if key in node else []) + [v for n in node.values() for v in _find(n, key)]
    if isinstance(node, list):
        return [v for n in node for v in _find(n, key)]
    return []


def _fields() -> list[tuple[str, str, Any]]:
    classes = {**SECTIONS, "stats": StatsSettings, "preset": PresetKeys}
    return [(section, name, hint) for section, cls in classes.items() for name, hint in hints(cls).items()]


def test_the_committed_schema_is_fresh():
    assert SCHEMA_PATH.read_text() == schema_text(), "stale: run python -m spirl.config.schema"
    assert main(["--check"]) == 0
    jsonschema.Draft202012Validator.check_schema(yaml.safe_load(SCHEMA_PATH.read_text()))


def test_a_stale_schema_is_caught(tmp_path):
    stale = tmp_path / "schema.yaml"
    stale.write_text(schema_text().replace("minimum: 10", "minimum: 1"))
    assert main(["--check", str(stale)]) == 1


def test_the_schema_enums_are_the_literal_words():
    checked = 0
    for section, name, hint in _fields():
        if words(hint):
            assert [w for e in _find(_prop(section, name), "enum") for w in e] == list(words(hint)), (section, name)
            checked += 1
    assert checked >= 9


def test_the_schema_bounds_are_the_field_ranges():
    for section, name, hint in _fields():
        rng = range_of(hint)
        if rng is None:
            continue
        found = {b: v for b in BOUNDS for v in _find(_prop(section, name), b)[:1]}
        want = {("exclusiveMinimum" if rng.low_open else "minimum"): rng.low} if rng.low is not None else {}
        if rng.high is not None:
            want["exclusiveMaximum" if rng.high_open else "maximum"] = rng.high
        assert found == want, (section, name)


def _literals() -> list[tuple[str, ...]]:
    return [typing.get_args(v) for v in vars(settings).values() if typing.get_origin(v) is typing.Literal]


@pytest.mark.parametrize("words_", _literals(), ids=lambda w: "-".join(w))
def test_each_list_of_allowed_words_is_written_once(words_):
    spelled = [", ".join(f"{q}{w}{q}" for w in words_) for q in "\"'"]
    holders = [p.relative_to(SPIRL).as_posix() for p in SPIRL.rglob("*.py")
               if any(s in p.read_text() for s in spelled)]
    assert holders == ["config/settings.py"], holders


def test_the_schema_and_spirl_agree_on_bad_values():
    validator = jsonschema.Draft202012Validator(schema())
    for bad in ({"budget": {"env_steps": 0}}, {"threads": 0}, {"methods": {"m": {"agent": {"pooling": "max"}}}},
                {"stats": {"interval": "wald"}}, {"budget": {"device": "tpu"}}, {"gamez": []},
                {"studies": {"s": {"question": "no variants"}}}, {"mae_variants": {"1bad": {}}},
                {"published": [{"name": "x", "url": "https://e.org"}]}):
        assert not validator.is_valid(bad), bad
    assert validator.is_valid({"methods": {"m": {"base": "spirl", "learner": {"lr": "1e-4"}}}})
    assert dataclasses.is_dataclass(PresetKeys)
