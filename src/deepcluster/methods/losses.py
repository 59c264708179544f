"""The clustering losses of DeepCluster's successors, and SwAV's balanced codes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deepcluster.distributed.processes import world_size
from deepcluster.distributed.reduce import all_reduce_max, all_reduce_sum


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Soft codes (B, K) for a batch of prototype scores that spread the batch evenly over the K prototypes.

    Sinkhorn-Knopp on exp(scores / epsilon): alternately every prototype gets the
    same total mass and every sample a total of one. Sums over the batch go through
    ``all_reduce_sum``, so under ``torch.distributed`` the balance holds over the
    whole global batch. Each returned row sums to one.
    """
    scores = scores.float()
    # subtracting the global maximum changes nothing after normalising, and avoids overflow
    top = all_reduce_max(scores.max().clone())
    codes = torch.exp((scores - top) / epsilon).T  # (K, B)
    prototypes = codes.shape[0]
    samples = all_reduce_sum(torch.tensor(float(codes.shape[1]), device=codes.device))
    codes /= all_reduce_sum(codes.sum())
    for _ in range(iterations):
        codes /= all_reduce_sum(codes.sum(dim=1, keepdim=True)) * prototypes
        codes /= codes.sum(dim=0, keepdim=True) * samples
    return (codes * samples).T


def swapped_prediction_loss(
    scores: list[torch.Tensor], codes: list[torch.Tensor], temperature: float = 0.1
) -> torch.Tensor:
    """SwAV's loss: each code (from a large view) is predicted from every other view's scores.

    ``scores``: one (B, K) tensor per view, large views first; ``codes``: one (B, K)
    per large view. Cross-entropy between a code and the softmax of a view's scores
    at ``temperature``, averaged over every (code, other view) pair.
    """
    total, pairs = scores[0].new_zeros(()), 0
    for code_index, code in enumerate(codes):
        for view_index, view_scores in enumerate(scores):
            if view_index == code_index:
                continue
            log_probabilities = F.log_softmax(view_scores.float() / temperature, dim=1)
            total = total - (code * log_probabilities).sum(dim=1).mean()
            pairs += 1
    return total / pairs


def global_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None, ignore_index: int = -100
) -> torch.Tensor:
    """``F.cross_entropy``'s weighted mean over the global batch: the weights of the targets (or their count)
    summed over every process. Scaled by the number of processes, since ``DistributedDataParallel``
    averages the processes' gradients; a per-process mean would weigh each process's share alike however
    many targets or how much weight it holds."""
    losses = F.cross_entropy(logits, targets, weight=weight, ignore_index=ignore_index, reduction="none")
    kept = (targets != ignore_index).to(losses.dtype)
    mass = kept if weight is None else weight[targets.clamp(min=0)].to(losses.dtype) * kept
    total = all_reduce_sum(mass.sum().detach().clone()).clamp(min=torch.finfo(losses.dtype).tiny)
    return losses.sum() * world_size() / total


def assignment_loss(
    scores: list[list[torch.Tensor]], targets: list[torch.Tensor], temperature: float = 0.1
) -> torch.Tensor:
    """DeepCluster-v2's loss: cross-entropy of every view's scores at ``temperature`` against the
    image's cluster under each head, averaged over views and heads.

    ``scores[v][h]``: (B, K_h) scores of view v under head h; ``targets[h]``: (B,) clusters.
    Targets of -1 (an image not yet clustered) are ignored.
    """
    losses = [
        global_cross_entropy(view[h].float() / temperature, targets[h], ignore_index=-1)
        for view in scores
        for h in range(len(targets))
    ]
    return torch.stack(losses).mean()
