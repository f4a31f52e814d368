"""The masked autoencoder (MAE) that SPIRL pretrains per game (docs/method.md#step-mae, appendix Table 4).

A small ViT written as named steps, each with its shapes:
    imgs (B, 3, 96, 96) in [0, 1]
      -> patchify                 (B, P, p*p*3)      P = 144 patches of 8 x 8, values ordered (p_row, p_col, channel)
      -> embed_patches            (B, P, D)          conv patch embedding + fixed 2-D sin-cos position
      -> random_masking           (B, L, D)          L = int(P * (1 - mask_ratio)) visible tokens; mask 1 = hidden
      -> encode_visible           (B, 1 + L, D)      cls token + encoder blocks + LayerNorm
      -> forward_decoder          (B, P, p*p*3)      mask tokens put back in place, decoder blocks, linear head
      -> forward_loss             ()                 MSE against the per-patch-normalised target

Mask semantics everywhere: **1 = hidden (masked), 0 = visible**. Masks are drawn from a
``torch.Generator`` passed in, never from the global RNG, so a run is repeatable and the
saliency code can run the same modules on hand-picked subsets of patches.

Defaults are the paper's (``spirl.config.MAEArch``): encoder 64 wide, 3 blocks, 4 heads;
decoder 128 wide, 3 blocks, 8 heads; 162,432 encoder + 628,160 decoder parameters, 790,784
in total with the cls and mask tokens (the frozen position embeddings are buffers).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spirl.config import MAEArch, check_arch, validate_sections

LN_EPS = 1e-6  # LayerNorm eps of the released MAE (timm default is 1e-5)
NORM_PIX_EPS = 1e-6  # added to the unbiased per-patch variance of the target


def validate_arch(arch: MAEArch) -> None:
    """Refuse an architecture the model cannot be built with (one sentence naming the field).

    The ranges live on ``MAEArch``'s fields and the rules in ``spirl.config.check_arch`` (the one validation).

    Raises:
        ValueError: a field out of its range, a non-divisible image/patch size or width/heads, or a
            width the 2-D sin-cos embedding cannot split into four equal parts.
    """
    validate_sections("", {"mae": asdict(arch)})
    check_arch(arch)


# ---------------------------------------------------------------------------------------------
# Position embedding


def sincos_pos_embed_2d(dim: int, grid_size: int, cls_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding, shape ``(cls_token + grid_size**2, dim)`` float32.

    Row ``1 + r * grid_size + c`` belongs to patch (r, c). As in the MAE implementation the first
    ``dim / 2`` channels encode the *column* c and the last ``dim / 2`` the *row* r; each half is
    ``[sin(pos * w_k), cos(pos * w_k)]`` with ``w_k = 10000 ** (-k / (dim / 4))``, k = 0 .. dim/4 - 1.
    The cls row, if present, is all zeros.
    """
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (dim/4,)
    coords = torch.arange(grid_size, dtype=torch.float64)
    row, col = torch.meshgrid(coords, coords, indexing="ij")  # each (G, G): row[r, c] = r, col[r, c] = c

    def encode_1d(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega[None]  # (G*G, dim/4)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (G*G, dim/2)

    emb = torch.cat([encode_1d(col), encode_1d(row)], dim=1)  # (G*G, dim)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=torch.float64), emb], dim=0)  # (1 + G*G, dim)
    return emb.float()


# ---------------------------------------------------------------------------------------------
# Transformer block (pre-LN ViT block: x + attn(LN(x)), then x + mlp(LN(x)))


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    ``forward(x (B, N, C), attn_mask=None) -> (B, N, C)``. ``attn_mask`` is passed to
    ``scaled_dot_product_attention``: a bool tensor broadcastable to ``(B, heads, N, N)``
    where True means "query may attend to key", or a float tensor added to the logits.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not a multiple of its {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, C) -> q, k, v, each (B, heads, N, C / heads)."""
        B, N = x.shape[:2]
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)  # (B, N, 3, H, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, hd)
        return q, k, v

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.split_heads(x)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, N, hd)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))  # (B, N, C)


class Mlp(nn.Module):
    """Two linear layers with a GELU between: (B, N, C) -> (B, N, hidden) -> (B, N, C)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block with residuals, no dropout: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), attn_mask)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------------------------
# The MAE


