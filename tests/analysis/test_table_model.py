"""spirl.analysis.table_model: the table model and its renderings."""

from spirl.analysis import paper_numbers as paper
from spirl.analysis import table_model as tb


def test_latex_escape():
    assert tb.latex_escape("a_b & 5% #1 {x}") == r"a\_b \& 5\% \#1 \{x\}"
    assert tb.latex_escape("↑") == r"$\uparrow$"


def test_numbers_print_without_thousands_separators_and_with_the_sources_digits():
    assert tb.fmt(10602.2, 2299.6) == "10602.2 (2299.6)"
    assert tb.fmt(341.0, 27.0, 5) == "341.0 (27.0) n=5"
    assert tb.fmt(2360.0, decimals=0) == "2360"
    assert tb.paper_cell(paper.TABLE14["mask"]).text == "494.40 (154.8) n=5"
    assert tb.fmt(None) == "—"


def test_block_headings_render_in_every_format_and_name_each_cells_block():
    t = tb.Table("t", "T", "caption", ["Method", "A", "B"])
    t.rows = [tb.section("Paper"), [tb.Cell("x"), tb.Cell("1.0", bold=True, mean=1.0), tb.Cell("2.0")],
              tb.section("Ours"), [tb.Cell("y"), tb.Cell("3.0"), tb.Cell("4.0")]]
    md = t.to_markdown()
    assert "| *Paper* |  |  |" in md and "| x | **1.0** | 2.0 |" in md
    assert r"\multicolumn{3}{l}{\emph{Ours}} \\" in t.to_latex()
    assert '<tr class="section"><th colspan="3">Ours</th></tr>' in t.to_html()
    frame = t.to_frame()
    assert list(frame["block"]) == ["Paper", "Paper", "Ours", "Ours"] and list(frame["row"]) == ["x", "x", "y", "y"]


def test_ours_is_marked_above_the_published_best_without_taking_the_bold():
    published = [tb.Cell("1.0", mean=1.0), tb.Cell("2.0", mean=2.0)]
    ours = [tb.Cell("3.0", mean=3.0), tb.Cell("1.5", mean=1.5)]
    tb.bold_best(published)
    tb.mark_above(ours, published)
    assert [c.bold for c in published] == [False, True] and not any(c.bold for c in ours)
    assert ours[0].text == f"3.0 {tb.ABOVE_MARK}" and ours[1].text == "1.5"


def test_verdict_classes_are_single_html_classes():
    assert tb.verdict_class("too few runs") == "too-few-runs" and tb.verdict_class("n/a") == "na"
