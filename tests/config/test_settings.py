"""spirl.config.settings: every numeric field carries its range in its type, and ranges say what they allow."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from spirl.config import SECTIONS, MethodSettings, Range, StatsSettings
from spirl.config.keys import CommandNumbers, PresetKeys
from spirl.config.validate import hints, options, range_of, unpack


def _numeric(hint: Any) -> bool:
    """A field that holds a number (an int, a float or a tuple of them), bool excluded."""
    for opt in options(hint):
        base, _ = unpack(opt)
        if base in (int, float) or typing.get_origin(base) is tuple:
            return True
    return False


def _numeric_fields() -> dict[str, Any]:
    classes = {**SECTIONS, "stats": StatsSettings, "preset": PresetKeys, "run": CommandNumbers}
    return {f"{section}.{name}": hint for section, cls in classes.items() for name, hint in hints(cls).items()
            if _numeric(hint)}


# numbers any value of which is meaningful (the distribution's support is checked by a rule across fields)
UNBOUNDED = {"agent.v_min", "agent.v_max"}


def test_every_numeric_field_has_a_range_in_its_type():
    missing = sorted(key for key, hint in _numeric_fields().items() if range_of(hint) is None and key not in UNBOUNDED)
    assert not missing, f"give these fields a range (Annotated[int, Range(...)], Count, Positive, ...): {missing}"
    assert len(_numeric_fields()) > 60


def test_ranges_contain_and_describe():
    assert Range(0, low_open=True).contains(1e-9) and not Range(0, low_open=True).contains(0)
    assert Range(0, 1).contains(0) and Range(0, 1).contains(1) and not Range(0, 1).contains(1.01)
    assert not Range(0, 1, high_open=True).contains(1) and not Range().contains(float("nan"))
    assert Range(1).describe() == ">= 1" and Range(0, low_open=True).describe() == "> 0"
    assert Range(0, 1, low_open=True).describe() == "in (0, 1]" and Range().describe() == "any number"


@pytest.mark.parametrize(("key", "bad"), [("learner.lr", -1), ("learner.gamma", 2), ("budget.eval_epsilon", 5),
                                          ("budget.checkpoint_every", 0), ("budget.env_steps", 0),
                                          ("preset.threads", 0), ("stats.reps", 5), ("run.seed", -1)])
def test_the_values_the_issue_named_are_out_of_range(key, bad):
    rng = range_of(_numeric_fields()[key])
    assert rng is not None and not rng.contains(bad)


def test_method_settings_are_the_sections_and_two_words():
    names = [f.name for f in dataclasses.fields(MethodSettings)]
    assert names == ["name", "description", "mae_variant", *SECTIONS]
