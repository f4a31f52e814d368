"""spirl.config.plan: one run's concrete numbers (Kmax, warm-up, budget, evaluations, the last one's episodes)."""

import pytest

from spirl.config import ConfigError, for_game, parse_preset, resolve_max_ratio, resolve_method


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


def test_max_ratio_words():
    assert resolve_max_ratio(None, "Seaquest") == 0.2
    assert resolve_max_ratio("ideal", "MsPacman") == 0.35
    assert resolve_max_ratio("ideal-0.05", "Frostbite") == 0.35
    assert resolve_max_ratio("auto+0.05", "Pong", ideal_ratio=0.25) == 0.3
    with pytest.raises(ConfigError, match="saliency-stats"):
        resolve_max_ratio("auto", "Pong")
    with pytest.raises(ConfigError, match="no paper maximal ratio"):
        resolve_max_ratio("paper", "Pong")


def test_run_plan_numbers_match_the_spec():
    p = parse_preset({"games": ["Seaquest"]})
    plan = for_game(resolve_method(p, "spirl"), "Seaquest")
    assert plan.k_max == 28 and plan.total_env_steps == 100_000 and plan.warmup_steps == 1600
    assert plan.eval_steps == list(range(10_000, 100_001, 10_000))
    assert plan.expected_updates == 98_400  # docs/method.md#step-rainbow
    assert plan.beta(1600) == pytest.approx(0.4) and plan.beta(100_000) == pytest.approx(1.0)
    drp = for_game(resolve_method(p, "de_rainbow_p"), "Frostbite")
    assert (drp.warmup_steps, drp.total_env_steps, drp.replay_capacity) == (5000, 103_400, 100_000)
    assert drp.expected_updates == 98_400  # same learning steps as DE-Rainbow (Table 12)
    assert for_game(resolve_method(p, "de_rainbow_p"), "MsPacman").total_env_steps == 148_400
    assert for_game(resolve_method(p, "de_rainbow"), "Seaquest").k_max is None


def test_run_plans_refuse_budgets_with_nothing_to_learn():
    with pytest.raises(ConfigError, match=r"budget\.env_steps: must be >= 1"):
        parse_preset({"games": ["Seaquest"], "budget": {"env_steps": 0}})
    with pytest.raises(ConfigError, match="eval_episodes"):
        parse_preset({"games": ["Seaquest"], "budget": {"eval_episodes": 0}})
    # a matched warm-up longer than the method's own shrinks the budget below one step
    p = parse_preset({"games": ["Seaquest"], "budget": {"env_steps": 50}, "methods": {
        "m": {"base": "de_rainbow", "learner": {"warmup_steps": 0, "matched_warmup_steps": 100}}}})
    with pytest.raises(ConfigError, match=r"raise budget\.env_steps"):
        for_game(resolve_method(p, "m"), "Seaquest")


def test_de_rainbow_p_matches_the_learning_steps_of_a_shorter_warmup():
    p = parse_preset({
        "budget": {"env_steps": 2000},
        "methods": {"de_rainbow": {"learner": {"warmup_steps": 100}},
                    "de_rainbow_p": {"base": "de_rainbow", "learner": {
                        "warmup_steps": "pretrain_frames", "matched_warmup_steps": 100}}},
    })
    base = for_game(resolve_method(p, "de_rainbow"), "Seaquest")
    matched = for_game(resolve_method(p, "de_rainbow_p"), "Seaquest", pretrain_frames=500)
    assert matched.total_env_steps == 2400 and matched.expected_updates == base.expected_updates == 1900


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
