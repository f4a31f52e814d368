"""spirl.workflow_plan: the targets, inputs and flags the workflow's rules take from a preset."""

from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from spirl import workflow_plan as wp
from spirl.config import StatsSettings, load_preset, resolve_method

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "tests" / "config" / "e2e.yaml"


@pytest.fixture(scope="module")
def e2e():
    preset = load_preset(E2E)
    return preset, {name: resolve_method(preset, name) for name in preset.method_names()}


def test_targets_of_the_end_to_end_preset(e2e):
    preset, methods = e2e
    assert wp.eval_csvs(preset) == [f"results/runs/{m}/Seaquest/{s}/eval.csv"
                                    for m in ("spirl", "de_rainbow", "selection-random") for s in (0, 1)]
    assert wp.k_hists(preset) == ["results/saliency/tiny/Seaquest/k_hist.csv"]
    assert wp.study_yamls(preset) == ["results/studies/selection.yaml"]
    assert wp.mae_variants_used(preset) == ["tiny"]
    assert wp.saliency_panel_dirs(preset) == ["reports/saliency/tiny/Seaquest"]
    assert wp.attention_runs(preset, methods) == [("spirl", "Seaquest", 0)]  # SPIRL only, first seed
    assert wp.report_figure_dirs(preset, methods) == ["reports/figures", "reports/saliency", "reports/attention"]
    assert wp.figure_names(preset)[-1] == "poi"  # three methods: a pair to compare
    assert wp.published_jsons(preset) == {}


def test_a_run_takes_its_method_file_and_a_spirl_run_its_mae(e2e):
    _, methods = e2e
    assert wp.train_inputs("de_rainbow", "Seaquest", methods["de_rainbow"]) == {
        "method": "results/methods/de_rainbow.yaml"}
    spirl = wp.train_inputs("spirl", "Seaquest", methods["spirl"])
    assert spirl == {"method": "results/methods/spirl.yaml", "mae": "results/mae/tiny/Seaquest/model.pt"}
    assert wp.train_flags(spirl) == "--mae results/mae/tiny/Seaquest/model.pt"


def test_max_ratio_auto_adds_the_k_statistics(e2e):
    _, methods = e2e
    spirl = methods["spirl"]
    auto = replace(spirl, saliency=replace(spirl.saliency, max_ratio="auto"))
    inputs = wp.train_inputs("spirl", "Pong", auto)
    assert inputs["k_hist"] == "results/saliency/tiny/Pong/k_hist.csv"
    assert wp.train_flags(inputs).endswith("--k-hist results/saliency/tiny/Pong/k_hist.csv")


def test_stats_and_tables_share_the_bootstrap_flags():
    stats = StatsSettings(reps=50, seed=3, pairs=["a:b"], interval="percentile")
    assert wp.bootstrap_flags(stats) == "--reps 50 --seed 3 --interval percentile"
    assert wp.stats_flags(stats, {"DrQ(eps)": "results/published/DrQ(eps).json"}) == (
        "--reps 50 --seed 3 --interval percentile --pairs a:b --published 'DrQ(eps)=results/published/DrQ(eps).json'")
    assert wp.tables_flags(stats, ["k.csv"], []) == "--reps 50 --seed 3 --interval percentile --k-hist k.csv"
    assert wp.plots_flags([], ["s1.yaml", "s2.yaml"]) == "--study s1.yaml s2.yaml"


def test_alternatives_match_whole_names_longest_first():
    assert wp.alternatives(["spirl", "spirl-x"]) == r"spirl\-x|spirl"
    assert wp.alternatives([]) == "(?!)"


def test_a_schema_error_is_one_line_naming_the_key():
    schema = {"type": "object", "properties": {"threads": {"type": "integer"}}, "additionalProperties": False}
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate({"thread": 1}, schema)
    assert wp.error_line(info.value, "p.yaml") == "config error (p.yaml): (top level): unknown key 'thread'; " \
                                                   "allowed: threads"
    assert wp.error_line(ValueError("games: bad\nmore"), "p.yaml") == "config error (p.yaml): games: bad"
