"""spirl pretrain: the command line over spirl.mae.pretrain; --config reads an MAE variant file."""

import yaml

from spirl.cli import main


def test_a_file_that_is_not_an_mae_variant_is_refused_before_any_work(tmp_path, capsys):
    config = tmp_path / "spirl.yaml"
    config.write_text(yaml.safe_dump({"resolved_method": "spirl", "settings": {}}))
    out = tmp_path / "model.pt"
    assert main(["pretrain", "--frames", str(tmp_path / "none.npz"), "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not an MAE variant file" in err
    assert not out.exists()


def test_set_overrides_the_variant_file(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"resolved_mae": "tiny", "mae": {"depth": 1}, "pretrain": {"epochs": 1}}))
    args = ["pretrain", "--frames", str(tmp_path / "none.npz"), "--config", str(config), "--out",
            str(tmp_path / "model.pt")]
    assert main([*args, "--set", "pretrain.epochs=0"]) == 2  # the override is checked like the file
    assert "epochs" in capsys.readouterr().err
