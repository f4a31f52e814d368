"""Rainbow networks: noisy layers, the dueling C51 head, the DE CNN and the SPIRL attention encoder.

Read top to bottom: ``NoisyLinear`` (docs/method.md#step-rainbow) -> ``DuelingC51Head`` -> the two
encoders, ``DataEfficientCNN`` (docs/method.md#baseline-de-rainbow) and ``SpirlAttentionEncoder``
(docs/method.md#step-encoder)
-> ``RainbowNetwork`` (encoder + head) -> ``build_network`` (from the settings).

Shapes: B = batch, F = stacked frames (4), A = actions, Z = atoms (51),
Kmax = most salient patches per frame, D = MAE feature width (64).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spirl.config import AgentSettings, Padding, Pooling, allowed

# rlpyt scales the encoder's gradient by 1/sqrt(2) in the dueling head: two streams share one encoder.
DUELING_GRAD_SCALE = 2**-0.5


# ---------------------------------------------------------------------------------------- noisy layer


class NoisyLinear(nn.Module):
    """Factorised Gaussian noisy linear layer (Fortunato et al.), initialised as the released code.

    weight = mu_w + sigma_w * (f(eps_out) f(eps_in)^T), bias = mu_b + sigma_b * f(eps_out),
    f(x) = sign(x) sqrt(|x|). Init: mu ~ U(+-1/sqrt(in)), sigma_w = sigma0/sqrt(in) and
    sigma_b = sigma0/sqrt(out) (the released code divides the bias sigma by the *output*
    width, a quirk kept here; docs/method.md#step-rainbow). The noise lives in buffers, so a target network
    copied with ``load_state_dict`` keeps the noise of the last sync, as released.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.out_features, self.sigma0 = in_features, out_features, sigma0
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        self.register_buffer("weight_epsilon", torch.zeros(out_features, in_features))
        self.register_buffer("bias_epsilon", torch.zeros(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.bias_mu.uniform_(-bound, bound)
            self.weight_sigma.fill_(self.sigma0 / math.sqrt(self.in_features))
            self.bias_sigma.fill_(self.sigma0 / math.sqrt(self.out_features))

    @torch.no_grad()
    def sample_noise(self, generator: torch.Generator) -> None:
        """Draw a new factorised noise sample from ``generator`` (on this layer's device)."""
        dev = self.weight_mu.device
        eps_in = torch.randn(self.in_features, generator=generator, device=dev)
        eps_out = torch.randn(self.out_features, generator=generator, device=dev)
        eps_in = eps_in.sign() * eps_in.abs().sqrt()
        eps_out = eps_out.sign() * eps_out.abs().sqrt()
        self.weight_epsilon.copy_(torch.outer(eps_out, eps_in))
        self.bias_epsilon.copy_(eps_out)

    def forward(self, x: torch.Tensor, noise: bool = True) -> torch.Tensor:
        """(..., in) -> (..., out); ``noise=False`` uses the mean weights (evaluation)."""
        if not noise:
            return F.linear(x, self.weight_mu, self.bias_mu)
        weight = self.weight_mu + self.weight_sigma * self.weight_epsilon
        bias = self.bias_mu + self.bias_sigma * self.bias_epsilon
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, sigma0={self.sigma0}"


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by ``scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad * ctx.scale, None


# ----------------------------------------------------------------------------------------------- head


class DuelingC51Head(nn.Module):
    """Dueling noisy C51 head: features (B, in) -> atom logits (B, A, Z).

    Value and advantage streams are NoisyLinear(in -> hidden) -> ReLU -> NoisyLinear(hidden -> .);
    logits = V + (A - mean_a A). As released, the advantage stream also has a per-atom bias
    shared by all actions (it cancels in A - mean_a A but is a parameter, so the head has
    394,287 parameters for 9 actions at in = 128). ``dueling=False`` gives a single stream.
    """

    def __init__(self, in_features: int, n_actions: int, *, hidden: int = 256, num_atoms: int = 51,
                 sigma0: float = 0.5, dueling: bool = True) -> None:
        super().__init__()
        self.n_actions, self.num_atoms, self.dueling = n_actions, num_atoms, dueling
        if dueling:
            self.value_hidden = NoisyLinear(in_features, hidden, sigma0)
            self.value_out = NoisyLinear(hidden, num_atoms, sigma0)
            self.advantage_hidden = NoisyLinear(in_features, hidden, sigma0)
            self.advantage_out = NoisyLinear(hidden, n_actions * num_atoms, sigma0)
            self.advantage_bias = nn.Parameter(torch.zeros(num_atoms))
        else:
            self.hidden = NoisyLinear(in_features, hidden, sigma0)
            self.out = NoisyLinear(hidden, n_actions * num_atoms, sigma0)

    def forward(self, features: torch.Tensor, noise: bool = True) -> torch.Tensor:
        B = features.shape[0]
        if not self.dueling:
            return self.out(F.relu(self.hidden(features, noise)), noise).view(B, self.n_actions, self.num_atoms)
        x = _ScaleGrad.apply(features, DUELING_GRAD_SCALE)
        value = self.value_out(F.relu(self.value_hidden(x, noise)), noise).view(B, 1, self.num_atoms)
        advantage = self.advantage_out(F.relu(self.advantage_hidden(x, noise)), noise)
        advantage = advantage.view(B, self.n_actions, self.num_atoms) + self.advantage_bias  # [B, A, Z]
        return value + advantage - advantage.mean(dim=1, keepdim=True)  # [B, A, Z]


# ------------------------------------------------------------------------------------------- encoders


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class DataEfficientCNN(nn.Module):
    """The data-efficient Rainbow encoder (docs/method.md#baseline-de-rainbow): uint8 stacks -> 1024 features.

    Conv(C_in -> 32, k5 s5 p3) -> ReLU -> Conv(32 -> 64, k5 s5 p1) -> ReLU -> flatten.
    84x84 grey x 4 gives C_in = 4 (84 -> 18 -> 4); 96x96 RGB x 4 gives C_in = 12
    (96 -> 20 -> 4); both flatten to 64 * 4 * 4 = 1024. Pixels are divided by 255 here.
    ``channels_last`` runs the convolutions in NHWC memory order, about twice as fast on CPU
    (and free: the stacked HWC frames are already NHWC once frames and colours are merged).
    """

    def __init__(self, frame_shape: tuple[int, ...], stack: int = 4, channels_last: bool = True) -> None:
        super().__init__()
        height, width = frame_shape[0], frame_shape[1]
        channels = frame_shape[2] if len(frame_shape) == 3 else 1
        self.channels_last = channels_last
        self.conv1 = nn.Conv2d(stack * channels, 32, kernel_size=5, stride=5, padding=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, stride=5, padding=1)
        h = _conv_out(_conv_out(height, 5, 5, 3), 5, 5, 1)
        w = _conv_out(_conv_out(width, 5, 5, 3), 5, 5, 1)
        self.out_features = 64 * h * w
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """obs uint8 (B, F, H, W, C) or (B, F, H, W) -> (B, 1024); ``k`` is ignored."""
        if obs.dim() == 4:
            obs = obs.unsqueeze(-1)
        B, Fr, H, W, C = obs.shape
        if self.channels_last:
            # (B, H, W, F*C) contiguous is exactly NCHW in channels_last memory order.
            x = obs.permute(0, 2, 3, 1, 4).reshape(B, H, W, Fr * C).contiguous().permute(0, 3, 1, 2)
        else:
            x = obs.permute(0, 1, 4, 2, 3).reshape(B, Fr * C, H, W)  # [B, F*C, H, W] contiguous
        x = x.float() / 255.0
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))  # [B, 64, 4, 4]
        return x.flatten(1)


class AttentionBlock(nn.Module):
    """One pre-LN transformer block (timm layout: qkv bias, GELU MLP, LayerNorm eps 1e-6).

    With ``residual=False`` (the paper, Table 13): y = Attn(LN1(x)); z = MLP(LN2(y)).
    With ``residual=True`` (the released code's default): y = x + Attn(LN1(x)); z = y + MLP(LN2(y)).
    """

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, residual: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by {num_heads} heads")
        self.num_heads, self.residual = num_heads, residual
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp_hidden)
        self.fc2 = nn.Linear(mlp_hidden, dim)

    def attention(self, x: torch.Tensor, keep: torch.Tensor | None, first_only: bool = False) -> torch.Tensor:
        """x (N, L, dim), keep bool (N, 1, 1, L) or None (True = may be attended to) -> (N, L', dim).

        ``first_only`` computes the output of query 0 only (L' = 1); keys and values still cover all L tokens.
        """
        N, L, D = x.shape
        H, hd = self.num_heads, D // self.num_heads
        if first_only:
            q = F.linear(x[:, :1], self.qkv.weight[:D], self.qkv.bias[:D])  # [N, 1, D]
            kv = F.linear(x, self.qkv.weight[D:], self.qkv.bias[D:])  # [N, L, 2D]
        else:
            qkv = self.qkv(x)  # [N, L, 3D]
            q, kv = qkv[..., :D], qkv[..., D:]
        Lq = q.shape[1]
        q = q.reshape(N, Lq, H, hd).transpose(1, 2).contiguous()  # [N, H, Lq, hd]
        k, v = kv.reshape(N, L, 2, H, hd).permute(2, 0, 3, 1, 4).contiguous()  # 2 x [N, H, L, hd]
        # Written out rather than F.scaled_dot_product_attention: with 4-dim heads and ~44 tokens, torch's
        # fused CPU kernel is several times slower than two contiguous batched matmuls, and for a single
        # query, products and sums beat thousands of tiny matmuls.
        q = q * hd**-0.5
        scores = (q * k).sum(-1, keepdim=True).transpose(-2, -1) if first_only else q @ k.transpose(-2, -1)
        if keep is not None:  # scores [N, H, Lq, L]
            scores = scores.masked_fill(~keep, float("-inf"))
        attn = scores.softmax(-1)
        out = (attn.transpose(-2, -1) * v).sum(-2, keepdim=True) if first_only else attn @ v  # [N, H, Lq, hd]
        return self.proj(out.transpose(1, 2).reshape(N, Lq, D))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, first_only: bool = False) -> torch.Tensor:
        """x (N, L, dim) -> (N, L, dim), or (N, 1, dim) for token 0 alone when ``first_only``.

        Every step after the attention is per token, so token 0's output needs only its own query:
        the cls-pooled last block skips the other L - 1 queries and MLP rows (the same function).
        """
        y = self.attention(self.norm1(x), keep, first_only)
        if self.residual:
            y = (x[:, :1] if first_only else x) + y
        z = self.fc2(F.gelu(self.fc1(self.norm2(y))))
        return y + z if self.residual else z


