"""spirl bench: each benchmark's options (spirl.commands.bench) and its refusals."""

from spirl.cli import main


def test_float16_off_cuda_is_refused_in_one_line(capsys):
    # a bad input: exit 2 (docs/reliability.md#exit-codes)
    assert main(["bench", "pretrain", "--quick", "--device", "cpu", "--precision", "float16"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pretrain.precision: float16 runs on CUDA only" in err
