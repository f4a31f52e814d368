"""spirl.analysis.study_tables: one table per ablation study."""

import pytest

from spirl.analysis import study_tables as stt
from spirl.config import read_studies


def test_study_table_has_iqm_and_probability_of_improvement(tmp_path, synthetic_scores):
    df = synthetic_scores(methods=("spirl", "spirl_pad_token"))
    study_file = tmp_path / "study.yaml"
    study_file.write_text("name: padding\nquestion: does padding matter?\nreference: zero\n"
                          "variants: {zero: spirl, token: spirl_pad_token}\ngames: [Seaquest, MsPacman]\n")
    [study] = read_studies(study_file)
    assert study.reference == "spirl" and study.games == ["Seaquest", "MsPacman"]
    t = stt.study_table(df, study, reps=40)
    assert t.columns == ["Variant", "Seaquest", "MsPacman", "IQM [95% CI]", "P(> zero) [95% CI]"]
    token = t.rows[1]
    assert token[-1].mean == pytest.approx(1.0)  # token scores 30% higher on every run
    assert token[1].text.endswith("†")  # differs from the reference on Seaquest
    assert t.rows[0][-1].text == "—"


