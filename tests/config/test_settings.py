"""spirl.settings: every numeric setting has a range, and the JSON Schema's bounds are exactly those ranges."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from spirl.config import HINTS, RANGES, SECTIONS, Range

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _is_numeric(hint: Any) -> bool:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return any(o in (int, float) or typing.get_origin(o) is tuple for o in options)


def _range_bounds(rng: Range) -> dict[str, float]:
    out: dict[str, float] = {}
    if rng.low is not None:
        out["exclusiveMinimum" if rng.low_open else "minimum"] = rng.low
    if rng.high is not None:
        out["exclusiveMaximum" if rng.high_open else "maximum"] = rng.high
    return out


def _schema_bounds(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, float]:
    """The bounds a schema property puts on a number: its own, its $ref's, its items', its first numeric branch's."""
    out = {k: prop[k] for k in BOUNDS if k in prop}
    if "$ref" in prop:
        out = {**_schema_bounds(defs[prop["$ref"].rsplit("/", 1)[1]], defs), **out}
    if "items" in prop:
        out = {**_schema_bounds(prop["items"], defs), **out}
    for branch in prop.get("anyOf", []):
        found = _schema_bounds(branch, defs)
        if found:
            return {**found, **out}
    return out


def test_every_numeric_setting_has_a_range_and_every_range_a_setting():
    numeric = {f"{section}.{name}" for section, hints in HINTS.items() for name, hint in hints.items()
               if _is_numeric(hint)}
    missing = sorted(numeric - set(RANGES))
    assert not missing, f"add these to spirl.settings.RANGES: {missing}"
    stray = sorted(k for k in RANGES if k.split(".")[0] in SECTIONS and k not in numeric)
    assert not stray, f"RANGES names settings that do not exist: {stray}"


def test_the_schema_bounds_are_the_ranges():
    schema = yaml.safe_load(SCHEMA.read_text())
    defs = schema["$defs"]
    for key, rng in RANGES.items():
        section, name = key.split(".")
        if section in SECTIONS:
            prop = defs[section]["properties"][name]
        elif section == "stats":
            prop = schema["properties"]["stats"]["properties"][name]
        elif section == "preset":
            prop = schema["properties"][name]
        else:
            continue  # run.*: numbers of the command line only
        assert _schema_bounds(prop, defs) == _range_bounds(rng), key


def test_ranges_contain_and_describe():
    assert Range(0, low_open=True).contains(1e-9) and not Range(0, low_open=True).contains(0)
    assert Range(0, 1).contains(0) and Range(0, 1).contains(1) and not Range(0, 1).contains(1.01)
    assert not Range(0, 1, high_open=True).contains(1) and not Range().contains(float("nan"))
    assert Range(1).describe() == ">= 1" and Range(0, low_open=True).describe() == "> 0"
    assert Range(0, 1, low_open=True).describe() == "in (0, 1]" and Range().describe() == "any number"


@pytest.mark.parametrize("key", ["learner.lr", "learner.gamma", "budget.eval_epsilon", "budget.checkpoint_every",
                                 "budget.env_steps", "preset.threads"])
def test_the_values_the_issue_named_are_out_of_range(key):
    bad = {"learner.lr": -1, "learner.gamma": 2, "budget.eval_epsilon": 5, "budget.checkpoint_every": 0,
           "budget.env_steps": 0, "preset.threads": 0}[key]
    assert not RANGES[key].contains(bad)
