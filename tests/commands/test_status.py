"""spirl status: the command line over spirl.status."""

from __future__ import annotations

from pathlib import Path

from spirl.cli import main
from spirl.status import DEFAULT_PRESET

ROOT = Path(__file__).resolve().parents[2]


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nowhere"), "--config", str(ROOT / DEFAULT_PRESET)]) == 2
    assert "no results folder at" in capsys.readouterr().err
    assert main(["status", str(tmp_path), "--config", str(tmp_path / "absent.yaml")]) == 2
    assert "no preset at" in capsys.readouterr().err
