"""spirl.analysis.study_tables: one table per ablation study."""

import pytest

from spirl.analysis import study_tables as stt


def test_study_table_has_iqm_and_probability_of_improvement(tmp_path, synthetic_scores):
    df = synthetic_scores(methods=("spirl", "spirl_pad_token"))
    study_file = tmp_path / "study.yaml"
    study_file.write_text("studies:\n  padding:\n    question: does padding matter?\n    reference: zero\n"
                          "    variants: {zero: spirl, token: spirl_pad_token}\n    games: [Seaquest, MsPacman]\n")
    [study] = stt.load_studies(study_file)
    assert study.reference == "spirl" and study.games == ["Seaquest", "MsPacman"]
    t = stt.study_table(df, study, reps=40)
    assert t.columns == ["Variant", "Seaquest", "MsPacman", "IQM [95% CI]", "P(> zero) [95% CI]"]
    token = t.rows[1]
    assert token[-1].mean == pytest.approx(1.0)  # token scores 30% higher on every run
    assert token[1].text.endswith("†")  # differs from the reference on Seaquest
    assert t.rows[0][-1].text == "—"


def test_studies_load_from_a_preset_with_inline_variants_and_free_text_tables(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "games: [Seaquest]\nstudies:\n"
        "  pooling_400k:\n    question: cls or avg?\n    table: Table 15 (400K columns; per-trial medians)\n"
        "    reference: cls\n    variants:\n      cls: {base: spirl, saliency: {max_ratio: 0.5}}\n"
        "      avg: {base: spirl, agent: {pooling: avg}}\n"
        "  padding:\n    table: Table 14\n    reference: zero\n    variants: {zero: spirl, token: {base: spirl}}\n"
        "  fixed_k:\n    table: Fig. 8\n    variants: {dynamic: spirl, fixed: {base: spirl}}\n")
    pooling, padding, fixed = stt.load_studies(preset)
    assert pooling.variants == {"cls": "pooling_400k-cls", "avg": "pooling_400k-avg"}  # spirl.config's names
    assert pooling.reference == "pooling_400k-cls" and pooling.table == "table15-400k"
    assert padding.table == "table14" and padding.variants["token"] == "padding-token"
    assert fixed.table is None and fixed.reference == "spirl"
    assert stt.paper_table_tag("Table 15 (100K columns)") == "table15-100k"
