"""Presets, method inheritance, overrides, studies and run plans."""

import pytest
import yaml

from spirl import cli
from spirl.config import ConfigError, load_method, parse_preset, resolve_method
from spirl.fields import apply_overrides, settings_to_dict
from spirl.plan import for_game, resolve_max_ratio
from spirl.settings import MethodSettings, TrackSettings
from spirl.studies import paper_table_tag, read_studies

SMALL = {
    "games": ["mspacman", "Seaquest"],
    "seeds": 2,
    "budget": {"env_steps": 2000, "eval_points": 2, "eval_episodes": 2},
    "mae_variants": {"paper": {}, "small_dec": {"decoder_depth": 1}},
    "methods": {"spirl_dec1": {"base": "spirl", "mae_variant": "small_dec"}},
    "comparison": {"spirl": {}, "de_rainbow": {"seeds": 3}},
    "studies": {
        "padding": {
            "question": "How to pad?",
            "games": ["Seaquest"],
            "reference": "zero",
            "variants": {"zero": "spirl", "mask": {"base": "spirl", "agent": {"padding": "mask"}}},
        },
        "decoder": {"games": ["MsPacman"], "seeds": [7, 8], "variants": {"paper": "spirl", "small": "spirl_dec1"}},
    },
}


def test_defaults_are_the_paper_settings():
    s = MethodSettings()
    assert (s.learner.n_step, s.learner.gamma, s.learner.lr, s.learner.adam_eps) == (20, 0.99, 1e-4, 1.5e-4)
    assert (s.agent.residual, s.agent.noisy_sigma0, s.pretrain.epochs, s.saliency.xscale) == (False, 0.5, 50, 1.0)
    assert (s.learner.new_priority, s.learner.updates_per_step, s.budget.eval_episodes) == ("one", 1.0, 50)
    assert s.protocol.repeat_action_probability == 0.0  # no sticky actions, as the paper and every published number


def test_preset_expands_comparison_and_studies():
    p = parse_preset(SMALL)
    runs = p.runs()
    assert ("spirl", "MsPacman", 1) in runs and ("de_rainbow", "Seaquest", 2) in runs
    assert ("padding-mask", "Seaquest", 0) in runs and ("padding-mask", "MsPacman", 0) not in runs
    assert ("spirl_dec1", "MsPacman", 7) in runs
    # spirl seeds 0-1 of the padding study are shared; the decoder study adds seeds 7-8 of spirl and spirl_dec1
    assert len(runs) == len(set(runs)) == 2 * 2 + 2 * 3 + 2 + 2 + 2
    assert set(p.maes()) == {("paper", "MsPacman"), ("paper", "Seaquest"), ("small_dec", "MsPacman")}
    assert p.studies["padding"].reference == "spirl"


def test_inheritance_and_builtins():
    p = parse_preset(SMALL)
    s = resolve_method(p, "padding-mask")
    assert s.agent.padding == "mask" and s.budget.env_steps == 2000 and s.name == "padding-mask"
    assert resolve_method(p, "spirl_dec1").mae.decoder_depth == 1
    d = resolve_method(p, "de_rainbow_p")
    assert d.agent.encoder == "de_cnn" and d.protocol.grayscale and d.protocol.frame_size == 84
    assert d.learner.warmup_steps == "pretrain_frames" and d.learner.replay_capacity == 100_000


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
        ({"seeds": -1}, "at least one seed"),
        ({"track": {"wandbb": True}}, "did you mean 'wandb'"),
        ({"track": {"wandb": "yes"}}, "track.wandb: expected true or false"),
        ({"track": {"project": ""}}, "track.project: expected a name"),
        ({"track": True}, "track: expected a mapping"),
    ],
)
def test_bad_presets_fail_with_one_clear_line(bad, needle):
    with pytest.raises(ConfigError) as err:
        parse_preset(bad)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_tracking_is_off_by_default_and_a_preset_turns_it_on():
    assert parse_preset({}).track == TrackSettings(tensorboard=True, wandb=False, project="spirl", entity=None)
    on = parse_preset({"track": {"wandb": True, "project": "atari", "tensorboard": False}}).track
    assert (on.wandb, on.project, on.tensorboard, on.entity) == (True, "atari", False, None)


def test_overrides_coerce_and_refuse():
    s = MethodSettings()
    t = apply_overrides(s, ["learner.lr=3e-4", "agent.residual=true", "saliency.max_ratio=ideal+0.05"])
    assert t.learner.lr == 3e-4 and t.agent.residual is True and t.saliency.max_ratio == "ideal+0.05"
    assert s.learner.lr == 1e-4  # the original is untouched
    for bad, needle in [("lr=1", "section.key=value"), ("learner.lrr=1", "did you mean 'lr'"),
                        ("agent.padding=pad", "allowed"), ("nosection.x=1", "unknown section")]:
        with pytest.raises(ConfigError) as err:
            apply_overrides(s, [bad])
        assert needle in str(err.value)


def test_max_ratio_words():
    assert resolve_max_ratio(None, "Seaquest") == 0.2
    assert resolve_max_ratio("ideal", "MsPacman") == 0.35
    assert resolve_max_ratio("ideal-0.05", "Frostbite") == 0.35
    assert resolve_max_ratio("auto+0.05", "Pong", ideal_ratio=0.25) == 0.3
    with pytest.raises(ConfigError, match="saliency-stats"):
        resolve_max_ratio("auto", "Pong")
    with pytest.raises(ConfigError, match="no paper maximal ratio"):
        resolve_max_ratio("paper", "Pong")


