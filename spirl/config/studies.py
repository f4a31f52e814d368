"""Ablation studies: a question, the games and seeds it is asked on, a reference method and its variants.

A study is a ``studies:`` entry of a preset (parsed with the preset, ``spirl.config.preset``); the
workflow writes each one, expanded, to ``results/studies/{name}.yaml`` (:meth:`Study.to_dict`),
which ``spirl tables`` and ``spirl plots`` read back with ``spirl.config.read_studies``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from spirl.config.keys import STUDY_KEYS
from spirl.config.validate import ConfigError, parse_games, parse_seeds, suggest

STUDY_TABLES = ("table14", "table15-100k", "table15-400k")  # paper tables a study can fill


def paper_table_tag(text: Any) -> str | None:
    """Which paper table a study's free-text ``table:`` names: ``table14``, ``table15-100k`` or ``-400k``.

    ``Table 14`` -> ``table14``; ``Table 15 (400K columns)`` -> ``table15-400k``; ``Table 15`` or
    ``Table 15 (100K columns)`` -> ``table15-100k``; anything else (another table, a figure) -> None.
    """
    if text is None:
        return None
    if str(text) in STUDY_TABLES:
        return str(text)
    key = re.sub(r"[^a-z0-9]", "", str(text).lower())
    if key.startswith("table14"):
        return "table14"
    if key.startswith("table15"):
        return "table15-400k" if "400k" in key else "table15-100k"
    return None


@dataclass(frozen=True)
class Study:
    """One ablation: a question, where it is asked, and the methods that answer it."""

    name: str
    question: str
    games: list[str]
    seeds: list[int]
    reference: str  # a method name, one of the variants
    variants: dict[str, str]  # label -> method name
    table: str | None = None  # which paper table it mirrors, if any (free text, see paper_table)

    @property
    def paper_table(self) -> str | None:
        """The paper table this study fills (one of ``STUDY_TABLES``), or None."""
        return paper_table_tag(self.table)

    def to_dict(self) -> dict[str, Any]:
        """The study file ``results/studies/{name}.yaml`` (variants as method names), for ``read_studies``."""
        return {"name": self.name, "question": self.question, "table": self.table, "games": self.games,
                "seeds": self.seeds, "reference": self.reference, "variants": self.variants}


def study_from_file(body: Any, where: str) -> Study:
    """A study written by :meth:`Study.to_dict` (its variants already method names)."""
    if not isinstance(body, dict) or "name" not in body:
        raise ConfigError(f"{where}: a study file holds a name, a question, a reference, variants and games")
    name = str(body["name"])
    for key in body:
        if key not in {*STUDY_KEYS, "name"}:
            raise ConfigError(f"{where}: unknown key {key!r}" + suggest(key, {*STUDY_KEYS, "name"}))
    variants = body.get("variants")
    if (not isinstance(variants, dict) or len(variants) < 2
            or not all(isinstance(v, str) for v in variants.values())):
        raise ConfigError(f"{where}: variants must map at least two labels to method names")
    variants = {str(k): v for k, v in variants.items()}
    reference = str(body.get("reference", next(iter(variants.values()))))
    reference = variants.get(reference, reference)
    if reference not in variants.values():
        raise ConfigError(f"{where}: reference {reference!r} is not one of the variants "
                          f"({', '.join(variants)})")
    gs = parse_games(f"{where}.games", body["games"]) if body.get("games") else []
    seeds = parse_seeds(f"{where}.seeds", body["seeds"]) if body.get("seeds") is not None else []
    return Study(name, str(body.get("question", name)), gs, seeds, reference, variants, body.get("table"))
