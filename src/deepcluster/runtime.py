"""Run-wide choices made explicit: the device, mixed precision, and per-stage seeds.

Nothing here touches global random state: every random stage gets its own seed,
derived from the run's seed, the round and the stage's name, so a run is
reproducible and a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import os
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepcluster.distributed.processes import launched_processes


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; anything else is taken as given. Under a
    launcher with several processes, plain ``cuda`` means this process's own GPU (``LOCAL_RANK``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"runtime.device = {name!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    if device.type == "cuda" and device.index is None and launched_processes() > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def use_mixed_precision(setting: str | bool, device: torch.device) -> bool:
    """``auto`` means bf16 autocast on CUDA devices that support it, full precision elsewhere."""
    if setting == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return bool(setting)


@dataclass(frozen=True)
class Execution:
    """Where and how networks run: one code path for CPU and GPU, the device a parameter.

    ``mixed_precision``: bf16 autocast; ``channels_last``: NHWC memory layout for
    convolutions (faster on tensor cores); ``compile``: ``torch.compile`` the forward
    pass (pays a compilation per new network, so it suits long epochs).
    """

    device: torch.device = torch.device("cpu")
    mixed_precision: bool = False
    channels_last: bool = False
    compile: bool = False

    def autocast(self):
        if not self.mixed_precision:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def place_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model moved to the device (and layout) in place."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def forward_of(self, model: torch.nn.Module):
        """What to call for a forward pass: the model, or its compiled version."""
        return torch.compile(model) if self.compile else model

    def place_input(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images


def execution_from_settings(runtime: dict[str, Any]) -> Execution:
    """An ``Execution`` from the ``runtime`` parameters, resolving every ``auto``."""
    device = resolve_device(runtime.get("device", "auto"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels
    channels_last = runtime.get("channels_last", "auto")
    return Execution(
        device=device,
        mixed_precision=use_mixed_precision(runtime.get("mixed_precision", "auto"), device),
        channels_last=device.type == "cuda" if channels_last == "auto" else bool(channels_last),
        compile=bool(runtime.get("compile", False)),
    )


def derive_seed(run_seed: int, round_number: int, stage: str) -> int:
    """A 31-bit seed for one stage of one round, independent of every other stage's."""
    sequence = np.random.SeedSequence([run_seed, round_number, zlib.crc32(stage.encode())])
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)
