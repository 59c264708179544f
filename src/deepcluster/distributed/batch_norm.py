"""Batch norm over the global batch, on any device: under several processes, each process normalises its
share of a batch with the statistics of the whole batch, so that N processes train as one.

PyTorch's ``SyncBatchNorm`` needs CUDA; this one sums its moments with ``reduce.differentiable_sum``
(gloo on CPUs, nccl on GPUs), and its gradients flow through the sums to every process.
"""

from __future__ import annotations

import torch
from torch import nn

from deepcluster.distributed.reduce import differentiable_sum, distributed

# several processes normalise over the whole global batch, so that N processes train as one process does
GLOBAL_BATCH_NORM = True


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are the whole global batch's; in one process, or in eval mode,
    plain batch norm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected a batch of at least 2 dimensions, got {input.dim()}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and distributed()):
            return super().forward(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1, *([1] * (input.dim() - 2))]
        count = torch.tensor([input.numel() / input.shape[1]], dtype=input.dtype, device=input.device)
        totals = differentiable_sum(torch.cat([input.sum(dims), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centred = input - mean.view(shape)
        variance = differentiable_sum((centred * centred).sum(dims)) / n
        output = centred * torch.rsqrt(variance + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(variance.detach() * n / (n - 1), factor)  # unbiased, as batch norm keeps
        return output


def use_global_batch_norm(module: nn.Module) -> nn.Module:
    """Every batch norm of ``module`` (in place) made a ``GlobalBatchNorm``: the same parameters and buffers,
    so that optimisers and checkpoints see no difference."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.__class__ = GlobalBatchNorm
    return module
