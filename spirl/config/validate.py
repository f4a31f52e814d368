"""The one validation of every value a user writes, read off the dataclass fields' types.

A value is checked against its field's type (``spirl.config.settings``): a ``Literal`` gives the
allowed words, ``Annotated[..., Range]`` the allowed numbers, ``Annotated[str, Pattern]`` the allowed
spellings, a dataclass a mapping of its fields, ``list``/``tuple``/``dict`` their elements. Presets,
method files, ``--set`` overrides, the numbers given on the command line and the workflow all go
through here; a wrong value fails with one line naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from spirl.atari import games
from spirl.config.settings import Pattern, Range


class ConfigError(ValueError):
    """A preset, method or override that cannot be used; the message names the key."""


NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")  # a method, study or MAE variant name


def suggest(word: str, allowed: Iterable[str]) -> str:
    """"; did you mean X?" for the closest allowed word, else the list of allowed words."""
    allowed = [str(a) for a in allowed]
    close = difflib.get_close_matches(word, allowed, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved type of every field of dataclass ``cls``, ``Annotated`` extras kept."""
    return typing.get_type_hints(cls, include_extras=True)


def unpack(hint: Any) -> tuple[Any, list[Any]]:
    """``Annotated[int, Range(1)]`` -> ``(int, [Range(1)])``; any other type -> ``(type, [])``."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *extras = typing.get_args(hint)
        return base, list(extras)
    return hint, []


def options(hint: Any) -> tuple[Any, ...]:
    """The alternatives of a union type (``int | None`` -> ``(int, NoneType)``), else ``(hint,)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def words(hint: Any) -> tuple[str, ...]:
    """The words a field's ``Literal`` alternatives allow (empty when it has none)."""
    return tuple(w for o in options(hint) if typing.get_origin(unpack(o)[0]) is typing.Literal
                 for w in typing.get_args(unpack(o)[0]))


def range_of(hint: Any) -> Range | None:
    """The ``Range`` of a numeric field (a tuple's elements', an optional's), else None."""
    for opt in options(hint):
        base, extras = unpack(opt)
        found = [e for e in extras if isinstance(e, Range)]
        if found:
            return found[0]
        if typing.get_origin(base) is tuple and typing.get_args(base):
            return range_of(typing.get_args(base)[0])
    return None


def type_name(hint: Any) -> str:
    """How a message names a type: ``an integer``, ``one of cls, avg``, ``a list of 2 numbers``."""
    o, _ = unpack(hint)
    if o is type(None):
        return "null"
    if typing.get_origin(o) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(o)))
    if typing.get_origin(o) is tuple:
        return f"a list of {len(typing.get_args(o))} numbers"
    if typing.get_origin(o) is list:
        return "a list"
    if typing.get_origin(o) is dict or dataclasses.is_dataclass(o):
        return "a mapping"
    if typing.get_origin(o) in (typing.Union, types.UnionType):
        return " or ".join(type_name(x) for x in typing.get_args(o))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(o, str(o))


