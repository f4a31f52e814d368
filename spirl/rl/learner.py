"""The Rainbow update (docs/method.md#step-rainbow): C51 projection, double DQN, n-step targets, PER weights.

One ``RainbowLearner`` owns the online and target networks, the Adam optimizer and the
generator of the noisy layers. ``update(batch)`` performs one gradient step on a
``spirl.rl.replay.ReplayBatch`` and returns the new priorities; the caller hands them to
the replay. Acting (``act``) uses the latest online noise sample; evaluation
(``act_greedy``) uses the mean weights (noise off). The target network is a hard copy
every ``target_update_period`` updates and keeps the noise sample it was copied with.

Shapes: B = batch, A = actions, Z = atoms.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from spirl.config import LearnerSettings, LogProbs, allowed
from spirl.rl.networks import RainbowNetwork

# rlpyt's NaN guard: probabilities are clamped to [EPS, 1] before the log, KL priorities to [EPS, 1/EPS].
EPS = 1e-6
LOG_PROBS = allowed(LogProbs)


def project_distribution(next_probs: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
                         support: torch.Tensor) -> torch.Tensor:
    """C51 projection of the shifted target distribution onto the fixed support.

    Each atom z_j of ``next_probs`` moves to Tz_j = R + discount * z_j (clipped to
    [v_min, v_max]) and its mass is split between the two nearest atoms in proportion to
    closeness, i.e. m_i = sum_j p_j * max(0, 1 - |b_j - i|) with b_j = (Tz_j - v_min) / dz.

    Args:
        next_probs: (B, Z) target probabilities at s_{t+n} for the chosen action.
        returns: (B,) n-step discounted returns sum_i gamma^i r_{t+i}.
        discounts: (B,) gamma^n, or 0 where the episode ended inside the n steps.
        support: (Z,) atom values, evenly spaced.

    Returns:
        (B, Z) projected distribution; each row sums to the row sum of ``next_probs``.
    """
    num_atoms = support.shape[0]
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (num_atoms - 1)
    tz = (returns.unsqueeze(1) + discounts.unsqueeze(1) * support.unsqueeze(0)).clamp(v_min, v_max)  # [B, Z]
    b = (tz - v_min) / delta  # [B, Z] fractional atom index of each moved atom
    atoms = torch.arange(num_atoms, device=support.device, dtype=support.dtype)
    share = (1.0 - (b.unsqueeze(2) - atoms).abs()).clamp(min=0.0)  # [B, Z (from), Z (to)]
    return (next_probs.unsqueeze(2) * share).sum(1)


@dataclass
class UpdateResult:
    """What one gradient step reports: the weighted loss and the batch's new priorities (B,)."""

    loss: float
    priorities: np.ndarray
    grad_norm: float
    target_synced: bool


