"""spirl.devices: device choice, number-format refusals on given hardware, GPU packing -> resources (no GPU needed)."""

import numpy as np
import pytest
import torch

from spirl.devices import (
    DeviceError,
    Hardware,
    PrecisionError,
    check_precision,
    claim_gpu,
    cpuinfo_flags,
    gpu_resources,
    probe,
    release_gpu_claims,
    select_device,
    to_device,
)

AVX2 = Hardware("AVX2", frozenset({"avx2", "fma"}))  # this project's CI machine: no bfloat16 units
AMX = Hardware("AVX512", frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
H200 = Hardware("AVX2", frozenset({"avx2"}), gpu_name="NVIDIA H200", gpu_bf16=True)
T4 = Hardware("AVX2", frozenset({"avx2"}), gpu_name="Tesla T4", gpu_bf16=False)


def test_auto_picks_a_gpu_only_when_one_is_visible():
    assert select_device("auto", cuda_count=0) == "cpu"
    assert select_device("auto", cuda_count=1) == "cuda"
    assert select_device("cuda", cuda_count=1) == "cuda"
    assert select_device("cpu", cuda_count=2) == "cpu"
    assert select_device("cuda:1", cuda_count=2) == "cuda:1"


def test_a_missing_gpu_is_refused_by_name():
    with pytest.raises(DeviceError, match="no GPU is visible"):
        select_device("cuda", cuda_count=0)
    with pytest.raises(DeviceError, match=r"only 2 GPU\(s\).*cuda:0 \.\. cuda:1"):
        select_device("cuda:2", cuda_count=2)
    with pytest.raises(ValueError, match="not a device"):
        select_device("tpu", cuda_count=0)


def test_this_machine_answers_for_itself():
    assert select_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    hw = probe()
    assert hw.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert hw.cpu_bf16_units == any(f in hw.cpu_flags for f in ("amx_bf16", "avx512_bf16"))


def test_cpuinfo_flags_reads_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpuinfo_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpuinfo_flags(tmp_path / "absent") == frozenset()


def test_float32_is_always_allowed():
    for hw in (AVX2, AMX, H200, T4):
        assert check_precision("float32", "cpu", hardware=hw) is torch.float32
    assert check_precision("float32", "cuda", hardware=H200) is torch.float32


def test_bfloat16_on_a_cpu_without_bfloat16_units_is_refused_in_one_line():
    with pytest.raises(PrecisionError) as err:
        check_precision("bfloat16", "cpu", hardware=AVX2)
    message = str(err.value)
    assert "\n" not in message and "saliency.precision" in message and "AVX2" in message
    assert "slower than float32" in message and "use float32" in message


def test_bfloat16_on_such_a_cpu_runs_only_when_asked_with_a_warning(capsys):
    assert check_precision("bfloat16", "cpu", hardware=AVX2, allow_slow=True) is torch.bfloat16
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning:") and "slower than float32" in err


def test_bfloat16_where_it_pays():
    assert check_precision("bfloat16", "cpu", hardware=AMX) is torch.bfloat16
    assert check_precision("bfloat16", "cuda", hardware=H200) is torch.bfloat16
    with pytest.raises(PrecisionError, match="Tesla T4 has no bfloat16 units; use float16"):
        check_precision("bfloat16", "cuda:0", hardware=T4)


def test_float16_is_cuda_only():
    assert check_precision("float16", "cuda", hardware=T4) is torch.float16
    for hw in (AVX2, AMX):
        with pytest.raises(PrecisionError, match=r"pretrain\.precision: float16 runs on CUDA only"):
            check_precision("float16", "cpu", what="pretrain.precision", hardware=hw)
    with pytest.raises(PrecisionError, match="allowed: float32, bfloat16, float16"):
        check_precision("fp8", "cuda", hardware=H200)


@pytest.mark.parametrize("device, runs, expected", [
    ("cpu", 1, {"gpu": 0, "gpu_slots": 0, "gres": ""}),
    ("cpu", 4, {"gpu": 0, "gpu_slots": 0, "gres": ""}),
    ("auto", 1, {"gpu": 1, "gpu_slots": 1, "gres": ""}),
    ("cuda", 1, {"gpu": 1, "gpu_slots": 1, "gres": ""}),
    ("auto", 4, {"gpu": 0, "gpu_slots": 1, "gres": "gpu:1"}),
    ("cuda:1", 2, {"gpu": 0, "gpu_slots": 1, "gres": "gpu:1"}),
])
def test_packing_turns_into_the_documented_resources(device, runs, expected):
    assert gpu_resources(device, runs) == expected


def test_packing_arithmetic_on_one_machine():
    # One GPU offering 4 slots runs 4 SPIRL runs at once: none waits behind a whole-GPU resource.
    jobs = [gpu_resources("auto", 4) for _ in range(12)]
    slots = 1 * 4
    assert sum(j["gpu_slots"] for j in jobs[:slots]) == slots and all(j["gpu"] == 0 for j in jobs)
    # A SLURM group of 4 such jobs asks for one GPU: the string gres is shared, not summed.
    assert {j["gres"] for j in jobs[:4]} == {"gpu:1"}
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="runs_per_gpu"):
            gpu_resources("auto", bad)


