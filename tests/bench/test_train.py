"""spirl bench train --quick --json: learner steps/s of DE-Rainbow, SPIRL and the straightforward step."""


def test_train_benchmark_reports_every_learner(bench_json):
    doc = bench_json("train")
    f = doc["figures"]
    for key in ("de_rainbow", "spirl_learner", "straightforward"):
        assert f[key]["steps_per_s"] > 0 and f[key]["ms_update"] > 0
    assert doc["ratio"] == f["de_rainbow"]["steps_per_s"] / f["straightforward"]["steps_per_s"]
    assert f["projected_de_rainbow_100k_min"] > 0
