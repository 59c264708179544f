"""A Kedro dataset that hands a node the credentials of the store its images are in."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class StoreCredentialsDataset(AbstractDataset[None, dict]):
    """fsspec's storage options for ``data.path`` from Kedro's credentials (``credentials: data_store`` in the
    catalog, filled from ``conf/local/credentials.yml``); loaded only, never written, never logged."""

    def __init__(self, credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._credentials = dict(credentials or {})
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"keys": sorted(self._credentials)}  # the names only: kedro viz and the logs show this

    def _load(self) -> dict:
        return dict(self._credentials)

    def _save(self, data: dict) -> None:
        raise DatasetError("the store's credentials are read from conf/local/credentials.yml, never written")