def _number(where: str, value: Any) -> float | None:
    """``value`` as a finite float if it is a number (or a string YAML 1.1 left unparsed, e.g. ``1e-4``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(out):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return out


_NO = object()  # "this alternative does not take the value"


def _shape(where: str, value: Any, base: Any) -> Any:
    """``value`` coerced to ``base`` when it has that shape (its elements checked), else ``_NO``."""
    origin = typing.get_origin(base)
    if base is type(None):
        return None if value is None else _NO
    if base is Any:
        return value
    if base is bool:
        return value if isinstance(value, bool) else _NO
    if base is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if base is float:
        number = _number(where, value)
        return _NO if number is None else number
    if base is str or origin is typing.Literal:
        return value if isinstance(value, str) else _NO
    if origin is tuple:
        elems = typing.get_args(base)
        if not isinstance(value, (list, tuple)) or len(value) != len(elems):
            return _NO
        if any(_number(where, v) is None for v in value):
            return _NO
        return tuple(check_value(where, v, h) for v, h in zip(value, elems, strict=True))
    if origin is list:
        if not isinstance(value, list):
            return _NO
        (item,) = typing.get_args(base)
        return [check_value(f"{where}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            return _NO
        key, item = typing.get_args(base)
        for k in value:
            check_value(f"{where}.{k}", k, key)
        return {k: check_value(f"{where}.{k}", v, item) for k, v in value.items()}
    if dataclasses.is_dataclass(base):
        return check_fields(where, base, value) if isinstance(value, dict) else _NO
    raise TypeError(f"{where}: no check for type {base!r}")


def check_value(where: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a field's type ``hint`` and return it coerced (``1e-4`` as a float).

    Raises:
        ConfigError: the wrong type, a word not allowed, a number out of range, a bad spelling.
    """
    for opt in options(hint):
        base, extras = unpack(opt)
        got = _shape(where, value, base)
        if got is _NO or (typing.get_origin(base) is typing.Literal and got not in typing.get_args(base)):
            continue
        for extra in extras:
            if isinstance(extra, Range) and not extra.contains(got):
                raise ConfigError(f"{where}: must be {extra.describe()}, got {value!r}")
            if isinstance(extra, Pattern) and not re.match(extra.regex, got):
                raise ConfigError(f"{where}: {extra.refuse(value)}")
        return got
    if words(hint) and isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {', '.join(words(hint))}")
    raise ConfigError(f"{where}: expected {type_name(hint)}, got {value!r}")


def required(cls: type) -> list[str]:
    """The fields of dataclass ``cls`` without a default: a mapping must give them."""
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def check_fields(where: str, cls: type, body: Any, *, noun: str = "key", label: str = "") -> dict[str, Any]:
    """Check a mapping against dataclass ``cls`` (only the keys it gives, plus the required ones).

    Returns the keys given, each value coerced; ``where`` prefixes every message
    (``methods.m.learner`` gives ``methods.m.learner.lr: ...``; empty: the key alone), ``noun`` names
    an unknown key (``unknown setting 'lrr'``), ``label`` names the mapping when ``where`` is empty.
    """
    if not isinstance(body, dict):
        raise ConfigError(f"{where or label}: expected a mapping of settings, got {body!r}")
    known = hints(cls)
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in known:
            raise ConfigError(f"{where or label}: unknown {noun} {key!r}" + suggest(str(key), known))
        out[key] = check_value(f"{where}.{key}" if where else str(key), value, known[key])
    missing = [k for k in required(cls) if k not in body]
    if missing:
        raise ConfigError(f"{where or label}: missing {', '.join(missing)}")
    return out


def parse_seeds(where: str, value: Any) -> list[int]:
    """Seeds given as a count (``3`` -> 0, 1, 2) or a list of non-negative integers."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a count or a list of seeds, got {value!r}")
    top = 2**31 - 1  # the largest seed (spirl.config.settings.Seed)
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where}: need at least one seed, got {value}")
        _refuse_seed_list(where, value)
        if value - 1 > top:
            raise ConfigError(f"{where}: {value:,} seeds go up to seed {value - 1:,}, beyond the largest seed {top}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value):
        if max(value) > top:
            raise ConfigError(f"{where}: seed {max(value)} is beyond the largest seed {top}")
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise ConfigError(f"{where}: seed {twice[0]} is given twice")
        return list(value)
    raise ConfigError(f"{where}: expected a count or a list of non-negative integer seeds, got {value!r}")


def _refuse_seed_list(where: str, count: int) -> None:
    """Refuse a seed count whose list alone (about 40 bytes a seed) would not fit in this machine's memory."""
    from spirl.guards import TooLargeError, refuse_beyond_memory

    try:
        refuse_beyond_memory({"seeds": 40 * count}, f"{where}: a plan of {count:,} seeds", "give fewer seeds")
    except TooLargeError as err:
        raise ConfigError(str(err)) from None


def parse_games(where: str, value: Any) -> list[str]:
    """A non-empty list of games, any spelling, as canonical ids."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of games, got {value!r}")
    try:
        return [games.canonical(str(g)) for g in value]
    except games.UnknownGameError as err:
        raise ConfigError(f"{where}: {err}") from None
