"""spirl.projection: the projected run time on given rates, worked by hand (no measuring)."""

import pytest

from spirl.projection import Rates, Workload, affine, checkpoint_count, evaluation_seconds, project

RATES = Rates(warm_step=0.001, step=0.002, update=0.02, encode_1=0.3, encode_batch=10.3, eval_batch=50,
              eval_env_step=0.0004, policy_1=0.001, policy_batch=0.0049, checkpoint_fixed=0.5,
              write_bytes_per_s=100e6, replay_bytes_per_step=11_000.0)
PAPER = Workload(total_steps=100_000, warmup_steps=1600, random_warmup=True, updates=98_400, eval_points=10,
                 eval_episodes=50, final_eval_episodes=50, checkpoint_every=5000, mean_length=1000.0, max_length=2500.0)


def test_affine_batch_cost_goes_through_both_measurements():
    a, c = affine(0.3, 10.3, 50)
    assert a + c == pytest.approx(0.3) and a + 50 * c == pytest.approx(10.3)
    assert affine(0.3, 20.0, 50) == (0.0, 0.4)  # dearer per frame in a batch: at least the batch's own rate
    assert affine(0.3, 0.1, 50) == (0.3, 0.0)  # a batch measured cheaper than one frame: no cheaper than one
    assert affine(0.3, 9.9, 1) == (0.0, 0.3)


def test_checkpoints_at_every_multiple_before_the_last_step():
    assert checkpoint_count(100_000, 5000) == 19  # 5K .. 95K; none at 100K, the run finishes instead
    assert checkpoint_count(100_001, 5000) == 20
    assert checkpoint_count(100, 0) == 0


def test_one_evaluation_by_hand():
    e = evaluation_seconds(RATES, 50, 1000.0, 2500.0)
    a, c = affine(0.3, 10.3, 50)  # a = 0.09592.., c = 0.20408..
    assert e["env"] == pytest.approx(50 * 1000 * 0.0004)
    assert e["encode"] == pytest.approx(50_000 * c + 2500 * a + (a + 50 * c))
    pa, pc = affine(0.001, 0.0049, 50)
    assert e["policy"] == pytest.approx(50_000 * pc + 2500 * pa)


def test_paper_run_by_hand():
    p = project(RATES, PAPER)
    assert p["training"]["env"] == pytest.approx(1600 * 0.001 + 98_400 * 0.002)
    assert p["training"]["encode"] == pytest.approx(100_001 * 0.3)
    assert p["training"]["updates"] == pytest.approx(98_400 * 0.02)
    one = evaluation_seconds(RATES, 50, 1000.0, 2500.0)
    assert p["evaluation"]["encode"] == pytest.approx(10 * one["encode"])
    assert p["count"]["checkpoints"] == 19
    written = 5000 * sum(range(1, 20)) * 11_000.0  # the replay grows by 5K steps per checkpoint
    assert p["checkpoints"]["replay"] == pytest.approx(written / 100e6)
    assert p["checkpoints"]["fixed"] == pytest.approx(19 * 0.5)
    assert p["frames"] == {"training": 100_000, "evaluation": 500_000.0}
    parts = [p["training"], p["evaluation"], p["checkpoints"]]
    assert p["total_s"] == pytest.approx(sum(sum(x.values()) for x in parts))


def test_only_the_last_evaluation_plays_the_final_episodes():
    more = project(RATES, Workload(**{**PAPER.__dict__, "final_eval_episodes": 200}))
    base = project(RATES, PAPER)
    extra = evaluation_seconds(RATES, 200, 1000.0, 2500.0)
    one = evaluation_seconds(RATES, 50, 1000.0, 2500.0)
    for k in extra:
        assert more["evaluation"][k] == pytest.approx(base["evaluation"][k] - one[k] + extra[k])
    assert more["frames"]["evaluation"] == 9 * 50_000 + 200_000
    assert more["training"] == base["training"]


def test_a_greedy_warmup_pays_for_acting():
    greedy = project(RATES, Workload(**{**PAPER.__dict__, "random_warmup": False}))
    assert greedy["training"]["env"] == pytest.approx(100_000 * 0.002)


def test_pixel_agents_have_no_feature_cost():
    p = project(Rates(**{**RATES.__dict__, "encode_1": 0.0, "encode_batch": 0.0}), PAPER)
    assert p["training"]["encode"] == 0 and p["evaluation"]["encode"] == 0
