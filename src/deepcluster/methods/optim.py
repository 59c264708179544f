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
    """Weights with ``weight_decay``; biases and norm layers' parameters without (the usual exclusion)."""
    decayed, plain = [], []
    for module in modules:
        for parameter in module.parameters():
            if parameter.requires_grad:
                (plain if parameter.ndim <= 1 else decayed).append(parameter)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
