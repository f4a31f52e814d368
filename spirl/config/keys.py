"""The keys of a preset file, as dataclasses: the one list of what a preset, a study and a ``published:``
entry may hold, and of the numbers the command line takes.

``spirl.config.preset`` checks a preset against :class:`PresetKeys` before it reads its meaning,
``spirl.config.schema`` writes the JSON Schema from these fields, and docs/configuration.md's table
of keys is tested against them. ``Annotated[dict[str, Any], MethodSettings]`` marks a mapping whose
shape is checked here and whose content is checked by its reader with messages of its own (a method
by ``spirl.config.methods``, a ``published:`` entry by :func:`check_published`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from spirl.config.methods import SECTIONS
from spirl.config.settings import (
    BudgetSettings,
    Count,
    Index,
    MAEArch,
    MethodSettings,
    Pattern,
    PretrainSettings,
    StatsSettings,
)
from spirl.config.validate import NAME, ConfigError, check_value, hints

Name = Annotated[str, Pattern(NAME.pattern, "a name", "use letters, digits, _ and -, starting with a letter")]
Seeds = Count | list[Index]  # a count (3: seeds 0, 1, 2) or a list of seeds
MethodBody = Annotated[dict[str, Any], MethodSettings]  # a method: a base and overrides of any section


@dataclass
class PublishedEntry:
    """One ``published:`` entry: a per-run score file to fetch (``spirl fetch-published``)."""

    name: Annotated[str, Pattern(r"^[A-Za-z0-9][A-Za-z0-9_.()+-]*$", "usable as a file name",
                                 "use letters, digits and _.()+-")]
    url: Annotated[str, Pattern(r"^(https?|file)://", "a URL to fetch",
                                "it must start with https://, http:// or file://")]
    sha256: Annotated[str, Pattern(r"^[0-9a-fA-F]{64}$", "64 hex digits")]
    source: str = ""  # where the file comes from (a paper, a repository)


@dataclass
class ComparisonEntry:
    """One method of the main comparison, run on every game of the preset."""

    seeds: Seeds | None = None  # default: the preset's seeds


@dataclass
class StudySpec:
    """One ``studies:`` entry: a question, where it is asked, a reference and its variants."""

    # label -> a method name or inline settings (method <study>-<label>)
    variants: dict[str, str | MethodBody]
    question: str = ""  # default: the study's name
    games: list[str] | None = None  # default: the preset's games
    seeds: Seeds | None = None  # default: the preset's seeds
    reference: str | None = None  # a variant label or method name; default: the first variant
    table: str | None = None  # the paper table the study mirrors (free text: "Table 15 (400K columns)")


@dataclass
class ReportSettings:
    """A preset's ``report:``."""

    title: str | None = None  # default: says whether the preset is a demonstration


PublishedList = Annotated[list[dict[str, Any]], PublishedEntry]


@dataclass
class PresetKeys:
    """The top-level keys of a preset (``workflow/config/*.yaml``), their types and defaults."""

    description: str = ""
    demo: bool = False  # a demonstration: the report says its numbers are not the paper's
    games: list[str] | None = None  # any spelling of the 26 Atari 100k games; default the paper's four
    game: str | None = None  # one game instead of games (what `--config game=X` overrides)
    seeds: Seeds = 1
    budget: BudgetSettings | None = None  # under every method
    pretrain_frames: Count | dict[str, Count] | None = None  # per game (and 'default'); default Table 6
    mae_variants: dict[Name, MAEArch | None] | None = None  # default: one variant, paper
    pretrain: PretrainSettings | None = None  # under every MAE
    methods: dict[Name, MethodBody | None] | None = None
    comparison: dict[str, ComparisonEntry | None] | None = None
    studies: dict[Name, StudySpec] | None = None
    stats: StatsSettings | None = None
    published: PublishedList | None = None
    threads: Count = 1  # torch threads per training, pretraining and K-statistics job
    runs_per_gpu: Count = 1  # GPU jobs that share one GPU (docs/costs.md#sharing-a-gpu)
    report: ReportSettings | None = None


@dataclass
class CommandNumbers:
    """Numbers given only on the command line (``spirl.commands.args.number("run.NAME")``)."""

    seed: Index = 0  # a run's seed
    batch: Count = 64  # frames per batch (saliency-stats --batch)
    limit: Index = 0  # use only the first N frames (saliency-stats --limit)
    index: Index = 0  # a dataset row (visualize --index)
    steps: Count = 400  # steps of an episode to play (attention --max-steps)
    every: Count = 2  # keep every n-th step (attention --gif-every)
    n_frames: Count = 8  # frames in a strip (attention --n-frames)


# "section.name" of a number the command line takes -> its dataclass: run.*, preset.*, stats.* and a method's.
NUMBER_SECTIONS: dict[str, type] = {"run": CommandNumbers, "preset": PresetKeys, "stats": StatsSettings}
PUBLISHED_KEYS = tuple(f for f in PublishedEntry.__dataclass_fields__)
STUDY_KEYS = frozenset(StudySpec.__dataclass_fields__)


def check_published(where: str, items: Any) -> list[dict[str, str]]:
    """A ``published:`` list (``spirl fetch-published``, a preset's): name, url, sha256 (and source) each.

    Returns the entries with the sha256 in lower case.

    Raises:
        ConfigError: not a list, an entry that is not a mapping, a missing or unknown key, a name that
            cannot be a file name, a URL that is not https:// or file://, a sha256 that is not 64 hex
            digits, or a name given twice.
    """
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of entries with name, url, sha256")
    patterns = {name: hint.__metadata__[0] for name, hint in hints(PublishedEntry).items()
                if hasattr(hint, "__metadata__")}
    out: list[dict[str, str]] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping with name, url, sha256")
        missing = [k for k in patterns if not item.get(k)]
        if missing:
            raise ConfigError(f"{at}: missing {', '.join(missing)}")
        unknown = sorted(set(item) - set(PUBLISHED_KEYS))
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                              f"{', '.join(PUBLISHED_KEYS)}")
        entry = {k: str(item[k]) for k in PUBLISHED_KEYS if k in item}
        for key, pattern in patterns.items():
            if not re.match(pattern.regex, entry[key]):
                raise ConfigError(f"{at}: {key} {pattern.refuse(entry[key])}")
        entry["sha256"] = entry["sha256"].lower()
        if any(e["name"] == entry["name"] for e in out):
            raise ConfigError(f"{at}: name {entry['name']!r} appears twice")
        out.append(entry)
    return out


def number_hint(key: str) -> Any:
    """The type of the number ``key`` names: ``run.seed``, ``preset.threads``, ``stats.reps``, ``learner.lr``.
    """
    section, name = key.split(".", 1)
    return hints({**NUMBER_SECTIONS, **SECTIONS}[section])[name]


def check_number(where: str, key: str, value: Any) -> Any:
    """A number given on the command line (``--threads``, ``--seed``, ...), checked as ``key``'s field is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return check_value(where, value, number_hint(key))
