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

The names other modules use are importable from here.
"""

from spirl.config.keys import STUDY_KEYS, PresetKeys, check_number, check_published
from spirl.config.methods import (
    BUILTIN_METHODS,
    SECTIONS,
    apply_overrides,
    check_arch,
    check_pretrain,
    check_rules,
    merge,
    method_file_doc,
    settings_from_dict,
    settings_to_dict,
    validate_sections,
)
from spirl.config.plan import RunPlan, for_game, resolve_max_ratio
from spirl.config.preset import (
    Preset,
    check_preset,
    load_method,
    load_preset,
    mae_settings,
    parse_preset,
    read_studies,
    resolve_method,
)
from spirl.config.settings import (
    DEVICE,
    AgentSettings,
    BudgetSettings,
    Encoder,
    IntervalMethod,
    LearnerSettings,
    LogProbs,
    MAEArch,
    MethodSettings,
    NewPriority,
    Padding,
    Pooling,
    Precision,
    PretrainSettings,
    ProtocolSettings,
    Range,
    SaliencySettings,
    Selection,
    StatsSettings,
    allowed,
)
from spirl.config.studies import STUDY_TABLES, Study, paper_table_tag
from spirl.config.validate import ConfigError, parse_games, parse_seeds, suggest

__all__ = [
    "BUILTIN_METHODS", "DEVICE", "SECTIONS", "STUDY_KEYS", "STUDY_TABLES", "AgentSettings", "BudgetSettings",
    "ConfigError", "Encoder", "IntervalMethod", "LearnerSettings", "LogProbs", "MAEArch", "MethodSettings",
    "NewPriority", "Padding", "Pooling", "Precision", "Preset", "PresetKeys", "PretrainSettings",
    "ProtocolSettings", "Range", "RunPlan", "SaliencySettings", "Selection", "StatsSettings", "Study",
    "allowed", "apply_overrides", "check_arch", "check_number", "check_preset", "check_pretrain",
    "check_published", "check_rules", "for_game", "load_method", "load_preset", "mae_settings", "merge",
    "method_file_doc", "paper_table_tag", "parse_games", "parse_preset", "parse_seeds", "read_studies",
    "resolve_max_ratio", "resolve_method", "settings_from_dict", "settings_to_dict", "suggest",
    "validate_sections",
]
