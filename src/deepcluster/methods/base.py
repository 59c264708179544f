"""The lifecycle every method answers (``Method``), and what the online methods share beside it:
backbone -> projection head -> prototypes, trained on multi-crop views (``OnlineMethod``).

A method is one module: its class (registered in ``deepcluster.methods.METHODS``) declares the steps of
its round before the epoch (``round_steps``: plain functions the pipelines wrap as nodes), how it is built
from the run's settings and its own tuned constants, its optimiser and its epoch; its ``state_dict`` is its
checkpoint state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from deepcluster.auto import views_for
from deepcluster.data.augment import Augmentation, ColourAugmentation, CropGroup, MultiCrop
from deepcluster.distributed.processes import global_batch_size
from deepcluster.distributed.reduce import merge_written
from deepcluster.methods.heads import ProjectionHead, Prototypes
from deepcluster.methods.optim import parameter_groups
from deepcluster.models import DeepClusterNet, build_model
from deepcluster.run import RunContext

CHECKPOINT_FORMAT = 3

# The online methods' tuned constants (SwAV's and DeepCluster-v2's recipes, scaled to small collections;
# docs/methods.md): the measured tables of docs/benchmarks were taken with these.
ONLINE_BATCH_SIZE = 128  # training.batch_size auto: images per step, each with every view
MIN_STEPS = 50  # a round takes at least this many steps, passing over a small collection several times
TEMPERATURE = 0.1  # softmax temperature of the prototype scores
PROJECTION_DIMS = (512, 128)  # backbone -> hidden -> output (L2-normalised)
VIEWS = {"large": 2, "small": 2}  # multi-crop: the large views make the codes and the memory
FINAL_LR = 0.0005  # where the per-step cosine ends, from training.lr
WARMUP_ROUNDS = 1  # linear warm-up of the learning rate over the first round
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-5
# SwAV's colour jitter; grey images get brightness and contrast only
COLOUR = ColourAugmentation(jitter_probability=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
                            grayscale_probability=0.2, blur_probability=0.0, solarize_probability=0.0)  # fmt: skip
BACKBONE = "backbone."  # the prefix of the backbone's entries in a method's state_dict


@dataclass(frozen=True)
class EpochPlan:
    """Batches and the per-iteration learning rate of one epoch within the run (a constant rate:
    ``final_lr`` = ``base_lr``). ``lr_setting`` names the setting to lower if the loss diverges."""

    batch_size: int
    base_lr: float
    final_lr: float
    warmup_steps: int
    total_steps: int
    first_step: int  # the run's step count when this epoch starts
    lr_setting: str = "training.lr"

    @classmethod
    def constant(cls, batch_size: int, lr: float, lr_setting: str, first_step: int = 0) -> EpochPlan:
        """One rate for the whole epoch (DeepCluster's per-round schedule)."""
        return cls(batch_size, lr, lr, warmup_steps=0, total_steps=1, first_step=first_step, lr_setting=lr_setting)


@dataclass(frozen=True)
class Step:
    """One step of a method's round before its epoch: ``function(*inputs, round_number=r)`` gives ``outputs``.

    ``inputs`` name the round's datasets (``previous_checkpoint``, ``images``, ``run_context``) or an
    earlier step's outputs. The step whose output is ``targets`` feeds the epoch; outputs ending in
    ``_summary`` are dicts of figures that the round's metrics take in.
    """

    function: Callable
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    name: str


class Method(nn.Module):
    """A backbone, the views it trains on, and one round's lifecycle.

    ``train_round`` (``deepcluster.methods.epoch``) calls ``start_round`` with the round's
    targets, then ``training_step`` and ``before_optimizer_step`` on every batch, then
    ``end_round``. Subclasses set ``name`` and implement ``training_step``. ``views`` makes
    each batch's views (``Augmentation`` or ``MultiCrop``). ``round_optimizers`` are the
    optimisers of what lives for one round only (DeepCluster's fresh head), stepped beside
    the run's optimiser.
    """

    name = ""
    uses_pca = False  # whether its round's steps reduce features with ``pca.dim`` (checked before round 1 if so)
    default_batch_size = ONLINE_BATCH_SIZE  # training.batch_size auto
    round_steps: tuple[Step, ...] = ()

    def __init__(self, backbone: DeepClusterNet, views: Augmentation | MultiCrop) -> None:
        super().__init__()
        self.backbone = backbone
        self.views = views

    @classmethod
    def resolve_settings(cls, run_parameters: Any, resolved: dict[str, Any]) -> dict[str, Any]:
        """The method's ``auto`` settings resolved before round 1 (``resolved``: the run's others so far)."""
        return {}

    @classmethod
    def create(
        cls, backbone: DeepClusterNet, run: RunContext, n_images: int, config: dict[str, Any] | None = None
    ) -> Method:
        """The method around ``backbone`` for ``run``; ``config`` (from a checkpoint) fixes its shapes."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What ``create`` needs besides the settings to rebuild this method's shapes (kept in checkpoints)."""
        return {}

    @classmethod
    def check_made_by(cls, checkpoint: dict[str, Any]) -> None:
        """Refuse, with the way out, a checkpoint of another method or format."""
        if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("method") != cls.name:
            made_by = checkpoint.get("method", "an older version of this project")
            raise ValueError(
                f"the checkpoint of round {checkpoint.get('round')} was made by {made_by}, not by "
                f"method.name = {cls.name!r}: set method.name back, or start a new run "
                "(delete data/06_models/checkpoints and run `kedro run` without --only-missing-outputs)"
            )

    @classmethod
    def restore(
        cls, checkpoint: dict[str, Any], run: RunContext, n_images: int
    ) -> tuple[Method, torch.optim.Optimizer]:
        """The method and its optimiser as ``checkpoint`` left them (momentum buffers included, the current
        settings taken); a checkpoint of another method or format is refused with the way out."""
        cls.check_made_by(checkpoint)
        method = cls.create(build_model(**checkpoint["model_config"]), run, n_images, checkpoint["method_config"])
        backbone = {BACKBONE + k: v for k, v in checkpoint["model_state"].items()}
        method.load_state_dict({**backbone, **checkpoint["method_state"]})
        method = run.execution.place_model(method)
        optimizer = method.make_optimizer(run)
        current = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
        optimizer.load_state_dict(checkpoint["optimizer_state"])
        for group, settings in zip(optimizer.param_groups, current, strict=True):
            group.update(settings)  # e.g. a weight decay changed since
        return method, optimizer

    @classmethod
    def from_backbone_of(
        cls, checkpoint: dict[str, Any], run: RunContext, n_images: int
    ) -> tuple[Method, torch.optim.Optimizer]:
        """A new method and optimiser around the backbone of ``checkpoint`` (of any method)."""
        backbone = build_model(**checkpoint["model_config"])
        backbone.load_state_dict(checkpoint["model_state"])
        method = run.execution.place_model(cls.create(backbone, run, n_images))
        return method, method.make_optimizer(run)

    def make_optimizer(self, run: RunContext) -> torch.optim.Optimizer:
        """The run's optimiser of what the method trains for the whole run."""
        raise NotImplementedError

    def epoch(
        self, run: RunContext, targets: Any, n_images: int, round_number: int, first_step: int, generator
    ) -> tuple[np.ndarray, EpochPlan]:
        """The images of the round's epoch, in order, and its plan (batch and learning rate per step)."""
        raise NotImplementedError

    def cluster_table(self, targets: Any) -> Any:
        """Every image's cluster after the epoch, as a table with a ``cluster`` column."""
        raise NotImplementedError

    def start_round(self, targets=None, generator: torch.Generator | None = None) -> dict[str, float]:
        """Take the round's targets (computed before the epoch); returns what to log."""
        return {}

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        """The loss on one batch: ``views`` of the images ``indices`` (positions in the collection)."""
        raise NotImplementedError

    def forward(self, views: list[torch.Tensor], indices: torch.Tensor, step: int, forward=None) -> torch.Tensor:
        # DistributedDataParallel averages the gradients of what its wrapped module's forward computes
        return self.training_step(views, indices, step, forward)

    def round_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def before_optimizer_step(self, step: int) -> None:
        """Called between backward and the optimisers' steps."""

    def end_round(self) -> dict[str, float]:
        """Drop what lives for one round; returns what to log."""
        return {}


class OnlineMethod(Method):
    """A method that trains a projection head and prototypes beside the backbone, on several views.

    What a checkpoint must keep beyond the weights (a memory bank, a queue) is
    registered as buffers, so ``state_dict`` holds it all. ``per_image_buffers`` names
    the buffers with one entry per image along dimension 1, which each process writes
    for its own images; ``share_across_processes`` gives every process all of them.
    """

    per_image_buffers: tuple[str, ...] = ()
    heads = 1  # prototype heads, each of kmeans.k prototypes

    def __init__(
        self,
        backbone: DeepClusterNet,
        projection_dims: tuple[int, int],
        prototype_counts: list[int],
        views: MultiCrop,
        temperature: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, views)
        # the same seed always gives the same heads, without touching the caller's random state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.projection = ProjectionHead(backbone.feature_dim, *projection_dims)
            self.prototypes = Prototypes(projection_dims[1], prototype_counts)
        self.temperature = temperature
        # per image: the write (a count of ``mark_written`` calls, one a step on every process) that last
        # wrote its per-image buffers on this process; 0: not since the last sharing
        self._written = torch.zeros(0, dtype=torch.int64)
        self._writes = 0

    @classmethod
    def resolve_settings(cls, run_parameters: Any, resolved: dict[str, Any]) -> dict[str, Any]:
        """Each head's prototypes (``kmeans.k``), and the views' scales and flips for the images' channels."""
        views = views_for(resolved["data.channels"])
        return {
            "method.prototypes": [resolved["kmeans.k"]] * cls.heads,
            "method.views.flip_probability": views["flip_probability"],
            "method.views.large.scale": views["large.scale"],
            "method.views.small.scale": views["small.scale"],
        }

    @staticmethod
    def prototype_counts(run: RunContext, config: dict[str, Any] | None) -> list[int]:
        return list((config or {}).get("prototype_counts") or run.resolved["method.prototypes"])

    def config(self) -> dict[str, Any]:
        return {"prototype_counts": list(self.prototypes.counts)}

    def make_optimizer(self, run: RunContext) -> torch.optim.Optimizer:
        """SGD at ``training.lr``; weights decay, biases and norms do not."""
        return torch.optim.SGD(parameter_groups([self], WEIGHT_DECAY), lr=run.parameters.training.lr, momentum=MOMENTUM)

    def epoch(
        self, run: RunContext, targets: Any, n_images: int, round_number: int, first_step: int, generator
    ) -> tuple[np.ndarray, EpochPlan]:
        """Every image once in a fresh order, or as many times, each in a fresh order, as make ``MIN_STEPS``
        steps. The learning rate warms up and decays per step over the method's own rounds (``method.rounds``:
        the run's less the SCAN rounds that follow), so that it is near ``FINAL_LR`` when they end.
        ``training.batch_size`` is global: N processes take one process's steps."""
        batch_size = run.resolved["training.batch_size"]
        steps_per_pass = math.ceil(n_images / batch_size)
        passes = max(1, math.ceil(MIN_STEPS / steps_per_pass))
        order = passes_without_repeats(n_images, global_batch_size(batch_size), passes, generator)
        steps_per_round = math.ceil(len(order) / batch_size)
        plan = EpochPlan(
            batch_size=batch_size,
            base_lr=run.parameters.training.lr,
            final_lr=FINAL_LR,
            warmup_steps=round(WARMUP_ROUNDS * steps_per_round),
            total_steps=run.resolved["method.rounds"] * steps_per_round,
            first_step=first_step,
            lr_setting="training.lr",
        )
        return order, plan

    @property
    def n_large_views(self) -> int:
        return self.views.groups[0].count

    def project(self, views: list[torch.Tensor], forward=None) -> list[torch.Tensor]:
        """L2-normalised projections of each view; views of one size go through the network together."""
        forward = forward or self.backbone
        projections: list[torch.Tensor] = []
        start = 0
        for group in self.views.groups:
            if start >= len(views):  # only the large views were made
                break
            batch = torch.cat(views[start : start + group.count])
            projections.extend(self.projection(forward(batch)).float().chunk(group.count))
            start += group.count
        return projections

    def mark_written(self, indices: torch.Tensor, n_images: int) -> None:
        """Remember which images this process wrote per-image buffers for, and when, since the last sharing."""
        if self._written.shape[0] != n_images or self._written.device != indices.device:
            self._written = torch.zeros(n_images, dtype=torch.int64, device=indices.device)
        self._writes += 1
        self._written[indices] = self._writes

    def share_across_processes(self) -> None:
        """Every process's entries of the per-image buffers, on every process (nothing in one process)."""
        if self._written.numel():
            for name in self.per_image_buffers:
                merge_written(getattr(self, name), self._written, dim=1)
            self._written.zero_()
            self._writes = 0

    def end_round(self) -> dict[str, float]:
        self.share_across_processes()
        return {}


def passes_without_repeats(n_images: int, batch_size: int, passes: int, generator: torch.Generator) -> np.ndarray:
    """``passes`` fresh orders of the images, one after the other, cut into batches of ``batch_size`` where no
    batch holds an image twice (a second write of one image's memory in one step would be a race): a pass
    starts with images that the batch it completes does not hold. A collection smaller than a batch has one
    pass."""
    order = torch.randperm(n_images, generator=generator).numpy()
    for _ in range(passes - 1 if n_images > batch_size else 0):
        following = torch.randperm(n_images, generator=generator).numpy()
        pending = order[len(order) - len(order) % batch_size :]
        clash = np.isin(following, pending)
        first = following[~clash][: batch_size - len(pending)]
        order = np.concatenate([order, first, following[~np.isin(following, first)]])
    return order


def multi_crop_views(run: RunContext) -> MultiCrop:
    """The online methods' views: ``VIEWS`` crops of the input size (large) and half of it (small), at the scales
    and flips resolved for the images' channels (``auto.views_for``), then ``COLOUR`` jitter."""
    sizes = {"large": run.input_size, "small": max(4, run.input_size // 2)}
    groups = tuple(
        CropGroup(count, sizes[name], tuple(run.resolved[f"method.views.{name}.scale"]))
        for name, count in VIEWS.items()
    )
    return MultiCrop(groups, run.resolved["method.views.flip_probability"], COLOUR)


def online_settings(run: RunContext) -> dict[str, Any]:
    """The arguments every online method's constructor shares."""
    return {"projection_dims": PROJECTION_DIMS, "views": multi_crop_views(run), "temperature": TEMPERATURE,
            "seed": run.seed}  # fmt: skip


def make_checkpoint(
    method: Method, optimizer: torch.optim.Optimizer, model_config: dict, round_number: int, step: int
) -> dict[str, Any]:
    """Everything needed to continue the run after ``round_number``, for every method alike: the backbone as
    the export and the evaluation read it (``model_state``), the rest of the method's ``state_dict`` (heads,
    prototypes, memory, queue: ``method_state``), its shapes (``method_config``) and the optimiser."""
    state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "method": method.name,
        "round": round_number,
        "step": step,
        "model_config": dict(model_config),
        "method_config": method.config(),
        "model_state": {k.removeprefix(BACKBONE): v for k, v in state.items() if k.startswith(BACKBONE)},
        "method_state": {k: v for k, v in state.items() if not k.startswith(BACKBONE)},
        "optimizer_state": optimizer.state_dict(),
    }
