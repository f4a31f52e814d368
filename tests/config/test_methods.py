"""spirl.config.methods: paper defaults, built-in methods, inheritance, --set overrides, method files."""

import pytest
import yaml

from spirl import cli
from spirl.config import (
    ConfigError,
    MethodSettings,
    apply_overrides,
    load_method,
    parse_preset,
    resolve_method,
    settings_to_dict,
)


def test_defaults_are_the_paper_settings():
    s = MethodSettings()
    assert (s.learner.n_step, s.learner.gamma, s.learner.lr, s.learner.adam_eps) == (20, 0.99, 1e-4, 1.5e-4)
    assert (s.agent.residual, s.agent.noisy_sigma0, s.pretrain.epochs, s.saliency.xscale) == (False, 0.5, 50, 1.0)
    assert (s.learner.new_priority, s.learner.updates_per_step, s.budget.eval_episodes) == ("one", 1.0, 50)


def test_inheritance_and_builtins(small):
    p = parse_preset(small)
    s = resolve_method(p, "padding-mask")
    assert s.agent.padding == "mask" and s.budget.env_steps == 2000 and s.name == "padding-mask"
    assert resolve_method(p, "spirl_dec1").mae.decoder_depth == 1
    d = resolve_method(p, "de_rainbow_p")
    assert d.agent.encoder == "de_cnn" and d.protocol.grayscale and d.protocol.frame_size == 84
    assert d.learner.warmup_steps == "pretrain_frames" and d.learner.replay_capacity == 100_000


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


def test_a_preset_method_named_like_a_builtin_refines_it():
    p = parse_preset({"methods": {"de_rainbow": {"learner": {"warmup_steps": 100}}}})
    s = resolve_method(p, "de_rainbow")
    assert s.agent.encoder == "de_cnn" and s.protocol.grayscale and s.learner.warmup_steps == 100


def test_resolved_method_file_round_trip(small, tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(small))
    out = tmp_path / "methods" / "padding-mask.yaml"
    assert cli.main(["resolve-method", "--config", str(preset), "--method", "padding-mask", "--out", str(out)]) == 0
    again = load_method(out, "padding-mask")
    assert settings_to_dict(again) == settings_to_dict(load_method(preset, "padding-mask"))
    with pytest.raises(ConfigError, match="holds method"):
        load_method(out, "spirl")


def test_a_malformed_method_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("resolved_method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_method(bad, "spirl")
    with pytest.raises(FileNotFoundError, match="no config"):
        load_method(tmp_path / "missing.yaml", "spirl")
