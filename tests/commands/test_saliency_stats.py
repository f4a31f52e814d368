"""spirl saliency-stats: the command line over spirl.saliency.kstats."""

from spirl import cli
from spirl.atari.frames import save_frames
from spirl.bench.saliency import benchmark_frames
from spirl.mae.checkpoint import save_mae
from spirl.saliency import error_map, kstats, patches, select

P = patches.NUM_PATCHES


def test_saliency_stats_command(tmp_path, mae):
    frames = benchmark_frames(2, "MsPacman", seed=1)  # real ALE frames
    save_mae(tmp_path / "model.pt", mae, game="MsPacman")
    save_frames(tmp_path / "f.npz", frames[:2], {"game": "MsPacman", "frames": 2})
    out = tmp_path / "k_hist.csv"
    argv = ["saliency-stats", "--mae", str(tmp_path / "model.pt"), "--frames", str(tmp_path / "f.npz"),
            "--out", str(out), "--device", "cpu"]
    assert cli.main(argv) == 0
    hist, ideal = kstats.read_k_hist(out)
    k = select.dynamic_k(error_map.error_map(mae, patches.frames_to_images(frames[:2])), P).numpy()
    assert hist["count"].sum() == 2 and ideal == kstats.ideal_ratio(k)
    assert cli.main([*argv, "--limit", "0"]) == 2  # an empty selection is refused
