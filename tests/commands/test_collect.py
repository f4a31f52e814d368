"""spirl collect: the command line over spirl.atari.frames."""

from __future__ import annotations

from spirl.atari.frames import load_frames
from spirl.cli import main


def test_cli_collects_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "sub" / "pong"  # no .npz suffix: the file is still written exactly there
    assert main(["collect", "--game", "pong", "--frames", "40", "--seed", "3", "--out", str(out)]) == 0
    assert "--frames is now --n-frames" in capsys.readouterr().err  # the old spelling still works, for one release
    frames, meta = load_frames(out)
    assert frames.shape == (40, 96, 96, 3) and meta["game"] == "Pong" and meta["seed"] == 3
    before = out.read_bytes()
    assert main(["collect", "--game", "Pong", "--n-frames", "20", "--seed", "4", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == before  # untouched
    assert main(["collect", "--game", "Pong", "--n-frames", "20", "--seed", "4", "--out", str(out), "--force"]) == 0
    assert load_frames(out)[1]["frames"] == 20
    assert sorted(p.name for p in out.parent.iterdir()) == ["pong", "pong.sha256"]  # no temporary file left
    assert main(["collect", "--game", "Pongg", "--n-frames", "5", "--out", str(tmp_path / "x.npz")]) == 2
    assert "Pong" in capsys.readouterr().err