class MAE(nn.Module):
    """Masked autoencoder ViT of docs/method.md#step-mae, built from an ``MAEArch``.

    Shapes use B = batch, P = (img_size / patch_size)**2 patches (144), D = ``embed_dim`` (64),
    Dd = ``decoder_embed_dim`` (128), and p*p*3 = 192 values per patch.
    """

    def __init__(self, arch: MAEArch | None = None) -> None:
        super().__init__()
        arch = arch if arch is not None else MAEArch()
        validate_arch(arch)
        self.arch = arch
        self.has_decoder = True  # False once loaded from an encoder-only checkpoint (see load_mae)
        self.grid_size = arch.img_size // arch.patch_size  # 12
        self.num_patches = self.grid_size**2  # P = 144
        self.patch_dim = arch.patch_size**2 * arch.in_chans  # 192
        D, Dd = arch.embed_dim, arch.decoder_embed_dim

        # Encoder.
        self.patch_embed = nn.Conv2d(arch.in_chans, D, kernel_size=arch.patch_size, stride=arch.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        # Fixed embeddings are buffers rebuilt from the architecture, so they are neither trained,
        # decayed nor stored in checkpoints.
        self.register_buffer("pos_embed", sincos_pos_embed_2d(D, self.grid_size)[None], persistent=False)
        self.blocks = nn.ModuleList([Block(D, arch.num_heads, arch.mlp_ratio) for _ in range(arch.depth)])
        self.norm = nn.LayerNorm(D, eps=LN_EPS)

        # Decoder.
        self.decoder_embed = nn.Linear(D, Dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
        self.register_buffer("decoder_pos_embed", sincos_pos_embed_2d(Dd, self.grid_size)[None], persistent=False)
        self.decoder_blocks = nn.ModuleList(
            [Block(Dd, arch.decoder_num_heads, arch.mlp_ratio) for _ in range(arch.decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(Dd, eps=LN_EPS)
        self.decoder_pred = nn.Linear(Dd, self.patch_dim)

        self.initialize_weights()

    def initialize_weights(self) -> None:
        """The released initialisation (docs/method.md#step-mae), drawn from torch's global RNG like any module init."""
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # as if the conv were a Linear(p*p*3 -> D)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # -- pixels <-> patches -------------------------------------------------------------------

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, P, p*p*C); patch i = row * grid + col, values ordered (p_row, p_col, channel)."""
        expected = (self.arch.in_chans, self.arch.img_size, self.arch.img_size)
        if imgs.ndim != 4 or tuple(imgs.shape[1:]) != expected:
            raise ValueError(f"the MAE expects images of shape (B, {self.arch.in_chans}, {self.arch.img_size}, "
                             f"{self.arch.img_size}), got {tuple(imgs.shape)}")
        B, C = imgs.shape[:2]
        p, g = self.arch.patch_size, self.grid_size
        x = imgs.reshape(B, C, g, p, g, p)  # (B, C, row, p_row, col, p_col)
        x = x.permute(0, 2, 4, 3, 5, 1)  # (B, row, col, p_row, p_col, C)
        return x.reshape(B, g * g, p * p * C)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, p*p*C) -> (B, C, H, W); the inverse of ``patchify``."""
        B = x.shape[0]
        p, g, C = self.arch.patch_size, self.grid_size, self.arch.in_chans
        x = x.reshape(B, g, g, p, p, C)  # (B, row, col, p_row, p_col, C)
        x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, row, p_row, col, p_col)
        return x.reshape(B, C, g * p, g * p)

    def normalized_target(self, imgs: torch.Tensor) -> torch.Tensor:
        """Reconstruction target (B, P, p*p*C): each patch standardised on its own when ``norm_pix_loss``.

        ``(t - mean) / sqrt(var + 1e-6)`` with torch's unbiased variance over the patch's values, as
        released; a uniform patch therefore has an all-zero target.
        """
        target = self.patchify(imgs)
        if not self.arch.norm_pix_loss:
            return target
        mean = target.mean(dim=-1, keepdim=True)  # (B, P, 1)
        var = target.var(dim=-1, keepdim=True)  # (B, P, 1), unbiased
        return (target - mean) / (var + NORM_PIX_EPS).sqrt()

    # -- encoder ------------------------------------------------------------------------------

    def embed_patches(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> patch tokens with their position (B, P, D); no cls token yet."""
        x = self.patch_embed(imgs)  # (B, D, grid, grid)
        x = x.flatten(2).transpose(1, 2)  # (B, P, D), row-major patch order
        return x + self.pos_embed[:, 1:, :]

    def random_masking(
        self, x: torch.Tensor, mask_ratio: float, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random subset of each sample's tokens.

        Args:
            x: tokens (B, P, D).
            mask_ratio: share of hidden tokens; ``int(P * (1 - mask_ratio))`` are kept (36 of 144 at 0.75).
            generator: the source of the uniform noise whose argsort picks the kept tokens (on CPU or
                on ``x``'s device). ``None`` is allowed only when ``mask_ratio`` is 0 (nothing hidden).

        Returns:
            x_kept (B, L, D) the visible tokens in shuffled order, mask (B, P) float with 1 = hidden,
            ids_restore (B, P) int64 such that gathering ``[x_kept, hidden...]`` by it restores patch order.
        """
        B, P, D = x.shape
        len_keep = int(P * (1 - mask_ratio))
        if not 0 < len_keep <= P:
            raise ValueError(f"mask_ratio {mask_ratio} leaves {len_keep} of {P} patches visible")
        if generator is None:
            if len_keep != P:
                raise ValueError("random_masking needs a torch.Generator when mask_ratio > 0")
            ids_shuffle = torch.arange(P, device=x.device).expand(B, P)
        else:
            noise = torch.rand(B, P, generator=generator, device=generator.device).to(x.device)  # (B, P)
            ids_shuffle = torch.argsort(noise, dim=1)  # ascending: the first len_keep are kept
        ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, P)
        ids_keep = ids_shuffle[:, :len_keep]  # (B, L)
        x_kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))  # (B, L, D)
        mask = torch.ones(B, P, device=x.device)
        mask[:, :len_keep] = 0  # in shuffled order: visible first
        mask = torch.gather(mask, 1, ids_restore)  # (B, P) in patch order, 1 = hidden
        return x_kept, mask, ids_restore

    def encode_visible(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Patch tokens with position (B, L, D) -> latent (B, 1 + L, D): prepend cls, blocks, LayerNorm."""
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + L, D)
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.norm(x)

    def forward_encoder(
        self, imgs: torch.Tensor, mask_ratio: float, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """imgs (B, C, H, W) -> latent (B, 1 + L, D), mask (B, P) with 1 = hidden, ids_restore (B, P)."""
        x = self.embed_patches(imgs)  # (B, P, D)
        x, mask, ids_restore = self.random_masking(x, mask_ratio, generator)  # (B, L, D)
        return self.encode_visible(x), mask, ids_restore

    # -- decoder ------------------------------------------------------------------------------

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent (B, 1 + L, D), ids_restore (B, P) -> prediction (B, P, p*p*C), cls position dropped."""
        x = self.decoder_embed(latent)  # (B, 1 + L, Dd)
        B, n_tokens, Dd = x.shape
        mask_tokens = self.mask_token.expand(B, self.num_patches + 1 - n_tokens, -1)  # (B, P - L, Dd)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # (B, P, Dd) in shuffled order
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, Dd))  # (B, P, Dd) in patch order
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.decoder_pos_embed  # (B, 1 + P, Dd)
        for block in self.decoder_blocks:
            x = block(x)
        x = self.decoder_pred(self.decoder_norm(x))  # (B, 1 + P, p*p*C)
        return x[:, 1:, :]

    # -- loss ---------------------------------------------------------------------------------

    def forward_loss(
        self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor, loss_all: bool = True
    ) -> torch.Tensor:
        """Scalar reconstruction loss.

        Per-patch MSE (B, P) against ``normalized_target(imgs)``, then the mean over all P patches
        (``loss_all``, as released: docs/method.md#choice-10) or over the hidden patches only (``mask`` == 1,
        the original MAE).
        """
        per_patch = ((pred - self.normalized_target(imgs)) ** 2).mean(dim=-1)  # (B, P)
        if loss_all:
            return per_patch.mean()
        return (per_patch * mask).sum() / mask.sum()

    def forward(
        self,
        imgs: torch.Tensor,
        mask_ratio: float = 0.75,
        generator: torch.Generator | None = None,
        loss_all: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """imgs (B, C, H, W) in [0, 1] -> (loss (), pred (B, P, p*p*C), mask (B, P) with 1 = hidden)."""
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask, loss_all), pred, mask