class RainbowLearner:
    """Online/target networks, Adam, noise generator and the update counter of one run.

    Args:
        network: the online network (already built and on ``device``); the target is a copy.
        settings: learner settings (n-step, gamma, lr, Adam eps, clip, target period, double DQN).
        device: torch device of the networks and of every tensor given to them.
        seed: seed of the noisy layers' generator.
    """

    def __init__(self, network: RainbowNetwork, settings: LearnerSettings, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        if settings.log_probs not in LOG_PROBS:
            raise ValueError(f"learner.log_probs must be one of {', '.join(LOG_PROBS)}, got {settings.log_probs!r}")
        self.settings = settings
        self.device = torch.device(device)
        self.online = network.to(self.device)
        self.noise_generator = torch.Generator(device=self.device)
        self.noise_generator.manual_seed(int(seed))
        self.online.sample_noise(self.noise_generator)
        self.target = copy.deepcopy(self.online)
        for p in self.target.parameters():
            p.requires_grad_(False)
        # The fused kernel (CPU and CUDA) does Adam's arithmetic in one pass per tensor: same update, less time.
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=settings.lr, eps=settings.adam_eps, fused=True)
        self.updates = 0
        self.n_step_discount = float(settings.gamma) ** settings.n_step

    # ----------------------------------------------------------------------------------------- acting

    def _as_tensor(self, x: Any) -> torch.Tensor | None:
        if x is None:
            return None
        t = torch.as_tensor(x)
        if self.device.type == "cuda" and t.device.type == "cpu":
            t = t.pin_memory()  # page-locked (torch caches these blocks), so the copy below is asynchronous
        return t.to(self.device, non_blocking=True)

    @torch.inference_mode()
    def act(self, obs: Any, k: Any = None) -> np.ndarray:
        """Greedy actions (B,) of the online net with its latest noise sample (training)."""
        q = self.online.q_values(self._as_tensor(obs), self._as_tensor(k), noise=True)
        return q.argmax(-1).cpu().numpy()

    @torch.inference_mode()
    def act_greedy(self, obs: Any, k: Any = None) -> np.ndarray:
        """Greedy actions (B,) of the online net at its mean weights (evaluation: noise off)."""
        q = self.online.q_values(self._as_tensor(obs), self._as_tensor(k), noise=False)
        return q.argmax(-1).cpu().numpy()

    # --------------------------------------------------------------------------------------- learning

    def target_distribution(self, next_obs: torch.Tensor, next_k: torch.Tensor | None, returns: torch.Tensor,
                            done: torch.Tensor) -> torch.Tensor:
        """Projected n-step target distribution (B, Z) (no gradient).

        Double DQN: the next action is the argmax of the *online* net's expected Q at s_{t+n};
        its distribution comes from the target net. Bootstrapping is cut where ``done``.
        """
        with torch.no_grad():
            target_probs = self.target(next_obs, next_k, noise=True).softmax(-1)  # [B, A, Z]
            support = self.online.support
            if self.settings.double_dqn:
                next_q = (self.online(next_obs, next_k, noise=True).softmax(-1) * support).sum(-1)  # [B, A]
            else:
                next_q = (target_probs * support).sum(-1)
            next_action = next_q.argmax(-1)  # [B]
            next_probs = target_probs[torch.arange(len(next_action), device=self.device), next_action]  # [B, Z]
            discounts = self.n_step_discount * (1.0 - done.float())
            return project_distribution(next_probs, returns.float(), discounts, support)

    def update(self, batch: Any) -> UpdateResult:
        """One gradient step on a replay batch (fields ``obs, action, ret, next_obs, done, weight, k, next_k``).

        Loss = mean_b w_b * CE(target_b, p_b) = -mean_b w_b sum_z target_bz log p_bz, with log p from
        ``log_softmax`` of the logits (``learner.log_probs: log_softmax``, the released algos.py) or
        ``log(softmax.clamp(1e-6, 1))`` (``clamped``, rlpyt's, which gives atoms below 1e-6 no gradient;
        docs/method.md#choice-29). The new priority of each sample is KL(target || p) with both clamped to
        [1e-6, 1], clamped to [1e-6, 1e6] (rlpyt), whichever the loss.
        """
        s = self.settings
        self.online.sample_noise(self.noise_generator)  # once per update, before it (acting reuses it)
        obs, k = self._as_tensor(batch.obs), self._as_tensor(batch.k)
        next_obs, next_k = self._as_tensor(batch.next_obs), self._as_tensor(batch.next_k)
        action = self._as_tensor(batch.action).long()
        target = self.target_distribution(next_obs, next_k, self._as_tensor(batch.ret),
                                          self._as_tensor(batch.done))  # [B, Z]

        logits = self.online(obs, k, noise=True)[torch.arange(len(action), device=self.device), action]  # [B, Z]
        p = logits.softmax(-1).clamp(EPS, 1.0)  # [B, Z]
        log_p = logits.log_softmax(-1) if s.log_probs == "log_softmax" else p.log()  # [B, Z]
        losses = -(target * log_p).sum(-1)  # [B] cross-entropy
        weight = self._as_tensor(batch.weight).float()
        loss = (losses * weight).mean()

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.online.parameters(), s.grad_clip)
        self.optimizer.step()

        with torch.no_grad():
            t = target.clamp(EPS, 1.0)
            kl = (t * (t.log() - p.detach().log())).sum(-1).clamp(EPS, 1.0 / EPS)  # [B]
        self.updates += 1
        synced = self.updates % s.target_update_period == 0
        if synced:
            self.sync_target()
        return UpdateResult(float(loss.item()), kl.cpu().numpy().astype(np.float64), float(grad_norm), synced)

    def sync_target(self) -> None:
        """Hard copy of the online net into the target net, noise sample included."""
        self.target.load_state_dict(self.online.state_dict())

    # -------------------------------------------------------------------------------------- checkpoint

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: networks, optimizer, noise generator, counter.

        A deep copy: torch's state dicts share storage with the live tensors, and a later update would
        otherwise change a state that was meant to be a snapshot.
        """
        return copy.deepcopy({
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "noise_generator": self.noise_generator.get_state(),
            "updates": self.updates,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.noise_generator.set_state(state["noise_generator"].cpu())  # generator states are CPU byte tensors
        self.updates = int(state["updates"])


__all__ = ["EPS", "LOG_PROBS", "RainbowLearner", "UpdateResult", "project_distribution"]
