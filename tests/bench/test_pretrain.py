"""spirl bench pretrain --quick --json: both attention versions, and a reduced format against float32."""

import pytest


def test_pretrain_benchmark_reports_samples_per_second(bench_json):
    doc = bench_json("pretrain", "--device", "cpu", "--batch-size", "8", "--iters", "1")
    rate = doc["figures"]["samples_per_s"]
    assert set(rate) == {"shipped", "straightforward"} and doc["precision"] == "float32"
    assert doc["ratio"] == pytest.approx(rate["shipped"] / rate["straightforward"])


def test_bfloat16_pretraining_is_compared_with_float32_on_the_same_batches(bench_json):
    doc = bench_json("pretrain", "--device", "cpu", "--batch-size", "4", "--iters", "1", "--precision", "bfloat16",
                     "--loss-updates", "2")
    f = doc["figures"]
    assert doc["precision"] == "bfloat16" and set(f["samples_per_s"]) == {"shipped", "straightforward",
                                                                          "shipped_float32"}
    assert len(f["loss"]) == len(f["loss_float32"]) == 2
    assert f["loss"][0] == pytest.approx(f["loss_float32"][0], rel=0.05)  # same init, batch and mask
