"""spirl plots: the command line over spirl.analysis.figures."""

import pytest

from spirl import cli
from spirl.analysis import figures as fg


def test_plots_cli_needs_inputs(tmp_path, capsys):
    assert cli.main(["plots", "--out", str(tmp_path)]) == 2
    assert "nothing to plot" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="spirl stats"):
        fg.make_figures(tmp_path / "f", stats_dir=tmp_path)
