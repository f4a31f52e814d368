"""spirl.config.validate: a value checked against its field's type, with one line naming the key."""

from __future__ import annotations

from typing import Literal

import pytest

from spirl.config import ConfigError, LearnerSettings, PretrainSettings, SaliencySettings
from spirl.config.settings import Count, Device, Ratio, RatioWord
from spirl.config.validate import check_fields, check_value, hints, words


def _refused(value, hint) -> str:
    with pytest.raises(ConfigError) as err:
        check_value("k", value, hint)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_numbers_are_coerced_and_kept_in_range():
    assert check_value("k", "1e-4", float) == 1e-4  # PyYAML 1.1 leaves 1e-4 a string
    assert check_value("k", 3, Count) == 3
    assert _refused(0, Count) == "k: must be >= 1, got 0"
    assert _refused(True, Count) == "k: expected an integer, got True"
    assert _refused(float("inf"), float) == "k: expected a finite number, got inf"


def test_words_and_spellings():
    assert _refused("max", Literal["cls", "avg"]) == "k: 'max' is not allowed; allowed: cls, avg"
    assert _refused("tpu", Device) == "k: 'tpu' is not a device; use auto, cpu, cuda or cuda:N"
    assert check_value("k", "cuda:1", Device) == "cuda:1"
    ratio = Ratio | RatioWord | None
    assert check_value("k", "ideal-0.05", ratio) == "ideal-0.05" and check_value("k", None, ratio) is None
    assert _refused(1.5, ratio) == "k: must be in (0, 1], got 1.5"
    assert "'best' is not a ratio" in _refused("best", ratio)


def test_a_union_of_a_number_and_a_word():
    hint = hints(LearnerSettings)["warmup_steps"]
    assert words(hint) == ("pretrain_frames",)
    assert check_value("k", "pretrain_frames", hint) == "pretrain_frames" and check_value("k", 0, hint) == 0
    assert _refused("many", hint) == "k: 'many' is not allowed; allowed: pretrain_frames"
    assert _refused(-1, hint) == "k: must be >= 0, got -1"


def test_tuples_and_mappings():
    betas = hints(PretrainSettings)["betas"]
    assert check_value("k", [0.9, "0.95"], betas) == (0.9, 0.95)
    assert _refused([0.9], betas) == "k: expected a list of 2 numbers, got [0.9]"
    assert _refused([0.9, 1.0], betas) == "k: must be in [0, 1), got 1.0"
    assert check_fields("saliency", SaliencySettings, {"selection": "fixed"}) == {"selection": "fixed"}
    with pytest.raises(ConfigError, match=r"^saliency: unknown setting 'selectoin'; did you mean 'selection'\?$"):
        check_fields("saliency", SaliencySettings, {"selectoin": "fixed"}, noun="setting")
