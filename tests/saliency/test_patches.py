"""spirl.saliency.patches: the patch grid, neighbour rings, input checks and refusals."""

import numpy as np
import pytest
import torch

from spirl import cli
from spirl.config import SaliencySettings
from spirl.mae.checkpoint import save_mae
from spirl.saliency import error_map, patches, select

P = patches.NUM_PATCHES


def test_neighbour_sets_have_3_5_8_members_in_row_major_order():
    rings = patches.neighbours()
    assert len(rings) == P
    assert rings[0] == (1, 12, 13)
    assert rings[11] == (10, 22, 23)
    assert rings[5] == (4, 6, 16, 17, 18)
    assert rings[13] == (0, 1, 2, 12, 14, 24, 25, 26)
    sizes = {i: len(r) for i, r in enumerate(rings)}
    assert [i for i, n in sizes.items() if n == 3] == [0, 11, 132, 143]
    assert sum(n == 5 for n in sizes.values()) == 40 and sum(n == 8 for n in sizes.values()) == 100
    for i, ring in enumerate(rings):
        assert list(ring) == sorted(ring) and i not in ring
        assert all(i in rings[j] for j in ring)  # the relation is symmetric
        assert all(abs(j // 12 - i // 12) <= 1 and abs(j % 12 - i % 12) <= 1 for j in ring)


def test_groups_of_4_40_100_cover_every_patch_once():
    groups = patches.neighbour_groups()
    assert [(g.targets.numel(), g.size) for g in groups] == [(4, 3), (40, 5), (100, 8)]
    covered = torch.cat([g.targets for g in groups])
    assert sorted(covered.tolist()) == list(range(P))
    rings = patches.neighbours()
    for g in groups:
        for t, ring in zip(g.targets.tolist(), g.rings.tolist()):
            assert tuple(ring) == rings[t]


def test_checkpoint_without_decoder_is_refused(tmp_path, mae, capsys):
    save_mae(tmp_path / "enc.pt", mae, game="MsPacman", include_decoder=False)
    with pytest.raises(patches.MissingDecoderError, match="decoder"):
        patches.load_checked_mae(tmp_path / "enc.pt")
    from spirl.atari.frames import save_frames

    save_frames(tmp_path / "f.npz", np.zeros((1, 96, 96, 3), np.uint8), {"game": "MsPacman", "frames": 1})
    code = cli.main(["saliency-stats", "--mae", str(tmp_path / "enc.pt"), "--frames", str(tmp_path / "f.npz"),
                     "--out", str(tmp_path / "k.csv")])
    assert code == 2 and "decoder" in capsys.readouterr().err
    assert not (tmp_path / "k.csv").exists()


def test_frames_of_the_wrong_size_or_type_are_refused(mae):
    ext = select.SalientPatchExtractor(mae, SaliencySettings(), k_max=43)
    with pytest.raises(patches.FrameShapeError, match="96"):
        ext(np.zeros((1, 84, 84, 3), np.uint8))
    with pytest.raises(patches.FrameShapeError, match="uint8"):
        ext(np.zeros((1, 96, 96, 3), np.float32))
    with pytest.raises(patches.FrameShapeError):
        error_map.error_map(mae, torch.zeros(1, 96, 96, 3))
