"""Fixtures of the saliency tests: real ALE frames and their error maps under the shared frozen MAE."""

import pytest

from spirl.bench.saliency import benchmark_frames
from spirl.saliency.error_map import error_map_reference, neighbour_reconstruction
from spirl.saliency.patches import frames_to_images


@pytest.fixture(scope="module")
def frames():
    return benchmark_frames(3, "MsPacman", seed=1)  # real ALE frames, uint8 (3, 96, 96, 3)


@pytest.fixture(scope="module")
def maps(mae, frames):
    imgs = frames_to_images(frames[:2])
    errors, preds = neighbour_reconstruction(mae, imgs)
    return imgs, errors, preds, error_map_reference(mae, imgs)


@pytest.fixture(scope="session")
def trained_mae():
    """A small MAE (1 encoder block, 2-block 32-d decoder) briefly trained on real MsPacman frames; 8 held-out frames.

    Random weights give flat, noisy error maps; a trained MAE starts to rebuild the background, so
    its error maps have some of the structure the reduced-precision agreement is about (10-30 s on one core).
    """
    import torch

    from spirl.config import MAEArch, PretrainSettings
    from spirl.mae.model import MAE
    from spirl.mae.optim import build_optimizer
    from spirl.mae.pretrain import pretrain_step

    frames = benchmark_frames(72, "MsPacman", seed=4)
    train, held_out = frames[:64], frames[64:]
    torch.manual_seed(0)
    model = MAE(MAEArch(depth=1, decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=2))
    settings = PretrainSettings(batch_size=16, blr=1e-2)
    opt, masks, pick = build_optimizer(model, settings), torch.Generator(), torch.Generator()
    masks.manual_seed(1)
    pick.manual_seed(2)
    imgs = frames_to_images(train)
    for _ in range(120):
        pretrain_step(model, opt, imgs[torch.randint(len(imgs), (16,), generator=pick)], settings, masks)
    return model.eval().requires_grad_(False), held_out
