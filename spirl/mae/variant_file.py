"""The file of one MAE variant, ``results/maes/{mae}.yaml``: its architecture and pretraining settings,
resolved from the preset, as ``results/methods/{method}.yaml`` holds a method's.

The workflow writes it (rule ``resolve_mae``) and ``spirl pretrain --config`` reads it, so editing a
variant in the preset rewrites that one file and retrains only that variant's MAEs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spirl.config import ConfigError, MAEArch, PretrainSettings, settings_from_dict
from spirl.utils import read_yaml

KEYS = ("resolved_mae", "mae", "pretrain")


def mae_file_doc(variant: str, settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The content of ``results/maes/{variant}.yaml`` from ``spirl.config.mae_settings(preset)[variant]``."""
    return {"resolved_mae": variant, "mae": dict(settings["mae"]), "pretrain": dict(settings["pretrain"])}


def load_mae_file(path: str | Path) -> tuple[str, MAEArch, PretrainSettings]:
    """The variant's name, architecture and pretraining settings, each key checked as a preset's is.

    Raises:
        ConfigError: not an MAE variant file (another key, or no ``resolved_mae``), or a bad setting.
    """
    raw = read_yaml(path, what="MAE variant file", error=ConfigError)
    if not isinstance(raw, dict) or "resolved_mae" not in raw or set(raw) - set(KEYS):
        found = ", ".join(map(str, raw)) if isinstance(raw, dict) else type(raw).__name__
        raise ConfigError(f"{path}: not an MAE variant file (keys {', '.join(KEYS)}; found {found}); "
                          "the workflow writes one to results/maes/")
    try:
        settings = settings_from_dict({"mae": raw.get("mae") or {}, "pretrain": raw.get("pretrain") or {}})
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return str(raw["resolved_mae"]), settings.mae, settings.pretrain


__all__ = ["load_mae_file", "mae_file_doc"]