def test_run_plan_numbers_match_the_spec():
    p = parse_preset({"games": ["Seaquest"]})
    plan = for_game(resolve_method(p, "spirl"), "Seaquest")
    assert plan.k_max == 28 and plan.total_env_steps == 100_000 and plan.warmup_steps == 1600
    assert plan.eval_steps == list(range(10_000, 100_001, 10_000))
    assert plan.expected_updates == 98_400  # docs/method.md#step-rainbow
    assert plan.beta(1600) == pytest.approx(0.4) and plan.beta(100_000) == pytest.approx(1.0)
    drp = for_game(resolve_method(p, "de_rainbow_p"), "Frostbite")
    assert (drp.warmup_steps, drp.total_env_steps, drp.replay_capacity) == (5000, 103_400, 100_000)
    assert drp.expected_updates == 98_400  # same learning steps as DE-Rainbow (Table 12)
    assert for_game(resolve_method(p, "de_rainbow_p"), "MsPacman").total_env_steps == 148_400
    assert for_game(resolve_method(p, "de_rainbow"), "Seaquest").k_max is None


def test_resolved_method_file_round_trip(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "methods" / "padding-mask.yaml"
    assert cli.main(["resolve-method", "--config", str(preset), "--method", "padding-mask", "--out", str(out)]) == 0
    again = load_method(out, "padding-mask")
    assert settings_to_dict(again) == settings_to_dict(load_method(preset, "padding-mask"))
    with pytest.raises(ConfigError, match="holds method"):
        load_method(out, "spirl")


def test_check_config_cli(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(SMALL))
    assert cli.main(["check-config", "--config", str(preset)]) == 0
    assert "16 training runs" in capsys.readouterr().out
    preset.write_text(yaml.safe_dump({"games": ["Nope"]}))
    assert cli.main(["check-config", "--config", str(preset)]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_run_plans_refuse_budgets_with_nothing_to_learn():
    with pytest.raises(ConfigError, match=r"budget\.env_steps: must be >= 1"):
        parse_preset({"games": ["Seaquest"], "budget": {"env_steps": 0}})
    with pytest.raises(ConfigError, match="eval_episodes"):
        parse_preset({"games": ["Seaquest"], "budget": {"eval_episodes": 0}})
    # a matched warm-up longer than the method's own shrinks the budget below one step
    p = parse_preset({"games": ["Seaquest"], "budget": {"env_steps": 50}, "methods": {
        "m": {"base": "de_rainbow", "learner": {"warmup_steps": 0, "matched_warmup_steps": 100}}}})
    with pytest.raises(ConfigError, match=r"raise budget\.env_steps"):
        for_game(resolve_method(p, "m"), "Seaquest")


def test_a_preset_method_named_like_a_builtin_refines_it():
    p = parse_preset({"methods": {"de_rainbow": {"learner": {"warmup_steps": 100}}}})
    s = resolve_method(p, "de_rainbow")
    assert s.agent.encoder == "de_cnn" and s.protocol.grayscale and s.learner.warmup_steps == 100


def test_de_rainbow_p_matches_the_learning_steps_of_a_shorter_warmup():
    p = parse_preset({
        "budget": {"env_steps": 2000},
        "methods": {"de_rainbow": {"learner": {"warmup_steps": 100}},
                    "de_rainbow_p": {"base": "de_rainbow", "learner": {
                        "warmup_steps": "pretrain_frames", "matched_warmup_steps": 100}}},
    })
    base = for_game(resolve_method(p, "de_rainbow"), "Seaquest")
    matched = for_game(resolve_method(p, "de_rainbow_p"), "Seaquest", pretrain_frames=500)
    assert matched.total_env_steps == 2400 and matched.expected_updates == base.expected_updates == 1900


def test_a_malformed_method_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("resolved_method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_method(bad, "spirl")
    with pytest.raises(FileNotFoundError, match="no config"):
        load_method(tmp_path / "missing.yaml", "spirl")


def test_studies_load_from_a_preset_with_inline_variants_and_free_text_tables(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "games: [Seaquest]\nstudies:\n"
        "  pooling_400k:\n    question: cls or avg?\n    table: Table 15 (400K columns; per-trial medians)\n"
        "    reference: cls\n    variants:\n      cls: {base: spirl, saliency: {max_ratio: 0.5}}\n"
        "      avg: {base: spirl, agent: {pooling: avg}}\n"
        "  padding:\n    table: Table 14\n    reference: zero\n    variants: {zero: spirl, token: {base: spirl}}\n"
        "  fixed_k:\n    table: Fig. 8\n    variants: {dynamic: spirl, fixed: {base: spirl}}\n")
    pooling, padding, fixed = read_studies(preset)
    assert pooling.variants == {"cls": "pooling_400k-cls", "avg": "pooling_400k-avg"}  # spirl.config's names
    assert pooling.reference == "pooling_400k-cls" and pooling.paper_table == "table15-400k"
    assert padding.paper_table == "table14" and padding.variants["token"] == "padding-token"
    assert fixed.paper_table is None and fixed.reference == "spirl"
    assert paper_table_tag("Table 15 (100K columns)") == "table15-100k"


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
