"""spirl.config.preset: a preset's keys, games, seeds, methods and comparison, and its one-line refusals."""

import dataclasses

import pytest
import yaml

from spirl import cli
from spirl.config import ConfigError, parse_preset, resolve_method


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"gamess": ["Pong"]}, "did you mean 'games'"),
        ({"games": ["Pacmann"]}, "MsPacman"),
        ({"methods": {"x": {"agent": {"padd": "zero"}}}}, "did you mean 'padding'"),
        ({"methods": {"x": {"agent": {"pooling": "max"}}}}, "allowed: cls, avg"),
        ({"methods": {"x": {"base": "nope"}}}, "unknown method 'nope'"),
        ({"methods": {"a": {"base": "b"}, "b": {"base": "a"}}}, "cycle"),
        ({"comparison": {"spirll": {}}}, "did you mean 'spirl'"),
        ({"budget": {"env_steps": "many"}}, "budget.env_steps: expected an integer"),
        ({"budget": {"env_steps": 0}}, "budget.env_steps: must be >= 1, got 0"),
        ({"studies": {"s": {"variants": {"a": "spirl", "b": "nosuch"}}}}, "unknown method 'nosuch'"),
        ({"studies": {"s": {"variants": {"a": "spirl"}}}}, "at least two variants"),
        ({"methods": {"x": {"saliency": {"max_ratio": 1.5}}}}, "(0, 1]"),
        ({"methods": {"x": {"saliency": {"max_ratio": "best"}}}}, "not a ratio"),
        ({"methods": {"x": {"mae_variant": "big"}}}, "not in mae_variants"),
        ({"seeds": -1}, "seeds: must be >= 1, got -1"),
    ],
)
def test_bad_presets_fail_with_one_clear_line(bad, needle):
    with pytest.raises(ConfigError) as err:
        parse_preset(bad)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_check_config_cli(small, tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(small))
    assert cli.main(["check-config", "--config", str(preset)]) == 0
    assert "16 training runs" in capsys.readouterr().out
    preset.write_text(yaml.safe_dump({"games": ["Nope"]}))
    assert cli.main(["check-config", "--config", str(preset)]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_runs_per_gpu_is_a_whole_number_of_at_least_one():
    assert parse_preset({"games": ["Seaquest"]}).runs_per_gpu == 1
    assert parse_preset({"games": ["Seaquest"], "runs_per_gpu": 4}).runs_per_gpu == 4
    with pytest.raises(ConfigError, match="runs_per_gpu: must be >= 1, got 0"):
        parse_preset({"games": ["Seaquest"], "runs_per_gpu": 0})
    with pytest.raises(ConfigError, match="runs_per_gpu: expected"):
        parse_preset({"games": ["Seaquest"], "runs_per_gpu": "four"})


def test_one_game_key_stands_for_a_list_of_one():
    assert parse_preset({"game": "ms_pacman"}).games == ["MsPacman"]
    with pytest.raises(ConfigError, match=r"either games .* or game"):
        parse_preset({"game": "MsPacman", "games": ["Seaquest"]})
    with pytest.raises(ConfigError, match="unknown game 'Pacmann'"):
        parse_preset({"game": "Pacmann"})


def test_a_preset_is_frozen_and_holds_every_method_resolved(small):
    p = parse_preset(small)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.games = ["Pong"]  # type: ignore[misc]
    assert p.methods["padding-mask"].agent.padding == "mask" and p.methods["spirl"].budget.env_steps == 2000
    copy = resolve_method(p, "spirl")
    copy.agent.padding = "token"  # the caller's copy; the preset's own stays
    assert p.methods["spirl"].agent.padding == "zero" and p.stats.reps == 2000