# ---------------------------------------------------------------------------------------------
# Parameter counts

ENCODER_MODULES = ("patch_embed", "blocks", "norm")
DECODER_MODULES = ("decoder_embed", "decoder_blocks", "decoder_norm", "decoder_pred")


def count_parameters(model: MAE) -> dict[str, int]:
    """Trainable parameter counts as in appendix Table 4.

    ``encoder``: patch embedding, blocks and final norm (162,432 by default); ``decoder``: decoder
    embedding, blocks, norm and head (628,160); ``total``: every parameter, the cls and mask tokens
    included (790,784). The fixed position embeddings are buffers and not counted.
    """

    def count(names: tuple[str, ...]) -> int:
        return sum(p.numel() for name in names for p in getattr(model, name).parameters())

    return {
        "encoder": count(ENCODER_MODULES),
        "decoder": count(DECODER_MODULES),
        "total": sum(p.numel() for p in model.parameters()),
    }


# ---------------------------------------------------------------------------------------------
# Input


class FrameShapeError(ValueError):
    """Frames are not uint8 (B, S, S, 3), or images not float (B, 3, S, S)."""


def frames_to_images(frames: np.ndarray | torch.Tensor, device: str | torch.device = "cpu",
                     size: int = 96) -> torch.Tensor:
    """The MAE's input: uint8 frames ``(B, S, S, 3)`` (numpy or torch) -> float32 ``(B, 3, S, S)`` in [0, 1].

    ``S = size`` (96, the frames of ``spirl collect``). The conversion runs on ``device`` (a uint8
    copy is a quarter of a float one).
    """
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (size, size, 3):
        raise FrameShapeError(f"frames must be uint8 of shape (B, {size}, {size}, 3), got {x.dtype} {tuple(x.shape)}")
    return x.to(device).permute(0, 3, 1, 2).float().div_(255.0)  # [B, 3, S, S]
