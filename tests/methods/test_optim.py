import pytest
import torch

from deepcluster.methods.optim import parameter_groups, warmup_cosine


def test_warmup_then_cosine():
    lrs = [warmup_cosine(step, 100, 10, base_lr=1.0, final_lr=0.1) for step in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.55, abs=0.01)
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_biases_and_norms_are_not_decayed():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    decayed, plain = parameter_groups([model], weight_decay=0.1)
    assert len(decayed["params"]) == 1 and decayed["weight_decay"] == 0.1
    assert len(plain["params"]) == 3 and plain["weight_decay"] == 0.0
