"""spirl.analysis.tables: the table model and its renderings."""



from spirl.analysis import tables as tb

# ------------------------------------------------------------------------------------------ the verdict rule


# ------------------------------------------------------------------------------------------ tables


def test_latex_escape():
    assert tb.latex_escape("a_b & 5% #1 {x}") == r"a\_b \& 5\% \#1 \{x\}"


