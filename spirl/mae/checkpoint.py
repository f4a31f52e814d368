"""The MAE checkpoint format: ``results/mae/{mae}/{game}/model.pt``.

A dict with a ``format`` tag, the ``arch`` (``MAEArch`` as a dict), the ``state_dict`` (CPU
tensors, with or without the decoder), the canonical ``game``, ``has_decoder`` and ``extra``
(pretraining settings, epoch, loss, versions). :func:`load_mae` is the one reader: it refuses
another format, another game or another architecture with one line naming each difference.
"""

from __future__ import annotations

import os
from dataclasses import asdict, fields
from typing import Any

import torch

from spirl.atari.games import canonical
from spirl.config import MAEArch
from spirl.integrity import load_torch, write_with_digest
from spirl.mae.model import DECODER_MODULES, MAE, count_parameters

CHECKPOINT_FORMAT = "spirl-mae/1"


class CheckpointMismatchError(ValueError):
    """An MAE checkpoint that is not one, or was built for another game or architecture."""


def _is_decoder_key(key: str) -> bool:
    return key == "mask_token" or key.split(".")[0] in DECODER_MODULES


def save_mae(
    path: str | os.PathLike[str], model: MAE, *, game: str, extra: dict[str, Any] | None = None,
    include_decoder: bool = True,
) -> None:
    """Write an MAE checkpoint atomically, with its sha256 in ``<path>.sha256`` (``spirl.integrity``).

    The file is a dict: ``format`` tag, ``arch`` (the ``MAEArch`` as a dict), ``state_dict`` (CPU
    tensors; without the decoder when ``include_decoder`` is False), ``game`` (canonical id),
    ``has_decoder`` and ``extra`` (pretraining settings, epoch, loss, versions, ...).
    """

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()
             if include_decoder or not _is_decoder_key(k)}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": asdict(model.arch),
        "state_dict": state,
        "game": canonical(game),
        "has_decoder": include_decoder,
        "extra": dict(extra or {}),
    }
    write_with_digest(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load the raw checkpoint dict, refusing anything that is not an MAE checkpoint of this format.

    The file is checked against its ``model.pt.sha256`` sidecar first (``spirl.integrity``), then read
    with ``weights_only=True``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        spirl.integrity.IntegrityError: the file differs from its digest.
        CheckpointMismatchError: if the file is not a readable MAE checkpoint of this format.
    """

    payload = load_torch(path, what="MAE checkpoint", map_location=map_location, error=CheckpointMismatchError,
                         remedy="pass a model.pt written by 'spirl pretrain' (results/mae/{variant}/{game}/model.pt)")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointMismatchError(f"{os.fspath(path)!r} is not an MAE checkpoint of format "
                                      f"{CHECKPOINT_FORMAT!r} (found {found!r})")
    missing = [k for k in ("arch", "state_dict", "game") if k not in payload]
    if missing:
        raise CheckpointMismatchError(f"MAE checkpoint {os.fspath(path)!r} lacks {', '.join(missing)}")
    return payload


def load_mae(
    path: str | os.PathLike[str],
    *,
    game: str | None = None,
    arch: MAEArch | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[MAE, dict[str, Any]]:
    """Rebuild an MAE from a checkpoint written by ``save_mae``, in eval mode.

    Args:
        game: if given, the checkpoint must have been trained on this game (any spelling).
        arch: if given, the checkpoint's architecture must equal it field by field.

    Returns:
        (model, meta) with meta = ``arch`` (MAEArch), ``game``, ``has_decoder``, ``extra``, ``path``.
        Without a decoder the decoder modules keep their fresh initialisation and must not be used.

    Raises:
        CheckpointMismatchError: not an MAE checkpoint, another game, or another architecture; the
            message names each differing field with both values.
    """

    payload = read_checkpoint(path, map_location)
    where = os.fspath(path)
    arch_fields = {f.name for f in fields(MAEArch)}
    stored = dict(payload["arch"])
    unknown = sorted(set(stored) - arch_fields)
    if unknown:
        raise CheckpointMismatchError(f"MAE checkpoint {where!r} has unknown architecture fields {unknown}")
    ckpt_arch = MAEArch(**stored)
    if game is not None and canonical(game) != payload["game"]:
        raise CheckpointMismatchError(f"MAE checkpoint {where!r} was trained on {payload['game']}, "
                                      f"not on {canonical(game)}")
    if arch is not None:
        wanted, have = asdict(arch), asdict(ckpt_arch)
        diffs = [f"{k}={have[k]!r} in the checkpoint but {wanted[k]!r} asked for" for k in wanted
                 if wanted[k] != have[k]]
        if diffs:
            raise CheckpointMismatchError(f"MAE checkpoint {where!r} has another architecture: " + "; ".join(diffs))

    model = MAE(ckpt_arch)
    state = payload["state_dict"]
    has_decoder = bool(payload.get("has_decoder", True))
    expected = set(model.state_dict())
    if not has_decoder:
        expected = {k for k in expected if not _is_decoder_key(k)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(f"MAE checkpoint {where!r} does not fit its own architecture: "
                                      f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    try:
        model.load_state_dict(state, strict=has_decoder)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointMismatchError(f"MAE checkpoint {where!r} has weights of the wrong shape: {err}") from err
    model.to(map_location).eval()
    model.has_decoder = has_decoder  # an encoder-only model keeps untrained decoder modules: mark it
    meta = {"arch": ckpt_arch, "game": payload["game"], "has_decoder": has_decoder,
            "extra": payload.get("extra", {}), "path": where}
    return model, meta


def describe(arch: MAEArch) -> str:
    """One line naming the architecture and its parameter counts, for logs and the README."""
    counts = count_parameters(MAE(arch))
    return (f"MAE encoder {arch.embed_dim}d x {arch.depth} blocks x {arch.num_heads} heads, decoder "
            f"{arch.decoder_embed_dim}d x {arch.decoder_depth} x {arch.decoder_num_heads}: "
            f"{counts['encoder']:,} + {counts['decoder']:,} parameters, {counts['total']:,} in total")


