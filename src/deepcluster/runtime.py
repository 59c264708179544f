"""Run-wide choices made explicit: the device, mixed precision, and per-stage seeds.

Nothing here touches global random state: every random stage gets its own seed,
derived from the run's seed, the round and the stage's name, so a run is
reproducible and a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; anything else is taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"runtime.device = {name!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return device


def use_mixed_precision(setting: str | bool, device: torch.device) -> bool:
    """``auto`` means bf16 autocast on CUDA devices that support it, full precision elsewhere."""
    if setting == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return bool(setting)


def derive_seed(run_seed: int, round_number: int, stage: str) -> int:
    """A 31-bit seed for one stage of one round, independent of every other stage's."""
    sequence = np.random.SeedSequence([run_seed, round_number, zlib.crc32(stage.encode())])
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)
