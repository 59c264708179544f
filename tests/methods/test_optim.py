import pytest
import torch

from deepcluster.methods.optim import LARS, parameter_groups, warmup_cosine


def test_warmup_then_cosine():
    lrs = [warmup_cosine(step, 100, 10, base_lr=1.0, final_lr=0.1) for step in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.55, abs=0.01)
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_biases_and_norms_are_neither_decayed_nor_adapted():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    decayed, plain = parameter_groups([model], weight_decay=0.1)
    assert len(decayed["params"]) == 1 and decayed["lars"] and decayed["weight_decay"] == 0.1
    assert len(plain["params"]) == 3 and not plain["lars"] and plain["weight_decay"] == 0.0


def test_lars_scales_each_step_by_the_trust_ratio():
    weight = torch.nn.Parameter(torch.full((4,), 2.0))  # norm 4
    weight.grad = torch.full((4,), 10.0)  # norm 20
    optimizer = LARS([weight], lr=1.0, momentum=0.0, eta=0.5)
    optimizer.step()
    # trust = 0.5 * 4 / 20 = 0.1: the step is 0.1 * gradient
    torch.testing.assert_close(weight.detach(), torch.full((4,), 1.0))
    plain = torch.nn.Parameter(torch.full((4,), 2.0))
    plain.grad = torch.full((4,), 10.0)
    LARS([{"params": [plain], "lars": False}], lr=0.01, momentum=0.0).step()
    torch.testing.assert_close(plain.detach(), torch.full((4,), 1.9))


def test_lars_divides_by_the_decayed_gradients_norm_and_clips_the_ratio_at_one():
    def step(eta: float) -> torch.Tensor:
        weight = torch.nn.Parameter(torch.tensor([3.0, 0.0]))  # norm 3
        weight.grad = torch.tensor([0.0, 4.0])  # norm 4; with the decay, g + w = (3, 4), norm 5
        LARS([weight], lr=1.0, momentum=0.0, weight_decay=1.0, eta=eta).step()
        return weight.detach()

    # 0.5 * 3 / 5 = 0.3 (LARC's ||g|| + wd ||w|| would give 0.5 * 3 / 7)
    torch.testing.assert_close(step(0.5), torch.tensor([3.0, 0.0]) - 0.3 * torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(step(10.0), torch.tensor([0.0, -4.0]))  # 10 * 3 / 5 = 6, clipped to 1
