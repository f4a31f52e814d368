"""spirl.bench.device_steps: the number formats of the GPU check (every step runs in the CPU rehearsal,
tests/bench/test_device_check.py)."""

import torch

from spirl.bench.device_steps import FORMATS, _format, _model
from spirl.mae.model import MAE
from spirl.saliency.error_map import compute_dtype


def test_tf32_is_switched_on_for_its_block_only_and_measured_on_its_own_model_copy():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with _format("tf32") as dtype:
        assert dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    mae = MAE().eval()
    assert _model(mae, "float32", torch.float32) is mae  # the reference itself
    tf32 = _model(mae, "tf32", torch.float32)
    assert tf32 is not mae and compute_dtype(tf32) == torch.float32  # its own cached first layer
    assert compute_dtype(_model(mae, "float16", torch.float16)) == torch.float16
    assert set(FORMATS["cpu"]) < set(FORMATS["cuda"]) == {"float32", "tf32", "bfloat16", "float16"}
