"""Pictures of salient patch selection: plotting functions, panels and ``spirl visualize``."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from spirl import cli
from spirl.bench.saliency import benchmark_frames
from spirl.mae.checkpoint import save_mae
from spirl.saliency import panels as V
from spirl.saliency.patches import NUM_PATCHES
from spirl.saliency.select import dynamic_k, salient_index


@pytest.fixture(scope="module")
def frames():
    return benchmark_frames(2, "Seaquest", seed=0)


def _is_png(path, min_width=200):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert img.width >= min_width and img.height > 100


def test_plot_functions_draw_on_the_given_ax_and_return_it(mae, frames):
    errors = torch.rand(NUM_PATCHES, generator=torch.Generator().manual_seed(0))
    fig = Figure()
    axes = fig.subplots(1, 4)
    assert V.plot_frame(axes[0], frames[0]) is axes[0]
    assert V.plot_error_map(axes[1], errors) is axes[1]
    assert V.plot_lorenz(axes[2], errors, k_max=43) is axes[2]
    assert V.plot_selection(axes[3], frames[0], torch.tensor([0, 13, -1])) is axes[3]
    img = axes[1].images[0].get_array()
    assert img.shape == (96, 96) and float(img.min()) == 0.0 and float(img.max()) == 1.0  # min-max, x8
    assert np.all(img[:8, :8] == img[0, 0])
    assert len(axes[3].patches) == 2  # padding ignored
    k = int(dynamic_k(errors[None], 43)[0])
    assert any(f"K = {k}" in t.get_text() for t in axes[2].get_legend().get_texts())
    cut = next(line for line in axes[2].lines if line.get_color() == "C3")
    assert cut.get_xdata()[0] == pytest.approx((NUM_PATCHES - k) / NUM_PATCHES)


def test_reconstruction_is_scaled_per_patch(mae):
    pred = torch.randn(NUM_PATCHES, 192) * 5 + 3
    img = V.reconstruction_image(mae, pred)
    assert img.shape == (96, 96, 3) and img.min() == 0.0 and img.max() == 1.0
    patch = img[:8, 8:16]  # patch 1
    assert patch.min() == 0.0 and patch.max() == 1.0


def test_fixed_ratio_panel_shows_the_nine_sweeps(frames):
    errors = torch.rand(NUM_PATCHES, generator=torch.Generator().manual_seed(1))
    fig = V.fixed_ratio_panel(frames[0], errors)
    titles = [ax.get_title() for ax in fig.axes]
    ks = [14, 21, 28, 36, 43, 50, 57, 64, 72]
    assert titles == [f"mask {r:.2f}: K = {k}" for r, k in zip(V.FIXED_MASK_RATIOS, ks)]
    top14 = set(salient_index(errors[None], torch.tensor([14]), 14)[0].tolist())
    corners = {(int(p.get_x() + 0.5) // 8 + 12 * (int(p.get_y() + 0.5) // 8)) for p in fig.axes[0].patches}
    assert corners == top14


def test_visualize_writes_two_pngs_per_frame(tmp_path, mae, frames):
    paths = V.visualize(mae, frames, [1], tmp_path / "vis", max_ratio=0.2)
    assert [p.name for p in paths] == ["frame00001_panel.png", "frame00001_fixed.png"]
    for p in paths:
        _is_png(p)
    with pytest.raises(ValueError, match="outside"):
        V.visualize(mae, frames, [5], tmp_path / "vis")


def test_visualize_command(tmp_path, mae, frames, capsys):
    from spirl.atari.frames import save_frames

    save_mae(tmp_path / "model.pt", mae, game="Seaquest")
    save_frames(tmp_path / "f.npz", frames, {"game": "Seaquest", "frames": len(frames)})
    base = ["visualize", "--mae", str(tmp_path / "model.pt"), "--frames", str(tmp_path / "f.npz"),
            "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert cli.main([*base, "--index", "0"]) == 0
    _is_png(tmp_path / "out" / "frame00000_panel.png")
    _is_png(tmp_path / "out" / "frame00000_fixed.png")
    assert cli.main([*base, "--index", "0", "--max-ratio", "1.5"]) == 2
    assert "--max-ratio: must be in (0, 1]" in capsys.readouterr().err
