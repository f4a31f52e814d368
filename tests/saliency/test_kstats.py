"""spirl.saliency.kstats: the Fig. 8 histogram, the ideal ratio, the k_hist.csv file and spirl saliency-stats."""

import numpy as np
import pandas as pd
import pytest

from spirl import cli
from spirl.atari import games
from spirl.mae.checkpoint import save_mae
from spirl.saliency import error_map, kstats, patches, select

P = patches.NUM_PATCHES


def test_histogram_bins_are_closed_on_the_right_and_ideal_needs_more_than_999_per_mille():
    k = np.array([36] * 1001 + [144])  # 36/144 = 25% exactly
    hist = kstats.k_histogram(k)
    assert list(hist.columns) == kstats.K_HIST_COLUMNS and len(hist) == 20
    assert hist.loc[4, ["bin_start", "bin_end", "count"]].tolist() == [0.2, 0.25, 1001]
    assert hist["count"].iloc[19] == 1 and hist["count"].sum() == 1002
    assert set(hist["frames"]) == {1002}
    assert set(hist["ideal_ratio"]) == {0.25}  # 1001/1002 > 99.9%
    assert kstats.ideal_ratio(np.array([36] * 999 + [144])) == 1.0  # 999/1000 is not more than 99.9%
    assert kstats.ideal_ratio(np.array([37] * 5000)) == 0.3
    assert kstats.ideal_ratio(np.array([1])) == 0.05


def test_ideal_ratio_of_the_paper_fig8_histograms():
    mspacman = _from_counts([0, 0, 22, 1591, 29634, 16342, 2401, 10])
    frostbite = _from_counts([0, 0, 0, 0, 1, 2794, 1989, 216])
    assert kstats.ideal_ratio(mspacman) == games.get("MsPacman").ideal_ratio == 0.35
    assert kstats.ideal_ratio(frostbite) == games.get("Frostbite").ideal_ratio == 0.40
    assert kstats.k_histogram(mspacman)["count"].tolist()[:8] == [0, 0, 22, 1591, 29634, 16342, 2401, 10]


def test_k_hist_csv_round_trip(tmp_path):
    path = tmp_path / "k_hist.csv"
    kstats.write_k_hist(path, kstats.k_histogram(np.array([20, 30, 30, 40])))
    assert path.read_text().splitlines()[0] == "bin_start,bin_end,count,frames,ideal_ratio"
    hist, ideal = kstats.read_k_hist(path)
    assert ideal == 0.3 and hist["count"].sum() == 4
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not a K-statistics table"):
        kstats.read_k_hist(tmp_path / "other.csv")


def test_saliency_stats_command(tmp_path, mae, frames):
    from spirl.atari.frames import save_frames

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


def _from_counts(counts):
    """K values whose 5% histogram is ``counts`` (one K inside each bin)."""
    return np.concatenate([np.full(c, int(np.ceil(144 * (m + 0.5) / 20))) for m, c in enumerate(counts)])


def test_a_warned_count_keeps_the_frames_counted_and_resumes_after_them(tmp_path, mae, frames, monkeypatch, capsys):
    import os
    import signal

    from spirl import preempt
    from spirl.atari.frames import save_frames

    saved = {sig: signal.getsignal(sig) for sig in preempt.SIGNALS}
    save_mae(tmp_path / "model.pt", mae, game="MsPacman")
    save_frames(tmp_path / "f.npz", frames, {"game": "MsPacman", "frames": 3})
    argv = ["saliency-stats", "--mae", str(tmp_path / "model.pt"), "--frames", str(tmp_path / "f.npz"),
            "--device", "cpu", "--batch", "1"]
    assert cli.main([*argv, "--out", str(tmp_path / "whole.csv")]) == 0
    k_of = select.dynamic_k

    def k_then_signal(*args, **kwargs):  # SLURM's warning arrives while the second frame is counted
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return k_of(*args, **kwargs)

    calls: list[int] = []
    monkeypatch.setattr(select, "dynamic_k", k_then_signal)
    try:
        out = tmp_path / "k_hist.csv"
        assert cli.main([*argv, "--out", str(out)]) == preempt.EXIT_RESUME
        assert capsys.readouterr().err.strip().endswith(
            f"stopped by SIGTERM: K of 2 of 3 frames saved in {out}.partial.npz; the same command resumes after them")
        assert not out.exists()
        monkeypatch.setattr(select, "dynamic_k", k_of)
        assert cli.main([*argv, "--out", str(out)]) == 0
        assert "resuming after 2 frames counted before" in capsys.readouterr().err
        assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()
        assert not (tmp_path / "k_hist.csv.partial.npz").exists()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        preempt.reset()
