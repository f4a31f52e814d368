"""spirl bench saliency --quick --json: both error-map paths at two batch sizes, exact in float32."""


def test_saliency_benchmark_checks_exactness_and_reports_both_batches(bench_json):
    doc = bench_json("saliency", "--game", "Seaquest")
    rows = doc["figures"]["batches"]
    assert [r["batch"] for r in rows] == [1, 2] and doc["figures"]["k_max"] == 28
    assert all(r["identical_selection"] and r["max_abs_difference"] <= 1e-4 for r in rows)
    assert doc["ratio"] == min(r["ratio"] for r in rows)