def test_to_device_on_a_cpu_shares_the_array():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    t = to_device(a, "cpu")
    assert t.dtype == torch.uint8 and t.shape == (2, 3, 4) and np.array_equal(t.numpy(), a)
    a[0, 0, 0] = 99  # no copy on a CPU, as .to("cpu")
    assert int(t[0, 0, 0]) == 99
    assert to_device(t, torch.device("cpu")) is t
    # a non-contiguous view is made contiguous first
    assert np.array_equal(to_device(a[:, ::2], "cpu").numpy(), a[:, ::2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (the GPU check's learner step repeats it)")
def test_to_device_on_a_gpu_copies_each_array_intact():
    """The caller overwrites its array at once: the copy must hold the values of the time of the call."""
    a = np.zeros((5, 96, 96, 3), dtype=np.uint8)
    outs = []
    for n in range(8):
        a[:] = n
        outs.append(to_device(a, "cuda"))
    assert [int(o.float().mean()) for o in outs] == list(range(8))


def test_local_jobs_on_several_gpus_each_claim_the_least_shared_one(tmp_path):
    """Jobs started side by side spread over the GPUs; a finished job's GPU is claimed again; cuda:N is kept."""
    try:
        assert [claim_gpu(3, ids=["a", "b", "c"], lock_dir=tmp_path) for _ in range(4)] == [0, 1, 2, 0]
        release_gpu_claims()  # as if those jobs ended
        assert select_device("auto", cuda_count=2, lock_dir=tmp_path) == "cuda:0"
        assert select_device("cuda", cuda_count=2, lock_dir=tmp_path) == "cuda:1"
        assert select_device("auto", cuda_count=2, lock_dir=tmp_path) == "cuda:0"  # second slot of GPU 0
        assert select_device("cuda:1", cuda_count=2, lock_dir=tmp_path) == "cuda:1"  # asked for: no claim
        assert sorted(p.name for p in tmp_path.glob("gpu-[01]-slot-*.lock")) == [
            "gpu-0-slot-0.lock", "gpu-0-slot-1.lock", "gpu-1-slot-0.lock"]
    finally:
        release_gpu_claims()


def test_a_killed_jobs_gpu_claim_is_free_again(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from spirl.devices import claim_gpu; print(claim_gpu(2, ids=['a', 'b'], lock_dir=sys.argv[1]),"
            " flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        assert claim_gpu(2, ids=["a", "b"], lock_dir=tmp_path) == 1
        holder.kill()
        holder.wait(timeout=30)
        assert claim_gpu(2, ids=["a", "b"], lock_dir=tmp_path) == 0  # the killed job's lock went with it
    finally:
        holder.kill()
        release_gpu_claims()
