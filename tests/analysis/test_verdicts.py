"""spirl.analysis.verdicts: the verdict rule on constructed cases."""

from spirl.analysis import paper_numbers as paper
from spirl.analysis import tables as tb
from spirl.analysis import verdicts as vd


def test_welch_verdict_on_clearly_same_and_clearly_different_cases():
    assert vd.verdict(100.0, 10.0, 5, 101.0, 10.0, 5)[0] == "consistent"
    assert vd.verdict(100.0, 1.0, 10, 200.0, 1.0, 10)[0] == "differs"
    v, detail = vd.verdict(341.4, 277.8, 10, 341.4, 277.8, 10)
    assert v == "consistent" and "Welch" in detail and "p=1.000" in detail


def test_mean_only_verdict_uses_our_confidence_interval():
    # n = 5, std 10 -> half-width t(0.975, 4) * 10 / sqrt(5) = 12.4
    assert vd.verdict(100.0, 10.0, 5, 110.0)[0] == "consistent"
    assert vd.verdict(100.0, 10.0, 5, 115.0)[0] == "differs"
    assert "inside" in vd.verdict(100.0, 10.0, 5, 110.0)[1]
    # the paper's std without a run count: still the mean-only rule
    assert vd.verdict(100.0, 10.0, 5, 115.0, ref_std=50.0)[0] == "differs"


def test_verdict_is_not_computable_without_two_runs_or_a_paper_number():
    assert vd.verdict(100.0, None, 1, 100.0, 1.0, 5)[0] == "n/a"
    assert vd.verdict(100.0, 0.0, 1, 100.0)[0] == "n/a"
    assert vd.verdict(None, None, None, 100.0)[0] == "n/a"
    assert vd.verdict(100.0, 1.0, 3, None)[0] == "n/a"
    assert vd.verdict(5.0, 0.0, 3, 5.0, 0.0, 3)[0] == "consistent"
    assert vd.verdict(5.0, 0.0, 3, 6.0, 0.0, 3)[0] == "differs"


def test_verdict_cells_refuse_other_budgets():
    s = tb.Summary(341.0, 270.0, 5, 2_000)
    cell = vd.verdict_cell(s, paper.TABLE11_PAPER["Frostbite"], 100_000)
    assert cell.text == "n/a" and "2,000" in cell.detail
    ok = vd.verdict_cell(tb.Summary(341.0, 270.0, 5, 100_000), paper.TABLE11_PAPER["Frostbite"], 100_000)
    assert ok.text == "consistent"
