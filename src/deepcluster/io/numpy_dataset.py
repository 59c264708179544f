"""A Kedro dataset for a numpy array in ``.npy`` format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset


class NumpyDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """``np.save``/``np.load`` of one array at ``filepath``; tensors are converted on save."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _load(self) -> np.ndarray:
        return np.load(self._filepath, allow_pickle=False)

    def _save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        array = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
        np.save(self._filepath, array, allow_pickle=False)
