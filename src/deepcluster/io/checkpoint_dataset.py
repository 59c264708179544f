"""A Kedro dataset for per-round training checkpoints that bounds their disk use."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from kedro.io import AbstractDataset, DatasetError

_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")
logger = logging.getLogger(__name__)


class CheckpointDataset(AbstractDataset[dict, dict]):
    """``torch.save``/``torch.load`` of a checkpoint dict at ``filepath``, e.g. ``round_7.pt``.

    Saving round r also thins out its siblings in the same folder (files named
    with the same prefix and another number): rounds older than the last
    ``keep_last`` are deleted and leave a small ``<name>.pruned`` marker, except
    every ``keep_every``-th round (0: none) and round 0; rounds numbered above r
    are deleted, since they belong to an earlier run. A pruned checkpoint still
    counts as existing, so ``kedro run --only-missing-outputs`` does not redo its round.
    Writes go to a temporary file first, so an interruption never leaves a
    half-written checkpoint. The last checkpoint saved is also kept in memory until
    Kedro releases the dataset (after its last reader), so the next round does not
    read back from disk what it just wrote.

    With ``background_write`` (the default) ``save`` copies the tensors and returns; a
    thread writes the file while the next round trains (a ResNet-18 checkpoint with its
    optimiser is ~90 MB, 0.17 s on this project's CPU machine). Writes stay in order:
    a save first waits for the write before it, ``release`` for its own, and
    ``wait_for_writes`` for all (the ``CheckpointWrites`` hook calls it when a run ends).
    A failed write is raised there, naming the file. An interrupted run leaves at most a
    ``.partial`` file, so ``--only-missing-outputs`` redoes that round.
    """

    # the write in flight, shared by every round's dataset so that writes and pruning stay in order
    _writing: ClassVar[tuple[threading.Thread, CheckpointDataset] | None] = None

    def __init__(
        self,
        filepath: str,
        keep_last: int = 2,
        keep_every: int = 0,
        background_write: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if keep_last < 1:
            raise DatasetError(f"keep_last must be at least 1 (the last round resumes the run), got {keep_last}")
        self._filepath = Path(filepath)
        self._keep_last = keep_last
        self._keep_every = keep_every
        self._background_write = background_write
        self.metadata = metadata
        self._saved: dict | None = None
        self._write_error: BaseException | None = None

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "keep_last": self._keep_last, "keep_every": self._keep_every}

    @property
    def _pruned_marker(self) -> Path:
        return _marker_for(self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file() or self._pruned_marker.is_file()

    def _release(self) -> None:
        if CheckpointDataset._writing is not None and CheckpointDataset._writing[1] is self:
            CheckpointDataset.wait_for_writes()
        self._saved = None

    def _load(self) -> dict:
        if self._saved is not None:
            return self._saved
        if not self._filepath.is_file() and self._pruned_marker.is_file():
            raise DatasetError(
                f"{self._filepath} was pruned to save disk space (keep_last={self._keep_last}, "
                f"keep_every={self._keep_every} in conf/base/catalog.yml); raise them to keep more rounds"
            )
        return torch.load(self._filepath, map_location="cpu", weights_only=True)

    def _save(self, data: dict) -> None:
        CheckpointDataset.wait_for_writes()
        self._saved = data
        if not self._background_write:
            self._write(data)
            return
        # the next round may update these tensors in place (an optimiser's momentum), so write a copy
        snapshot = _copy_tensors(data)
        writer = threading.Thread(target=self._write_logging_errors, args=(snapshot,), name=f"write {self._filepath}")
        CheckpointDataset._writing = (writer, self)
        writer.start()

    @classmethod
    def wait_for_writes(cls) -> None:
        """Wait for the checkpoint being written, if any; raise ``DatasetError`` if writing it failed."""
        if cls._writing is None:
            return
        writer, dataset = cls._writing
        writer.join()
        cls._writing = None
        if dataset._write_error is not None:
            error, dataset._write_error = dataset._write_error, None
            raise DatasetError(f"writing the checkpoint {dataset._filepath} failed: {error}") from error

    def _write_logging_errors(self, data: dict) -> None:
        try:
            self._write(data)
        except BaseException as error:  # raised to the run by wait_for_writes
            logger.error("writing the checkpoint %s failed: %s", self._filepath, error)
            self._write_error = error

    def _write(self, data: dict) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        partial = self._filepath.with_name(self._filepath.name + ".partial")
        torch.save(data, partial)
        os.replace(partial, self._filepath)
        self._pruned_marker.unlink(missing_ok=True)
        self._prune_siblings()

    def _prune_siblings(self) -> None:
        match = _NUMBERED.match(self._filepath.stem)
        if match is None:
            return
        prefix, current, suffix = match["prefix"], int(match["number"]), self._filepath.suffix
        for number, marker in self._numbered_siblings(prefix, suffix + ".pruned"):
            if number > current:
                marker.unlink()
        for number, checkpoint in self._numbered_siblings(prefix, suffix):
            if number > current:
                checkpoint.unlink()
            elif number <= current - self._keep_last and not self._kept_forever(number):
                checkpoint.unlink()
                _marker_for(checkpoint).write_text("deleted to bound disk use (keep_last, keep_every)\n")

    def _numbered_siblings(self, prefix: str, name_suffix: str) -> Iterator[tuple[int, Path]]:
        """(number, path) of the files in this folder named ``<prefix><number><name_suffix>``."""
        for path in self._filepath.parent.glob(f"{prefix}*{name_suffix}"):
            numbered = _NUMBERED.match(path.name[: -len(name_suffix)])
            if numbered is not None and numbered["prefix"] == prefix:
                yield int(numbered["number"]), path

    def _kept_forever(self, number: int) -> bool:
        return number == 0 or (self._keep_every > 0 and number % self._keep_every == 0)


def _copy_tensors(value: Any) -> Any:
    """``value`` with every tensor inside its dicts, lists and tuples cloned."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {key: _copy_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_tensors(item) for item in value)
    return value


def _marker_for(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".pruned")
