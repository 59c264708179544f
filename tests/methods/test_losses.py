import math

import pytest
import torch
import torch.nn.functional as F

from deepcluster.methods.losses import assignment_loss, global_cross_entropy, sinkhorn, swapped_prediction_loss


def test_sinkhorn_spreads_a_lopsided_batch_evenly_over_the_prototypes():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(256, 8, generator=generator) * 0.1
    scores[:, 0] += 0.1  # every sample leans towards prototype 0
    raw = torch.softmax(scores / 0.05, dim=1).sum(dim=0)
    codes = sinkhorn(scores, epsilon=0.05, iterations=3)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(256))  # each sample's code sums to one
    columns = codes.sum(dim=0)
    assert columns.max() / columns.min() < 1.2 < 3 < raw.max() / raw.min()  # far more even than the softmax
    converged = sinkhorn(scores, epsilon=0.05, iterations=200).sum(dim=0)
    torch.testing.assert_close(converged, torch.full((8,), 256 / 8), rtol=1e-3, atol=0)


def test_sinkhorn_keeps_each_samples_preference():
    scores = torch.eye(4).repeat(8, 1)  # sample i prefers prototype i % 4, already balanced
    codes = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert torch.equal(codes.argmax(dim=1), torch.arange(4).repeat(8))


def test_swapped_prediction_is_low_when_views_agree_and_high_when_they_do_not():
    code = torch.eye(4)
    agreeing = [10 * torch.eye(4)] * 3
    disagreeing = [10 * torch.eye(4), 10 * torch.eye(4).roll(1, dims=1), 10 * torch.eye(4).roll(2, dims=1)]
    low = swapped_prediction_loss(agreeing, [code, code], temperature=1.0)
    high = swapped_prediction_loss(disagreeing, [code, code], temperature=1.0)
    assert float(low) < 1e-3 and float(high) > 5
    uniform = swapped_prediction_loss([torch.zeros(4, 4)] * 2, [code, code], temperature=0.1)
    assert float(uniform) == pytest.approx(math.log(4))


def test_assignment_loss_averages_heads_and_views_and_ignores_unassigned():
    targets = [torch.tensor([0, 1, -1]), torch.tensor([2, 0, 1])]
    right = [[10 * torch.eye(3)[[0, 1, 2]], 10 * torch.eye(3)[[2, 0, 1]]]] * 2
    assert float(assignment_loss(right, targets, temperature=1.0)) < 1e-3
    flat = [[torch.zeros(3, 3), torch.zeros(3, 3)]]
    assert float(assignment_loss(flat, targets, temperature=0.1)) == pytest.approx(math.log(3))


def test_global_cross_entropy_is_the_weighted_mean_of_torch_in_one_process():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 4, generator=generator)
    targets = torch.tensor([0, 1, 2, 3, 0, -1, 1, 1, 2, -1, 3, 0])
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0])
    torch.testing.assert_close(
        global_cross_entropy(logits, targets, weights, ignore_index=-1),
        F.cross_entropy(logits, targets, weight=weights, ignore_index=-1),
    )
    torch.testing.assert_close(
        global_cross_entropy(logits, targets.clamp(min=0)), F.cross_entropy(logits, targets.clamp(min=0))
    )
    assert float(global_cross_entropy(logits, torch.full((12,), -1), ignore_index=-1)) == 0.0  # nothing to learn from
