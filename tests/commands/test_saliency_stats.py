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


def test_a_warned_count_keeps_the_frames_counted_and_resumes_after_them(tmp_path, mae, monkeypatch, capsys):
    import os
    import signal

    from spirl import preempt

    frames = benchmark_frames(3, "MsPacman", seed=1)  # real ALE frames
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
