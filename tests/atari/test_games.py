"""The game table: aliases, scores, maximal ratios and refusals."""

import json
from pathlib import Path

import pytest

from spirl.atari import games


@pytest.mark.parametrize(
    "alias", ["MsPacman", "mspacman", "ms_pacman", "ALE/MsPacman-v5", "MsPacmanNoFrameskip-v4", "MS_PACMAN"]
)
def test_aliases_resolve_to_one_id(alias):
    assert games.canonical(alias) == "MsPacman"


def test_table_has_the_26_games_with_rom_ids_that_ale_knows():
    import ale_py.roms

    assert len(games.GAMES) == 26
    for g in games.GAMES.values():
        assert games.canonical(g.rom) == g.id
        assert games.canonical(g.ale_id) == g.id
        assert Path(ale_py.roms.get_rom_path(g.rom)).is_file(), g.rom


def test_scores_match_the_published_random_and_human_files(reference_file):
    human = json.loads(reference_file("HUMAN.json").read_text())
    random = json.loads(reference_file("RANDOM.json").read_text())
    assert set(human) == set(games.GAMES)
    for name, g in games.GAMES.items():
        assert g.human == pytest.approx(human[name][0])
        assert g.random == pytest.approx(random[name][0])


def test_unknown_game_names_the_closest():
    with pytest.raises(games.UnknownGameError, match="MsPacman"):
        games.canonical("MsPacmann")
    with pytest.raises(games.UnknownGameError, match="valid games"):
        games.canonical("zzzz")


def test_paper_ratios_give_the_released_kmax():
    # docs/method.md#step-dynamic-k: Kmax = int(144 * (1 - min_mask_ratio)) = 50/43/28/43
    assert [games.k_max(games.get(g).max_ratio) for g in ("Frostbite", "MsPacman", "Seaquest", "BattleZone")] == [
        50, 43, 28, 43]
    assert games.k_max(0.5) == 72
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            games.k_max(bad)


def test_normalise():
    g = games.get("Pong")
    assert g.normalise(g.random) == 0.0
    assert g.normalise(g.human) == pytest.approx(1.0)
