"""The canonical game table of the Atari 100k benchmark.

Every game has one canonical id (CamelCase, as in rliable and the published
per-run data), the ALE ROM id used by ale-py, its random and human
(30-minute) scores, and, for the paper's four games, the maximal ratio of
salient patches the paper adopted (appendix Table 13) and the ideal ratio
read off its Fig. 8.

Every spelling found in the literature resolves to the canonical id:
``MsPacman``, ``mspacman``, ``ms_pacman``, ``ALE/MsPacman-v5``,
``MsPacmanNoFrameskip-v4``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

NUM_PATCHES = 144  # 12 x 12 patches of 8 x 8 pixels on a 96 x 96 frame


@dataclass(frozen=True)
class Game:
    """One row of the game table.

    ``max_ratio`` is the paper's adopted maximal ratio of salient patches (Table 13),
    ``ideal_ratio`` the smallest 5% step keeping every salient patch in >99.9% of frames
    (Fig. 8), and ``pretrain_frames`` the size of the paper's pre-training set (Table 6).
    """

    id: str
    rom: str
    random: float
    human: float
    max_ratio: float | None = None
    ideal_ratio: float | None = None
    pretrain_frames: int = 50_000

    @property
    def ale_id(self) -> str:
        """The gymnasium id of the v5 environment, e.g. ``ALE/MsPacman-v5``."""
        return f"ALE/{self.id}-v5"

    def normalise(self, score: float) -> float:
        """Human-normalised score: (score - random) / (human - random)."""
        return (score - self.random) / (self.human - self.random)


def _g(id_: str, rom: str, random: float, human: float, **kw: float | int) -> Game:
    return Game(id_, rom, random, human, **kw)  # type: ignore[arg-type]


GAMES: dict[str, Game] = {
    g.id: g
    for g in [
        _g("Alien", "alien", 227.8, 7127.7),
        _g("Amidar", "amidar", 5.8, 1719.5),
        _g("Assault", "assault", 222.4, 742.0),
        _g("Asterix", "asterix", 210.0, 8503.3),
        _g("BankHeist", "bank_heist", 14.2, 753.1),
        _g("BattleZone", "battle_zone", 2360.0, 37187.5, max_ratio=0.30, ideal_ratio=0.30),
        _g("Boxing", "boxing", 0.1, 12.1),
        _g("Breakout", "breakout", 1.7, 30.5),
        _g("ChopperCommand", "chopper_command", 811.0, 7387.8),
        _g("CrazyClimber", "crazy_climber", 10780.5, 35829.4),
        _g("DemonAttack", "demon_attack", 152.1, 1971.0),
        _g("Freeway", "freeway", 0.0, 29.6),
        _g("Frostbite", "frostbite", 65.2, 4334.7, max_ratio=0.35, ideal_ratio=0.40, pretrain_frames=5_000),
        _g("Gopher", "gopher", 257.6, 2412.5),
        _g("Hero", "hero", 1027.0, 30826.4),
        _g("Jamesbond", "jamesbond", 29.0, 302.8),
        _g("Kangaroo", "kangaroo", 52.0, 3035.0),
        _g("Krull", "krull", 1598.0, 2665.5),
        _g("KungFuMaster", "kung_fu_master", 258.5, 22736.3),
        _g("MsPacman", "ms_pacman", 307.3, 6951.6, max_ratio=0.30, ideal_ratio=0.35),
        _g("Pong", "pong", -20.7, 14.6),
        _g("PrivateEye", "private_eye", 24.9, 69571.3),
        _g("Qbert", "qbert", 163.9, 13455.0),
        _g("RoadRunner", "road_runner", 11.5, 7845.0),
        _g("Seaquest", "seaquest", 68.4, 42054.7, max_ratio=0.20, ideal_ratio=0.20),
        _g("UpNDown", "up_n_down", 533.4, 11693.2),
    ]
}

PAPER_GAMES: tuple[str, ...] = ("Frostbite", "MsPacman", "Seaquest", "BattleZone")


def _key(name: str) -> str:
    """Fold a spelling to letters and digits only, lower case."""
    name = re.sub(r"^ALE/", "", name.strip())
    name = re.sub(r"(NoFrameskip|Deterministic)?-v\d+$", "", name)
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES: dict[str, str] = {}
for _game in GAMES.values():
    _ALIASES[_key(_game.id)] = _game.id
    _ALIASES[_key(_game.rom)] = _game.id
_ALIASES["pacman"] = "MsPacman"
_ALIASES["jamesbond007"] = "Jamesbond"


class UnknownGameError(ValueError):
    """Raised for a game name that is not in the table."""


def canonical(name: str) -> str:
    """Return the canonical id of a game given any of its spellings.

    Raises:
        UnknownGameError: naming the closest valid ids.
    """
    found = _ALIASES.get(_key(name))
    if found is not None:
        return found
    close = difflib.get_close_matches(_key(name), list(_ALIASES), n=3, cutoff=0.5)
    hint = sorted({_ALIASES[c] for c in close})
    msg = f"unknown game {name!r}"
    msg += f"; did you mean {', '.join(hint)}?" if hint else f"; valid games: {', '.join(GAMES)}"
    raise UnknownGameError(msg)


def get(name: str) -> Game:
    """Return the table row for any spelling of a game name."""
    return GAMES[canonical(name)]


def k_max(max_ratio: float, num_patches: int = NUM_PATCHES) -> int:
    """The most patches a frame may keep: floor(P * max_ratio), as the released code rounds.

    Raises:
        ValueError: if ``max_ratio`` is not in (0, 1], or keeps no patch (below 1 / P).
    """
    if not (0.0 < max_ratio <= 1.0) or math.isnan(max_ratio):
        raise ValueError(f"max_ratio must be in (0, 1], got {max_ratio}")
    if int(num_patches * max_ratio) < 1:  # never silently one patch
        raise ValueError(f"max_ratio {max_ratio} keeps no patch of {num_patches}; use at least "
                         f"1/{num_patches} = {1 / num_patches:.4f}")
    return int(num_patches * max_ratio)


def order_games(names: Iterable[str]) -> list[str]:
    """Known games among ``names`` in the game table's order."""
    names = set(names)
    return [g for g in GAMES if g in names]


def paper_order(names: Iterable[str]) -> list[str]:
    """Games in the paper's order (Frostbite, MsPacman, Seaquest, BattleZone), then the game table's."""
    names = set(names)
    return [g for g in PAPER_GAMES if g in names] + [g for g in order_games(names) if g not in PAPER_GAMES]
