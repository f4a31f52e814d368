"""The JSON Schema of a preset, written from the dataclass fields (``workflow/schemas/config.schema.yaml``).

The Snakefile validates a preset against it after ``spirl.config.check_preset`` (the same facts: a
field's type gives its JSON type, its ``Literal`` the ``enum``, its ``Range`` the bounds, its
``Pattern`` the ``pattern``). Write it with ``python -m spirl.config.schema`` (or ``spirl
config-schema``); ``--check`` exits 1 when the committed file is stale, as tests/config/test_schema.py does.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from pathlib import Path
from typing import Any

import yaml

from spirl.config.keys import PresetKeys
from spirl.config.methods import SECTIONS
from spirl.config.settings import MethodSettings, Pattern, Range
from spirl.config.validate import hints, options, required, type_name, unpack

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
HEADER = ("# GENERATED from the fields of spirl/config/ by `python -m spirl.config.schema`; do not edit.\n"
          "# tests/config/test_schema.py fails when this file is stale.\n")
FLOAT = {  # PyYAML reads 1e-4 (no dot) as a string, so a float may arrive as one; spirl checks its range then
    "description": "a number",
    "anyOf": [{"type": "number"},
              {"type": "string", "pattern": r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"}],
}
_DEF_NAMES = {cls: name for name, cls in SECTIONS.items()}


def _def_name(cls: type) -> str:
    if cls is MethodSettings:
        return "method"
    return _DEF_NAMES.get(cls) or re.sub(r"(Settings|Spec|Entry)$", "", cls.__name__).lower()


def _bounds(rng: Range) -> dict[str, float]:
    out: dict[str, float] = {}
    if rng.low is not None:
        out["exclusiveMinimum" if rng.low_open else "minimum"] = rng.low
    if rng.high is not None:
        out["exclusiveMaximum" if rng.high_open else "maximum"] = rng.high
    return out


class _Writer:
    """Turns field types into schema nodes, collecting one ``$defs`` entry per dataclass."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {"float": FLOAT}

    def ref(self, cls: type) -> dict[str, Any]:
        name = _def_name(cls)
        if name not in self.defs:
            self.defs[name] = {}  # placeholder against recursion
            self.defs[name] = self.method() if cls is MethodSettings else self.object(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object(self, cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
        out: dict[str, Any] = {"type": "object", "additionalProperties": False}
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc:
            out["description"] = doc[0]
        out["properties"] = {f.name: self.node(hints(cls)[f.name]) for f in fields}
        need = [name for name in required(cls) if name not in skip]
        if need:
            out["required"] = need
        return out

    def method(self) -> dict[str, Any]:
        """A method as a preset writes it: ``base`` and overrides of any field of ``MethodSettings``."""
        out = self.object(MethodSettings, skip=("name",))
        out["description"] = "a method: a base to inherit from and overrides of any section"
        out["properties"] = {"base": {"type": "string", "description": "the method this one inherits from"},
                             **out["properties"]}
        return out

    def node(self, hint: Any) -> dict[str, Any]:
        alts = options(hint)
        if len(alts) > 1:
            return {"description": type_name(hint), "anyOf": [self.node(a) for a in alts]}
        base, extras = unpack(hint)
        marker = [e for e in extras if isinstance(e, type) and dataclasses.is_dataclass(e)]
        if marker:  # a loose shape whose content its reader checks: the schema gives the dataclass
            ref = self.ref(marker[0])
            return {"type": "array", "items": ref} if typing.get_origin(base) is list else ref
        out = self.plain(base)
        for extra in extras:
            if isinstance(extra, Range):
                out.update(_bounds(extra))
            elif isinstance(extra, Pattern):
                out.update({"type": "string", "pattern": extra.regex, "description": extra.what})
        return out

    def plain(self, base: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(base), typing.get_args(base)
        if base is type(None):
            return {"type": "null"}
        if base is Any:
            return {}
        if base in (bool, int, str):
            return {"type": {bool: "boolean", int: "integer", str: "string"}[base]}
        if base is float:
            return {"$ref": "#/$defs/float"}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin is tuple:
            n = len(args)
            return {"type": "array", "minItems": n, "maxItems": n, "items": self.node(args[0])}
        if origin is list:
            return {"type": "array", "items": self.node(args[0])}
        if origin is dict:
            out = {"type": "object", "additionalProperties": self.node(args[1])}
            key = self.node(args[0])
            if "pattern" in key:
                out["propertyNames"] = {"pattern": key["pattern"]}
            return out
        if dataclasses.is_dataclass(base):
            return self.ref(base)
        raise TypeError(f"no JSON Schema for {base!r}")


def schema() -> dict[str, Any]:
    """The JSON Schema of a preset, from ``PresetKeys`` and every dataclass it reaches."""
    writer = _Writer()
    top = writer.object(PresetKeys)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "SPIRL workflow preset",
        "description": ("One preset of workflow/config/. The Snakefile runs spirl.config.check_preset first "
                        "(what `spirl check-config` runs), then this schema, written from the same fields."),
        **{k: v for k, v in top.items() if k != "description"},
        "$defs": writer.defs,
    }


def schema_text() -> str:
    """The schema file's text: the header, then the schema as YAML."""
    return HEADER + yaml.safe_dump(schema(), sort_keys=False, width=110, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m spirl.config.schema [--check] [PATH]``: write the schema, or exit 1 if PATH is stale."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    path = Path(paths[0]) if paths else SCHEMA_PATH
    text = schema_text()
    if check:
        fresh = path.exists() and path.read_text() == text
        print(f"{path}: {'up to date' if fresh else 'stale; run python -m spirl.config.schema'}")
        return 0 if fresh else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
