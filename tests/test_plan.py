"""spirl.plan: the last evaluation's episodes (budget.final_eval_episodes)."""

import pytest

from spirl.config import parse_preset, resolve_method
from spirl.fields import ConfigError
from spirl.plan import for_game


def _plan(**budget):
    return for_game(resolve_method(parse_preset({"games": ["Seaquest"], "budget": budget}), "spirl"), "Seaquest")


def test_final_evaluation_plays_eval_episodes_by_default():
    plan = _plan()
    assert plan.eval_episodes == plan.final_eval_episodes == 50
    assert [plan.episodes_at(s) for s in plan.eval_steps] == [50] * 10


def test_only_the_last_evaluation_plays_final_eval_episodes():
    plan = _plan(final_eval_episodes=200)
    assert plan.eval_steps[-1] == plan.total_env_steps == 100_000
    assert [plan.episodes_at(s) for s in plan.eval_steps] == [50] * 9 + [200]
    assert _plan(eval_episodes=8, final_eval_episodes=3).episodes_at(100_000) == 3


def test_final_eval_episodes_must_be_positive():
    with pytest.raises(ConfigError, match="final_eval_episodes"):
        _plan(final_eval_episodes=0)
    with pytest.raises(ConfigError, match=r"budget\.final_eval_episodes: expected an integer or null"):
        _plan(final_eval_episodes="many")


def test_the_tables_schedule_plays_fewer_games_before_the_last_evaluation():
    def plan(**budget):
        return for_game(resolve_method(parse_preset({"games": ["Frostbite"], "budget": budget}), "spirl"), "Frostbite")

    paper, tables = plan(), plan(eval_schedule="tables")
    assert (paper.eval_episodes, paper.final_eval_episodes) == (50, 50)
    assert (tables.eval_episodes, tables.final_eval_episodes) == (10, 50) and tables.episodes_at(100_000) == 50
    assert tables.eval_steps == paper.eval_steps
    assert plan(eval_schedule="tables", curve_episodes=5, eval_episodes=4).eval_episodes == 4  # never more
    with pytest.raises(ConfigError, match="eval_schedule"):
        plan(eval_schedule="fast")
