"""spirl bench env --quick --json: a smoke run whose JSON line carries the steps/s of both pipelines."""


def test_env_benchmark_reports_both_pipelines(bench_json):
    doc = bench_json("env", "--steps", "100")
    f = doc["figures"]
    assert doc["device"] == "cpu" and doc["precision"] == "float32"
    assert f["ours_steps_per_s"] > 0 and f["stock_steps_per_s"] > 0 and f["steps"] == 100
    assert doc["ratio"] == f["ours_steps_per_s"] / f["stock_steps_per_s"]
