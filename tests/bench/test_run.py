"""spirl bench run --quick --json: measured rates and the projected run, for a pixel agent and for SPIRL."""

import pytest


@pytest.mark.parametrize("method", ["de_rainbow", "spirl"])
def test_run_projection_reports_rates_and_a_broken_down_total(bench_json, method):
    doc = bench_json("run", "--method", method, "--game", "Seaquest", "--device", "cpu")
    f = doc["figures"]
    assert f["method"] == method and f["game"] == "Seaquest" and len(f["random_lengths"]) == 1
    for key in ("random", "trained"):
        p = f[f"projection_{key}"]
        assert set(p) >= {"training", "evaluation", "checkpoints", "total_s", "frames"}
        assert p["total_s"] == pytest.approx(sum(sum(part.values()) for part in
                                                 (p["training"], p["evaluation"], p["checkpoints"])))
        assert f[f"hours_{key}"] == pytest.approx(p["total_s"] / 3600)
    assert f["hours_trained"] > f["hours_random"]  # longer episodes cost more
    if method == "spirl":
        assert f["rates"]["encode_1"] > 0 and doc["ratio"] > 1  # the straightforward error map is slower
        cache = f["features_s"]
        rates = ("hit_rate_1", "hit_rate_batch", "long_hit_rate_1", "long_hit_rate_batch")
        assert all(0 <= cache[k] <= 1 for k in rates)
        assert f["hours_trained_uncached"] > 0 and cache["encode_1_uncached"] > 0
    else:
        assert f["rates"]["encode_1"] == 0 and doc["ratio"] == 1.0


def test_features_at_a_higher_hit_rate_scale_with_the_misses():
    from spirl.bench.run import at_hit_rate

    # 100 ms without the cache, 40 ms at 75% hits: 80 ms per frame of misses at 0%, so 20 ms fixed
    assert at_hit_rate(0.100, 0.040, 0.75, 0.90) == pytest.approx(0.040 - 0.080 * 0.15)
    assert at_hit_rate(0.100, 0.040, 0.75, 0.60) == 0.040  # never more optimistic than the measurement
    assert at_hit_rate(0.100, 0.040, 0.0, 0.9) == 0.040
