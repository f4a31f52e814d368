"""spirl.waits: every kind of host-device wait is recorded, and work that needs none is not."""

import numpy as np
import torch

from spirl.waits import BUDGET, KINDS, count_waits


def test_each_kind_of_wait_is_recorded_once():
    x = torch.randn(6)
    with count_waits() as log:
        x.cpu().numpy()  # one copy, not two
        x[0].item()
        bool(x[1] > 0)
        x[x > 0]
        x.nonzero()
        x.tolist()
        np.asarray(x)
        torch.from_numpy(np.ones(3)).to("cpu")  # a blocking copy (on a GPU: host -> device, waited for)
    kinds = [k for k, _, _ in log.events]
    assert kinds == ["to-host", "scalar", "scalar", "data-dependent", "data-dependent", "to-host", "to-host",
                     "blocking-copy"], log.describe()
    assert set(kinds) == set(KINDS)
    assert all("test_waits.py" in where for _, _, where in log.events)  # the line that asked


def test_work_that_needs_no_wait_is_not_counted():
    x = torch.randn(4, 5, requires_grad=True)
    with count_waits() as log:
        y = (x @ x.T).softmax(-1).sum()
        y.backward()
        torch.nn.utils.clip_grad_norm_([x], 1.0)  # its own moves stay on one device
        torch.from_numpy(np.ones(3)).to("cpu", non_blocking=True)
        x.detach().argmax(-1)
        x[torch.tensor([0, 2])]  # integer indexing has a known size
    assert log.total == 0, log.describe()


def test_budget_names_both_methods_and_the_evaluation():
    assert set(BUDGET["train_step"]) == {"de_rainbow", "spirl"}
    assert BUDGET["eval_step"] == 1
