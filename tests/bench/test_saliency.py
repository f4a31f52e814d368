"""spirl bench saliency --quick --json: both error-map paths at two batch sizes, exact in float32."""


def test_saliency_benchmark_checks_exactness_and_reports_both_batches(bench_json):
    doc = bench_json("saliency", "--game", "Seaquest")
    rows = doc["figures"]["batches"]
    assert [r["batch"] for r in rows] == [1, 2] and doc["figures"]["k_max"] == 28
    assert all(r["identical_selection"] and r["max_abs_difference"] <= 1e-4 for r in rows)
    assert doc["ratio"] == min(r["ratio"] for r in rows)


def test_the_error_cache_is_measured_on_consecutive_dataset_frames(bench_json, tmp_path):
    from spirl.atari.frames import collect_frames, save_frames

    frames, meta = collect_frames("Seaquest", frames=6, seed=0, show_progress=False)
    path = save_frames(tmp_path / "f.npz", frames, meta)
    doc = bench_json("saliency", "--game", "Seaquest", "--frames", str(path), "--cache-frames", "6", "--batch", "3")
    c = doc["figures"]["error_cache"]
    assert c["frames"] == 6 and 0 < c["hit_rate"] < 1  # consecutive frames share neighbourhoods
    assert c["same_k"] == 1.0 and c["mean_jaccard"] == 1.0 and c["max_error_diff"] < 1e-5
