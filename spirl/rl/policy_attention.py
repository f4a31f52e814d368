"""Policy attention: what a trained SPIRL agent looks at (the paper's interpretability analysis).

For one trained run, play one evaluation episode (eval-mode environment of the run's
first evaluation seed, greedy on the noise-free Q with epsilon 0.001, as ``spirl.rl.evaluate``
plays it) and, at every step, record the frame, the salient patches the frozen MAE
selected, the attention the agent's pooling token pays to each of them, and the action.
``spirl attention`` draws a strip of evenly spaced frames (PNG) and an animated GIF:
unselected patches are dimmed, selected ones shaded by attention, the chosen action is
written under each frame; ``attention.csv`` holds the numbers.

Attention read-out (last block of ``spirl.rl.networks.SpirlAttentionEncoder``, newest frame of
the stack, heads averaged): with ``pooling = cls`` the row of the cls query — the weights
of the token the Q head reads; with ``pooling = avg`` the mean over the patch queries of
the attention each patch receives. Padded slots (zero padding makes them real tokens)
are dropped from the display.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spirl.atari.envs import eval_seeds, make_env
from spirl.config import settings_from_dict
from spirl.integrity import load_torch
from spirl.rl.checkpoint import default_checkpoint_dir
from spirl.rl.networks import SpirlAttentionEncoder, build_network
from spirl.rl.trainer import EVAL_STREAM  # evaluation's epsilon stream, so the strip replays an evaluation
from spirl.saliency.patches import load_checked_mae
from spirl.saliency.select import SalientPatchExtractor
from spirl.utils import atomic_path, atomic_write_text, progress

TRAINED_FORMAT = "spirl-trained-network-1"
SHADE = np.array([230, 159, 0], dtype=np.float32)  # Okabe-Ito orange, as in spirl.analysis.plot_axes


class AttentionError(ValueError):
    """A run that cannot give an attention strip (not SPIRL, missing network, mismatched MAE)."""


@dataclass
class StepRecord:
    """One step of the episode: the frame (H, W, 3) uint8, the action, K, the selected patch indices
    (Kmax,) int64 padded with -1, and the attention weight of each selected patch (Kmax,) (0 on padding)."""

    step: int
    frame: np.ndarray
    action: int
    action_name: str
    q: float
    k: int
    index: np.ndarray
    weights: np.ndarray


# ============================================================================== the read-out


@torch.no_grad()
def pooling_attention(encoder: torch.nn.Module, features: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Attention of the pooling token over the patch tokens of single frames.

    Args:
        encoder: a ``SpirlAttentionEncoder``.
        features: float (B, Kmax, D) selected-patch features of B frames (one frame each, not a stack).
        k: int64 (B,) true patch counts.
    Returns:
        (B, Kmax) weights, heads averaged (the cls row, or for average pooling the mean received
        attention over the patch queries); padded slots are not renormalised away here.
    """
    B, Kmax, _ = features.shape
    x = encoder.proj(features)  # [B, Kmax, p]
    valid = torch.arange(Kmax, device=features.device) < k.unsqueeze(-1)  # [B, Kmax]
    if encoder.pad_token is not None:
        x = torch.where(valid.unsqueeze(-1), x, encoder.pad_token[0])
    x = torch.cat([encoder.cls_token.expand(B, 1, encoder.proj_dim), x], dim=1)  # [B, 1+Kmax, p]
    keep = None
    if encoder.padding == "mask":
        keep = torch.cat([valid.new_ones(B, 1), valid], dim=1)[:, None, None, :]  # [B, 1, 1, 1+Kmax]
    for block in encoder.blocks[:-1]:
        x = block(x, keep)
    block = encoder.blocks[-1]
    h = block.norm1(x)
    L, D = h.shape[1], h.shape[2]
    H, hd = block.num_heads, D // block.num_heads
    qkv = block.qkv(h).reshape(B, L, 3, H, hd).permute(2, 0, 3, 1, 4)  # 3 x [B, H, L, hd]
    scores = (qkv[0] * hd**-0.5) @ qkv[1].transpose(-2, -1)  # [B, H, L, L]
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    attn = scores.softmax(-1).mean(1)  # [B, L, L], heads averaged
    if encoder.pooling == "cls":
        return attn[:, 0, 1:]  # [B, Kmax]
    rows = valid.to(attn.dtype) if encoder.padding == "mask" else torch.ones_like(valid, dtype=attn.dtype)
    return (attn[:, 1:, 1:] * rows[:, :, None]).sum(1) / rows.sum(1, keepdim=True).clamp(min=1.0)


# ============================================================================== loading a run


