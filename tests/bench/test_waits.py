"""spirl bench waits: one training step and one evaluation step of DE-Rainbow and SPIRL stay within their
budget of host-device waits (counted on the CPU: an upper bound of the GPU's count, spirl.waits)."""

from spirl.waits import BUDGET


def test_training_and_evaluation_steps_keep_their_wait_budget(bench_json):
    doc = bench_json("waits")
    for method in ("de_rainbow", "spirl"):
        f = doc["figures"][method]
        assert f["train_step"] <= BUDGET["train_step"][method], f["train_waits"]
        assert f["eval_total"] <= BUDGET["eval_step"] * f["eval_steps"], f["eval_waits"]
        assert f["eval_steps"] > 1
        # the one wait of an evaluation step is the actions' read-back
        assert all("learner.py" in line for line in f["eval_waits"]), f["eval_waits"]
    assert doc["ratio"] <= 1.0
