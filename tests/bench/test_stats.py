"""spirl bench stats --quick --json: the vectorised probability of improvement equals rliable's."""


def test_stats_benchmark_agrees_with_rliable(bench_json):
    doc = bench_json("stats", "--games", "4")
    f = doc["figures"]
    assert f["max_difference"] < 1e-12 and f["pairs"] == 6 and f["games"] == 4
    assert doc["ratio"] == f["rliable_s"] / f["shipped_s"]