class SpirlAttentionEncoder(nn.Module):
    """SPIRL's attention module (docs/method.md#step-encoder): MAE features (B, F, Kmax, D) -> (B, F * proj_dim).

    Each frame's Kmax feature rows are projected to ``proj_dim`` (32), prefixed with one
    trainable cls token shared by all frames, and run through the block(s) **within that
    frame only**. The frame vector is the cls output (``pooling="cls"``) or the mean of the
    Kmax token outputs (``"avg"``); the F frame vectors are concatenated (4 x 32 = 128).

    A frame keeps K <= Kmax patches; rows K.. are padding. ``padding``:
    ``zero`` (as released): padded rows are zero features, i.e. real tokens equal to the
    projection bias; ``token``: padded rows are replaced by a trainable pad token after the
    projection; ``mask``: padded rows are kept out of attention (and out of the average) using
    the true K, at least one row as released (max(K, 1): a frame with K = 0, such as an empty
    stack slot, keeps its first, zero row). No final LayerNorm (released ``--attention_norm_out False``): the released
    module builds one but never uses it, so it has 14,880 parameters and this one 14,816.
    """

    def __init__(self, feature_dim: int = 64, stack: int = 4, *, proj_dim: int = 32, num_heads: int = 8,
                 mlp_hidden: int = 128, depth: int = 1, residual: bool = False, pooling: str = "cls",
                 padding: str = "zero") -> None:
        super().__init__()
        if pooling not in allowed(Pooling):
            raise ValueError(f"pooling must be one of {', '.join(allowed(Pooling))}, got {pooling!r}")
        if padding not in allowed(Padding):
            raise ValueError(f"padding must be one of {', '.join(allowed(Padding))}, got {padding!r}")
        self.pooling, self.padding, self.proj_dim = pooling, padding, proj_dim
        self.proj = nn.Linear(feature_dim, proj_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, proj_dim))
        self.pad_token = nn.Parameter(torch.zeros(1, 1, 1, proj_dim)) if padding == "token" else None
        self.blocks = nn.ModuleList(
            AttentionBlock(proj_dim, num_heads, mlp_hidden, residual) for _ in range(depth)
        )
        self.out_features = stack * proj_dim
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.pad_token is not None:
            nn.init.trunc_normal_(self.pad_token, std=0.02)

    def forward(self, features: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """features float (B, F, Kmax, D), k int64 (B, F) true patch counts -> (B, F * proj_dim).

        ``k`` may be None only with zero padding (which does not need it).
        """
        B, Fr, Kmax, _ = features.shape
        x = self.proj(features)  # [B, F, Kmax, proj]
        valid = None
        if self.padding != "zero":
            if k is None:
                raise ValueError(f"padding {self.padding!r} needs the number of patches K of every frame")
            # masked attention keeps max(K, 1) tokens as released, so an empty (zeroed) frame still attends to one
            # zero-feature token instead of cls alone and averages to the projection bias, not to a zero vector
            count = k.clamp(min=1) if self.padding == "mask" else k
            valid = torch.arange(Kmax, device=features.device) < count.unsqueeze(-1)  # [B, F, Kmax]
        if self.pad_token is not None:
            x = torch.where(valid.unsqueeze(-1), x, self.pad_token)
        x = x.reshape(B * Fr, Kmax, self.proj_dim)
        x = torch.cat([self.cls_token.expand(B * Fr, 1, self.proj_dim), x], dim=1)  # [B*F, 1+Kmax, proj]
        keep = None
        if self.padding == "mask":
            rows = valid.reshape(B * Fr, Kmax)
            keep = torch.cat([rows.new_ones(B * Fr, 1), rows], dim=1)[:, None, None, :]  # [B*F, 1, 1, 1+Kmax]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, keep, first_only=self.pooling == "cls" and i == last)
        if self.pooling == "cls":
            pooled = x[:, 0]  # [B*F, proj]
        elif self.padding == "mask":
            rows = valid.reshape(B * Fr, Kmax, 1).to(x.dtype)
            pooled = (x[:, 1:] * rows).sum(1) / rows.sum(1).clamp(min=1.0)
        else:
            pooled = x[:, 1:].mean(dim=1)  # padded tokens included, as released
        return pooled.reshape(B, Fr * self.proj_dim)


# -------------------------------------------------------------------------------------------- network


class RainbowNetwork(nn.Module):
    """Encoder + dueling noisy C51 head: observation -> atom logits (B, A, Z).

    ``support`` (Z,) holds the atom values z = linspace(v_min, v_max, Z).
    """

    def __init__(self, encoder: nn.Module, n_actions: int, *, hidden: int = 256, num_atoms: int = 51,
                 v_min: float = -10.0, v_max: float = 10.0, sigma0: float = 0.5, dueling: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = DuelingC51Head(encoder.out_features, n_actions, hidden=hidden, num_atoms=num_atoms,
                                   sigma0=sigma0, dueling=dueling)
        self.n_actions = n_actions
        self.register_buffer("support", torch.linspace(v_min, v_max, num_atoms))

    def forward(self, obs: torch.Tensor, k: torch.Tensor | None = None, noise: bool = True) -> torch.Tensor:
        """obs (B, F, ...) (uint8 pixels or float features), k (B, F) or None -> logits (B, A, Z)."""
        return self.head(self.encoder(obs, k), noise)

    def q_values(self, obs: torch.Tensor, k: torch.Tensor | None = None, noise: bool = True) -> torch.Tensor:
        """Expected returns (B, A): sum_z z * softmax(logits)."""
        return (self(obs, k, noise).softmax(-1) * self.support).sum(-1)

    def noisy_layers(self) -> list[NoisyLinear]:
        return [m for m in self.modules() if isinstance(m, NoisyLinear)]

    def sample_noise(self, generator: torch.Generator) -> None:
        """Resample every noisy layer, in a fixed order, from ``generator``."""
        for layer in self.noisy_layers():
            layer.sample_noise(generator)


def build_network(agent: AgentSettings, n_actions: int, *, frame_shape: tuple[int, ...], stack: int = 4,
                  channels_last: bool = True) -> RainbowNetwork:
    """The network of one method from its ``AgentSettings``.

    ``frame_shape`` is one replay frame: (H, W, C) or (H, W) uint8 pixels for ``de_cnn``, or
    (Kmax, D) features for ``spirl``.
    """
    if agent.encoder == "de_cnn":
        encoder: nn.Module = DataEfficientCNN(frame_shape, stack, channels_last=channels_last)
    elif agent.encoder == "spirl":
        if len(frame_shape) != 2:
            raise ValueError(f"the SPIRL encoder takes (Kmax, D) feature frames, got shape {frame_shape}")
        encoder = SpirlAttentionEncoder(
            frame_shape[1], stack, proj_dim=agent.proj_dim, num_heads=agent.attention_heads,
            mlp_hidden=agent.attention_mlp, depth=agent.attention_depth, residual=agent.residual,
            pooling=agent.pooling, padding=agent.padding,
        )
    else:
        raise ValueError(f"unknown encoder {agent.encoder!r}; allowed: spirl, de_cnn")
    return RainbowNetwork(encoder, n_actions, hidden=agent.hidden_size, num_atoms=agent.num_atoms,
                          v_min=agent.v_min, v_max=agent.v_max, sigma0=agent.noisy_sigma0, dueling=agent.dueling)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "AttentionBlock",
    "DataEfficientCNN",
    "DuelingC51Head",
    "NoisyLinear",
    "RainbowNetwork",
    "SpirlAttentionEncoder",
    "build_network",
    "count_parameters",
]
