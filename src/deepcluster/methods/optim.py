"""Optimisers and the per-iteration learning-rate schedule of DeepCluster's successors."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, base_lr: float, final_lr: float = 0.0) -> float:
    """Linear warm-up from 0 to ``base_lr`` over ``warmup_steps``, then cosine decay to ``final_lr``.

    A function of the global step alone, so a resumed run and every process of a
    distributed one agree without keeping scheduler state.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return final_lr + (base_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def parameter_groups(modules: Iterable[torch.nn.Module], weight_decay: float) -> list[dict]:
    """Weights with ``weight_decay`` and LARS adaptation; biases and norm layers' parameters without
    either (the usual exclusion, as in solo-learn's LARS setting)."""
    decayed, plain = [], []
    for module in modules:
        for parameter in module.parameters():
            if parameter.requires_grad:
                (plain if parameter.ndim <= 1 else decayed).append(parameter)
    return [
        {"params": decayed, "weight_decay": weight_decay, "lars": True},
        {"params": plain, "weight_decay": 0.0, "lars": False},
    ]


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose step for each weight tensor is scaled by a trust ratio
    ``eta * ||w|| / ||g + weight_decay * w||``: the norm of the decayed gradient, as in
    SimCLR's and BYOL's LARS (and lightly's and solo-learn's). The ratio is clipped at 1,
    so that it only ever lowers a tensor's step below plain SGD's at the scheduled rate.

    SwAV's recipe uses LARC instead: ``||g|| + weight_decay * ||w||`` below the line and no
    clipping. The two agree where there is no weight decay and the ratio is below 1; the
    measured tables (docs/benchmarks/methods.md) were taken with this one.
    Groups with ``lars: False`` take plain SGD steps."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.02):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars=True))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for weight in group["params"]:
                if weight.grad is None:
                    continue
                update = weight.grad.add(weight, alpha=group["weight_decay"])
                if group["lars"]:
                    weight_norm, update_norm = torch.linalg.norm(weight), torch.linalg.norm(update)
                    trust = torch.where(
                        (weight_norm > 0) & (update_norm > 0), group["eta"] * weight_norm / update_norm, 1.0
                    )
                    update = update * trust.clamp(max=1.0)
                state = self.state[weight]
                if "momentum" not in state:
                    state["momentum"] = update.clone()
                else:
                    state["momentum"].mul_(group["momentum"]).add_(update)
                weight.add_(state["momentum"], alpha=-group["lr"])
        return loss