def trained_network_path(run_dir: Path, meta: dict[str, Any]) -> Path:
    """Where ``spirl train`` left the run's trained network: run.json's ``final_network``, else beside the
    checkpoints (``results/.ckpt/runs/...``)."""

    recorded = Path(meta["final_network"]) if meta.get("final_network") else None
    if recorded is not None and recorded.is_file():
        return recorded
    # run.json may hold a path relative to where the run was trained; the default layout still finds it.
    return default_checkpoint_dir(run_dir) / "final.pt"


def load_trained(path: str | Path, device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """Rebuild a trained network from ``final.pt``: (RainbowNetwork in eval mode, MethodSettings, payload)."""

    path = Path(path)
    payload = load_torch(path, what="trained network", error=AttentionError,
                         remedy="pass the final.pt that 'spirl train' writes at the end of a run (--network)")
    if not isinstance(payload, dict) or payload.get("format") != TRAINED_FORMAT:
        raise AttentionError(f"{path} is not a trained network of format {TRAINED_FORMAT}")
    settings = settings_from_dict(payload["settings"])
    if settings.agent.encoder != "spirl":
        raise AttentionError(f"{path}: method {payload['method']} uses the {settings.agent.encoder!r} encoder; "
                             f"policy attention needs a SPIRL run")
    network = build_network(settings.agent, int(payload["n_actions"]), frame_shape=tuple(payload["frame_shape"]),
                            stack=settings.protocol.frame_stack)
    network.load_state_dict(payload["online"])
    if not isinstance(network.encoder, SpirlAttentionEncoder):
        raise AttentionError(f"{path}: the network's encoder is not SPIRL's attention module")
    return network.to(device).eval(), settings, payload


# ============================================================================== the episode


@torch.no_grad()
def play_episode(network: Any, extractor: Any, env: Any, *, stack: int, epsilon: float, rng: np.random.Generator,
                 max_steps: int, device: str = "cpu") -> list[StepRecord]:
    """Play one evaluation episode (or its first ``max_steps`` steps) and record every step.

    Stacking and action choice follow ``spirl.rl.evaluate``: the stack starts as zeros with the
    first frame last, actions are greedy on the noise-free Q, replaced by a uniform random one
    with probability ``epsilon``.
    """
    records: list[StepRecord] = []
    frame = env.reset()
    feats = extractor(frame[None])
    kmax = feats.features.shape[1]
    obs = np.zeros((stack, kmax, feats.features.shape[2]), dtype=np.float32)  # [F, Kmax, D]
    ks = np.zeros(stack, dtype=np.int64)  # [F]
    bar = progress(total=max_steps, desc="attention episode", unit="step")
    for t in range(max_steps):
        obs[:-1], ks[:-1] = obs[1:].copy(), ks[1:].copy()
        obs[-1], ks[-1] = feats.features[0].cpu().numpy(), int(feats.k[0])
        q = network.q_values(torch.as_tensor(obs[None], device=device), torch.as_tensor(ks[None], device=device),
                             noise=False)[0]
        action = int(q.argmax())
        if rng.random() < epsilon:
            action = int(rng.integers(0, env.n_actions))
        weights = pooling_attention(network.encoder, feats.features.to(device), feats.k.to(device))[0].cpu().numpy()
        index = feats.index[0].cpu().numpy()
        weights = np.where(index >= 0, weights, 0.0)
        records.append(StepRecord(t, frame.copy(), action, env.action_meanings[action], float(q.max()),
                                  int(feats.k[0]), index, weights))
        bar.update(1)
        result = env.step(action)
        if result.game_over:
            break
        frame = result.frame
        feats = extractor(frame[None])
    bar.close()
    return records


# ============================================================================== drawing


def shade(frame: np.ndarray, index: np.ndarray, weights: np.ndarray, patch: int = 8) -> np.ndarray:
    """Frame (H, W, 3) uint8 with unselected patches dimmed and selected ones shaded by attention.

    The most attended patch gets the strongest orange tint; a patch with no weight stays as it is.
    """
    out = frame.astype(np.float32) * 0.35
    grid = frame.shape[1] // patch
    top = float(weights.max()) if weights.size and weights.max() > 0 else 1.0
    for i, w in zip(index, weights):
        if i < 0:
            continue
        r, c = divmod(int(i), grid)
        sl = (slice(r * patch, (r + 1) * patch), slice(c * patch, (c + 1) * patch))
        a = 0.75 * float(w) / top
        out[sl] = (1.0 - a) * frame[sl].astype(np.float32) + a * SHADE
    return np.clip(out, 0, 255).astype(np.uint8)


def strip_steps(n_records: int, n_frames: int) -> list[int]:
    """``n_frames`` evenly spaced record positions over the episode (all of them when it is shorter)."""
    if n_records <= n_frames:
        return list(range(n_records))
    return sorted(set(np.linspace(0, n_records - 1, n_frames).round().astype(int).tolist()))


def save_strip(records: list[StepRecord], path: str | Path, *, n_frames: int = 8, title: str = "",
               caption: str = "") -> Path:
    """A row of ``n_frames`` shaded frames with step, action and K under each, as PNG (``caption`` is stored
    as the PNG's Description, which ``spirl report`` shows under the figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [records[i] for i in strip_steps(len(records), n_frames)]
    fig, axes = plt.subplots(1, len(chosen), figsize=(1.9 * len(chosen), 2.5), squeeze=False, layout="constrained")
    for ax, r in zip(axes[0], chosen):
        ax.imshow(shade(r.frame, r.index, r.weights), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"t={r.step}  {r.action_name}\nK={r.k}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Description": caption or title})
    plt.close(fig)
    return path


def save_gif(records: list[StepRecord], path: str | Path, *, every: int = 1, scale: int = 3,
             duration_ms: int = 100) -> Path:
    """Every ``every``-th step as an animated GIF (frames upscaled ``scale`` x, the action written under them)."""
    from PIL import Image, ImageDraw

    images = []
    for r in records[::max(1, every)]:
        img = Image.fromarray(shade(r.frame, r.index, r.weights)).resize(
            (r.frame.shape[1] * scale, r.frame.shape[0] * scale), Image.NEAREST)
        canvas = Image.new("RGB", (img.width, img.height + 18), (255, 255, 255))
        canvas.paste(img, (0, 0))
        ImageDraw.Draw(canvas).text((3, img.height + 3), f"t={r.step} {r.action_name} K={r.k}", fill=(0, 0, 0))
        images.append(canvas)
    if not images:
        raise AttentionError("no steps were recorded")
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


def write_records(records: list[StepRecord], path: str | Path) -> None:
    """``attention.csv``: step, action, action_name, q, k, patches and weights (``;``-joined)."""
    lines = ["step,action,action_name,q,k,patches,weights"]
    for r in records:
        keep = r.index >= 0
        lines.append(f"{r.step},{r.action},{r.action_name},{r.q:.6g},{r.k},"
                     + ";".join(str(int(i)) for i in r.index[keep]) + ","
                     + ";".join(f"{w:.6g}" for w in r.weights[keep]))
    atomic_write_text(path, "\n".join(lines) + "\n")


# ============================================================================== CLI


def make_attention(run_dir: str | Path, mae_path: str | Path, out_dir: str | Path, *, network: str | Path | None = None,
                   frames: int = 8, max_steps: int = 400, gif_every: int = 2, device: str = "cpu") -> dict[str, Any]:
    """Attention strip (PNG), GIF and CSV of one trained SPIRL run; returns a summary."""

    run_dir = Path(run_dir)
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        raise FileNotFoundError(f"no run.json in {run_dir}")
    meta = json.loads(run_json.read_text())
    net, settings, payload = load_trained(network or trained_network_path(run_dir, meta), device)
    game, seed = payload["game"], int(payload["seed"])
    mae, _ = load_checked_mae(mae_path, game=game, device=device)
    if mae.arch.embed_dim != int(payload["frame_shape"][1]):
        raise AttentionError(f"MAE {mae_path} gives {mae.arch.embed_dim}-wide features, the network was trained on "
                             f"{payload['frame_shape'][1]}")
    extractor = SalientPatchExtractor(mae, settings.saliency, int(payload["k_max"]), seed=seed, device=device)
    env = make_env(game, "eval", eval_seeds(seed, 1)[0], settings.protocol)
    records = play_episode(net, extractor, env, stack=settings.protocol.frame_stack,
                           epsilon=settings.budget.eval_epsilon, rng=np.random.default_rng([seed, EVAL_STREAM]),
                           max_steps=max_steps, device=device)
    out = Path(out_dir)
    title = (f"{payload['method']} on {game}, seed {seed}: selected patches shaded by the agent's "
             f"{settings.agent.pooling} attention")
    caption = (f"Policy attention of {payload['method']} on {game} (seed {seed}): frames of one evaluation episode, "
               f"unselected patches dimmed, salient patches tinted by the attention of the agent's "
               f"{settings.agent.pooling} pooling, the chosen action under each frame.")
    save_strip(records, out / "attention.png", n_frames=frames, title=title, caption=caption)
    save_gif(records, out / "attention.gif", every=gif_every)
    write_records(records, out / "attention.csv")
    return {"method": payload["method"], "game": game, "seed": seed, "steps": len(records),
            "max_steps": max_steps}
