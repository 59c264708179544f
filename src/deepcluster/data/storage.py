"""Images where users keep them: a folder named by an fsspec URL (``s3://bucket/prefix``, ``gs://…``,
``file://…``) as well as a local path.

The files are listed once and read by the DataLoader's workers. s3fs and its kin run an event loop of their
own and are not fork-safe, so each process opens a filesystem of its own (``ObjectStore.read``), never one
made before a fork. Credentials are fsspec's storage options: the Kedro way, ``data_store`` in
``conf/local/credentials.yml`` (for S3, ``key``, ``secret``, ``client_kwargs: {endpoint_url: …}``); with
none there, the store's own defaults apply (for S3 the standard ``AWS_*`` variables, ``AWS_ENDPOINT_URL``
included, and ``~/.aws``).
"""

from __future__ import annotations

import os
from typing import Any

import fsspec

CREDENTIALS_HINT = (
    "its credentials come from data_store in conf/local/credentials.yml, or else from the store's own "
    "settings (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ~/.aws)"
)


def is_url(path: str) -> bool:
    """Whether ``path`` names its filesystem (``protocol://``) rather than being a local path."""
    return "://" in path


class ObjectStore:
    """A folder of a filesystem named by an fsspec URL, opened anew in each process that reads it."""

    def __init__(self, url: str, options: dict[str, Any] | None = None, setting: str = "data.path") -> None:
        self.url, self.options, self.setting = url, dict(options or {}), setting
        self.protocol = fsspec.core.split_protocol(url)[0]
        try:
            fsspec.get_filesystem_class(self.protocol)
        except (ImportError, ValueError) as error:
            raise ValueError(f"{setting} = {url!r}: {error}") from None
        self._filesystem: Any = None
        self._pid = -1

    def filesystem(self) -> Any:
        """This process's own filesystem (a new one after a fork: never one made by another process)."""
        if self._pid != os.getpid():
            self._filesystem = fsspec.filesystem(self.protocol, skip_instance_cache=True, **self.options)
            self._pid = os.getpid()
        return self._filesystem

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_filesystem": None, "_pid": -1}  # spawned workers open their own

    def list_files(self) -> list[str]:
        """The URL of every file under the folder, sorted; a missing bucket or folder, or refused
        credentials, stop with the setting named."""
        filesystem = self.filesystem()
        root = filesystem._strip_protocol(self.url)
        try:
            found = filesystem.find(root)
        except FileNotFoundError as error:
            raise ValueError(f"{self.setting} = {self.url!r} does not exist ({error}): check its bucket and folder")
        except Exception as error:  # each store raises its own kinds for refused or missing credentials
            raise ValueError(
                f"{self.setting} = {self.url!r} cannot be listed ({type(error).__name__}: {error}); {CREDENTIALS_HINT}"
            ) from None
        return sorted(filesystem.unstrip_protocol(path) for path in found)

    def root(self) -> str:
        """The folder's URL as ``list_files`` spells its files' (``protocol://path``)."""
        filesystem = self.filesystem()
        return filesystem.unstrip_protocol(filesystem._strip_protocol(self.url))

    def read(self, url: str) -> bytes:
        """The bytes of one file."""
        return self.filesystem().cat_file(url)
