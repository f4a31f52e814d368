"""Configuration: typed settings, presets, methods, studies and run plans, each fact written once.

- ``spirl.config.settings``: the dataclasses of a method's settings; a field's type holds its
  allowed words (``Literal``) and numbers (``Annotated[..., Range]``), its default the paper's value.
- ``spirl.config.validate``: the one check of a value against its field's type.
- ``spirl.config.keys``: a preset's own keys, a study's and a ``published:`` entry's, as dataclasses.
- ``spirl.config.methods``: built-in methods, inheritance, ``--set``, the rules across fields.
- ``spirl.config.studies``: the ``Study`` a preset's ``studies:`` entry becomes.
- ``spirl.config.preset``: the frozen ``Preset`` (every method resolved once), its checks, method files.
- ``spirl.config.plan``: one run's concrete numbers on one game (``for_game``).
- ``spirl.config.schema``: the JSON Schema (``workflow/schemas/config.schema.yaml``), written from the fields.

The names other modules use are importable from here (``from spirl.config import parse_preset``). Each
is loaded from its module on first use, so a low-level module that needs only a setting's type
(``spirl.devices``: ``Precision``) does not load the preset reader, and no import cycle runs
through this package.
"""

from __future__ import annotations

import importlib
from typing import Any

# module -> the names it gives this package
_EXPORTS: dict[str, tuple[str, ...]] = {
    "keys": ("STUDY_KEYS", "PresetKeys", "check_number", "check_published"),
    "methods": ("BUILTIN_METHODS", "SECTIONS", "apply_overrides", "check_arch", "check_pretrain", "check_rules",
                "merge", "method_file_doc", "settings_from_dict", "settings_to_dict", "validate_sections"),
    "plan": ("RunPlan", "for_game", "resolve_max_ratio"),
    "preset": ("Preset", "check_preset", "load_method", "load_preset", "mae_settings", "parse_preset",
               "preset_summary", "read_studies", "resolve_method"),
    "settings": ("DEVICE", "AgentSettings", "BudgetSettings", "Encoder", "IntervalMethod", "LearnerSettings",
                 "LogProbs", "MAEArch", "MethodSettings", "NewPriority", "Padding", "Pooling", "Precision",
                 "PretrainSettings", "ProtocolSettings", "Range", "SaliencySettings", "Selection",
                 "StatsSettings", "allowed"),
    "studies": ("STUDY_TABLES", "Study", "paper_table_tag"),
    "validate": ("ConfigError", "parse_games", "parse_seeds", "suggest"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """``spirl.config.NAME``: loaded from its module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'spirl.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"spirl.config.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
