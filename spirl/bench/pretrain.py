"""``spirl bench pretrain``: MAE pretraining throughput and the paper schedule's wall time.

Times the update ``spirl pretrain`` runs (masked forward, backward, AdamW step at batch 64,
the paper's architecture) with the thread count in force, and prints samples per second and
the estimated wall time of the paper's schedule: 50 epochs x 781 batches x 64 for a 50K-frame
game, 50 x 78 x 64 for Frostbite's 5K frames.

The straightforward version is the same model with the same weights whose attention is the
textbook ``softmax(Q K^T / sqrt(d)) V`` written out with explicit matrices, instead of torch's
fused ``scaled_dot_product_attention``. Both are timed in the same process in alternating
rounds, so a busy machine slows both alike; the printed ratio is their throughput ratio.

``--precision bfloat16`` (``float16`` on CUDA) times both versions in that format (autocast, as
``pretrain.precision`` does) and the shipped one in float32 too, then trains float32 and the format from
the same initialisation on the same batches and masks for ``--loss-updates`` updates (on ``--frames``,
a real dataset, when given) and prints the two final losses.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from spirl.atari.frames import load_frames
from spirl.bench import Options, emit, sync
from spirl.config import MAEArch, PretrainSettings
from spirl.devices import check_precision
from spirl.mae.model import MAE, Attention, frames_to_images
from spirl.mae.optim import build_optimizer
from spirl.mae.pretrain import grad_scaler, iterations_per_epoch, pretrain_step
from spirl.utils import choose_device, set_threads

PAPER_FRAMES = {"50K-frame game": 50_000, "Frostbite (5K frames)": 5_000}


class ExplicitAttention(Attention):
    """Attention with the score matrix written out: (B, N, C) -> (B, N, C); same parameters."""

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.split_heads(x)  # each (B, H, N, hd)
        scores = q @ k.transpose(-2, -1) * self.head_dim**-0.5  # (B, H, N, N)
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else scores + attn_mask
        weights = scores.softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(B, N, C))


def with_explicit_attention(model: MAE) -> MAE:
    """A copy of ``model`` whose every attention is ``ExplicitAttention`` with the same weights."""
    twin = copy.deepcopy(model)
    for block in [*twin.blocks, *twin.decoder_blocks]:
        explicit = ExplicitAttention(block.attn.qkv.in_features, block.attn.num_heads)
        explicit.load_state_dict(block.attn.state_dict())
        block.attn = explicit.to(block.attn.qkv.weight.device)
    return twin


def _timed_updates(model: MAE, optimizer: torch.optim.Optimizer, imgs: torch.Tensor, settings: PretrainSettings,
                   mask_rng: torch.Generator, n: int, device: str, dtype: torch.dtype = torch.float32) -> float:
    """Seconds taken by ``n`` pretraining updates."""
    sync(device)
    scaler = grad_scaler(dtype, device)
    started = time.perf_counter()
    for _ in range(n):
        loss = pretrain_step(model, optimizer, imgs, settings, mask_rng, dtype=dtype, scaler=scaler)
    float(loss)  # waits for the device
    return time.perf_counter() - started


def loss_curves(init: MAE, batches: list[torch.Tensor], settings: PretrainSettings, device: str,
                dtypes: tuple[torch.dtype, ...]) -> dict[torch.dtype, list[float]]:
    """Train a copy of ``init`` per format on the same batches and masks; the loss of every update."""
    out = {}
    for dtype in dtypes:
        model = copy.deepcopy(init).to(device).train()
        optimizer, masks, scaler = build_optimizer(model, settings), torch.Generator().manual_seed(1), None
        scaler = grad_scaler(dtype, device)
        out[dtype] = [float(pretrain_step(model, optimizer, b, settings, masks, dtype=dtype, scaler=scaler))
                      for b in batches]
    return out


def run(args: Options) -> int:
    """Print samples/s of both versions, the paper schedule's estimated hours, and the ratio last."""

    threads = set_threads(args.threads)
    device = choose_device(args.device)
    dtype = check_precision(args.precision, device, what="pretrain.precision", allow_slow=True)
    iters = args.iters if args.iters is not None else (2 if args.quick else 12)
    rounds = 1 if args.quick else 3
    per_round = max(1, iters // rounds)
    settings = PretrainSettings(batch_size=args.batch_size)

    torch.manual_seed(args.seed)
    init = MAE(MAEArch())
    shipped = copy.deepcopy(init).to(device)
    straightforward = with_explicit_attention(shipped)
    loss_updates = args.loss_updates if args.loss_updates is not None else (2 if args.quick else 40)
    batches = _batches(args, 1 + (loss_updates if dtype != torch.float32 else 0))
    imgs = batches[0].to(device)
    with torch.no_grad():  # the two versions compute the same function
        a = shipped(imgs, settings.mask_ratio, torch.Generator().manual_seed(1))[0]
        b = straightforward(imgs, settings.mask_ratio, torch.Generator().manual_seed(1))[0]
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"explicit attention disagrees with the shipped model: loss {a.item()} vs {b.item()}")

    versions = {"shipped": (shipped, dtype), "straightforward": (straightforward, dtype)}
    if dtype != torch.float32:
        versions["shipped_float32"] = (copy.deepcopy(shipped), torch.float32)
    optimizers = {name: build_optimizer(m, settings) for name, (m, _) in versions.items()}
    rngs = {name: torch.Generator().manual_seed(1) for name in versions}
    seconds = dict.fromkeys(versions, 0.0)
    for name, (model, dt) in versions.items():  # one untimed update each: allocations, lazy init
        _timed_updates(model, optimizers[name], imgs, settings, rngs[name], 1, device, dt)
    for _ in range(rounds):  # alternate, so load from other processes hits both versions alike
        for name, (model, dt) in versions.items():
            seconds[name] += _timed_updates(model, optimizers[name], imgs, settings, rngs[name], per_round, device, dt)
    samples = rounds * per_round * args.batch_size
    rate = {name: samples / s for name, s in seconds.items()}

    print(f"MAE pretraining (paper architecture, batch {args.batch_size}, mask ratio {settings.mask_ratio}) on "
          f"{device} with {threads} thread(s), {args.precision}, {rounds * per_round} timed updates per version")
    print(f"  shipped (scaled_dot_product_attention): {rate['shipped']:8.1f} samples/s "
          f"({args.batch_size / rate['shipped']:.3f} s per update)")
    print(f"  straightforward (explicit softmax(QK^T)V): {rate['straightforward']:5.1f} samples/s "
          f"({args.batch_size / rate['straightforward']:.3f} s per update)")
    figures: dict[str, Any] = {"samples_per_s": rate, "batch_size": args.batch_size,
                               "timed_updates": rounds * per_round, "batches_from": args.frames or "random images"}
    if dtype != torch.float32:
        f32 = rate["shipped_float32"]
        print(f"  shipped in float32: {f32:8.1f} samples/s; {args.precision} is {rate['shipped'] / f32:.2f}x of it")
        curves = loss_curves(init, [b.to(device) for b in batches[1:]], settings, device, (torch.float32, dtype))
        a, b = curves[torch.float32], curves[dtype]
        worst = max(abs(x - y) for x, y in zip(a, b))
        print(f"  loss after {len(a)} updates from the same initialisation, batches and masks "
              f"({args.frames or 'random images'}): float32 {a[-1]:.4f}, {args.precision} {b[-1]:.4f} "
              f"(difference {b[-1] - a[-1]:+.4f}; largest over the updates {worst:.4f})")
        figures.update(speedup_vs_float32=rate["shipped"] / f32, loss_float32=a, loss=b)
    paper = PretrainSettings()
    for label, frames in PAPER_FRAMES.items():
        total = paper.epochs * iterations_per_epoch(frames, paper.batch_size) * paper.batch_size
        print(f"  paper schedule, {label}: {paper.epochs} epochs x {iterations_per_epoch(frames, paper.batch_size)} "
              f"x {paper.batch_size} = {total:,} samples -> {total / rate['shipped'] / 3600:.2f} h estimated")
        figures[f"paper_schedule_h_{frames}"] = total / rate["shipped"] / 3600
    ratio = rate["shipped"] / rate["straightforward"]
    print(f"ratio shipped/straightforward: {ratio:.2f}x")
    emit(args, figures, ratio=ratio, device=device, precision=args.precision)
    return 0


def _batches(args: Options, n: int) -> list[torch.Tensor]:
    """``n`` batches of images (B, 3, 96, 96): from ``--frames`` (drawn with a seeded generator), else uniform noise."""
    g = torch.Generator().manual_seed(args.seed)
    if args.frames:
        frames = torch.from_numpy(load_frames(args.frames)[0])
        return [frames_to_images(frames[torch.randint(len(frames), (args.batch_size,), generator=g)])
                for _ in range(n)]
    return [torch.rand(args.batch_size, 3, 96, 96, generator=g) for _ in range(n)]
