"""Batch norm over the global batch: two processes, each with half a batch, give one process's outputs,
gradients and running statistics on the whole batch (gloo, CPU)."""

import pytest
import torch
from torch import nn

from deepcluster.distributed.batch_norm import GlobalBatchNorm, use_global_batch_norm

pytestmark = pytest.mark.learning  # CI runs these again on other floating-point paths


def _network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(64))


def _one_step(rank: int, processes: int) -> dict:
    network = use_global_batch_norm(_network())
    batch = torch.randn(8, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    share = slice(4 * rank, 4 * rank + 4) if processes == 2 else slice(None)
    output = network(batch[share])
    # the mean over the global batch of a loss that depends on every image through the statistics
    (output.pow(3).sum() / 8).backward()
    return {
        "output": output.detach(),
        "gradients": {name: p.grad for name, p in network.named_parameters()},
        "buffers": {name: b.clone() for name, b in network.named_buffers()},
    }


def test_two_processes_normalise_and_differentiate_as_one(two_processes, tmp_path):
    ranks = two_processes.run(_one_step, tmp_path, 2)
    alone = _one_step(0, 1)
    torch.testing.assert_close(torch.cat([r["output"] for r in ranks]), alone["output"], atol=1e-5, rtol=1e-4)
    for name, gradient in alone["gradients"].items():  # each process's own part; DDP sums them
        torch.testing.assert_close(ranks[0]["gradients"][name] + ranks[1]["gradients"][name], gradient,
                                   atol=1e-5, rtol=1e-4, msg=name)  # fmt: skip
    for name, buffer in alone["buffers"].items():
        for result in ranks:
            torch.testing.assert_close(result["buffers"][name], buffer, atol=1e-6, rtol=1e-5, msg=name)


def test_one_process_is_plain_batch_norm_and_keeps_its_parameters():
    plain = _network()
    converted = use_global_batch_norm(_network())
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[4], GlobalBatchNorm)
    batch = torch.randn(8, 2, 6, 6)
    torch.testing.assert_close(converted(batch), plain(batch))
    assert list(converted.state_dict()) == list(plain.state_dict())
