"""spirl.mae.variant_file: results/maes/{mae}.yaml, written from the preset and read by spirl pretrain --config."""

from pathlib import Path

import pytest
import yaml

from spirl.config import ConfigError, load_preset, mae_settings
from spirl.mae.variant_file import load_mae_file, mae_file_doc

E2E = Path(__file__).resolve().parents[2] / "tests" / "config" / "e2e.yaml"


def test_the_file_round_trips_the_presets_variant(tmp_path):
    settings = mae_settings(load_preset(E2E))["tiny"]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(mae_file_doc("tiny", settings), sort_keys=False))
    name, arch, pretrain = load_mae_file(path)
    assert name == "tiny" and arch.depth == 1 and arch.decoder_embed_dim == 16 and pretrain.epochs == 1
    assert pretrain.batch_size == 16 and pretrain.warmup_epochs == 0


@pytest.mark.parametrize("doc, message", [
    ({"resolved_method": "spirl", "settings": {}}, "not an MAE variant file"),
    ({"resolved_mae": "x", "mae": {"depht": 2}}, "depht"),
    ({"resolved_mae": "x", "pretrain": {"epochs": 0}}, "epochs"),
])
def test_anything_else_is_refused_in_one_line(tmp_path, doc, message):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=message) as info:
        load_mae_file(path)
    assert len(str(info.value).splitlines()) == 1
