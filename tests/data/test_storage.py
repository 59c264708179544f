"""A folder in an object store, read through the real s3fs client from an S3 endpoint that the test starts
on 127.0.0.1 (moto's server), against the same folder on disk."""

import os
import pickle
import socket
from pathlib import Path

import fsspec
import numpy as np
import pytest
import torch
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from moto.server import ThreadedMotoServer

from deepcluster.data.collection import iterate_pixel_batches
from deepcluster.data.sources import load_folder
from deepcluster.data.storage import ObjectStore
from tests.conftest import PROJECT_ROOT
from tests.data.test_sources import messy_folder  # noqa: F401  (the fixture)

KEYS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="module")
def endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_environment(endpoint, monkeypatch, tmp_path):
    """The standard variables an s3fs user sets, and no credentials files of this machine's."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no_credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no_config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["secret"])
    return monkeypatch


@pytest.fixture
def stored_folder(messy_folder, aws_environment, request):  # noqa: F811
    """The messy folder copied to s3://<bucket>/photos, file for file."""
    root, good, bad = messy_folder
    bucket = request.node.name.lower().replace("_", "-")[:40].strip("-")
    store = fsspec.filesystem("s3", skip_instance_cache=True)
    store.mkdir(bucket)
    for path in root.rglob("*"):
        if path.is_file():
            store.pipe(f"{bucket}/photos/{path.relative_to(root).as_posix()}", path.read_bytes())
    return root, f"s3://{bucket}/photos", good, bad


def _as_url(path, root, url):
    return f"{url}/{path.relative_to(root).as_posix()}"


def test_a_bucket_reads_as_the_same_folder_on_disk_through_each_workers_own_filesystem(stored_folder):
    root, url, good, bad = stored_folder
    local = load_folder(str(root), image_size=8, channels=3, workers=0)
    stored = load_folder(url, image_size=8, channels=3, workers=2)
    assert stored.counts == local.counts
    assert stored.collection.ids == [_as_url(Path(p), root, url) for p in local.collection.ids]
    assert (stored.collection.pixels == local.collection.pixels).all()
    assert (stored.collection.labels == local.collection.labels).all()
    assert stored.collection.class_names == local.collection.class_names == ["cats", "dogs"]
    assert {path: reason[:20] for path, reason in stored.skipped} == {
        _as_url(Path(path), root, url): reason[:20] for path, reason in local.skipped
    }


def test_the_size_and_channels_are_measured_through_the_store(stored_folder):
    root, url, _, _ = stored_folder
    local = load_folder(str(root), image_size=None, workers=0).collection
    stored = load_folder(url, image_size=None, workers=0).collection
    assert (stored.image_size, stored.channels) == (local.image_size, local.channels)
    batch = next(iterate_pixel_batches(stored, np.arange(3), 3, torch.device("cpu")))
    assert (batch.numpy() == local.pixels[:3]).all()  # held in memory: later passes never go back to the store


def test_credentials_given_as_kedros_storage_options_need_no_environment(stored_folder, aws_environment, endpoint):
    _, url, good, _ = stored_folder
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        aws_environment.delenv(name)
    options = KEYS | {"client_kwargs": {"endpoint_url": endpoint}}
    assert len(load_folder(url, image_size=8, channels=3, workers=0, store_options=options).collection) == len(good)


def test_the_catalog_hands_the_ingest_the_credentials_of_conf_local(tmp_path):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    for name in ("catalog.yml", "credentials.yml"):
        (conf / "base" / name).write_text((PROJECT_ROOT / "conf" / "base" / name).read_text())
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")
    catalog = DataCatalog.from_config(loader["catalog"], loader["credentials"])
    assert catalog.load("data_store") == {}  # none given: the store's own settings apply
    (conf / "local" / "credentials.yml").write_text(yaml.safe_dump({"data_store": KEYS}))
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")
    catalog = DataCatalog.from_config(loader["catalog"], loader["credentials"])
    assert catalog.load("data_store") == KEYS
    assert "testing" not in str(catalog["data_store"])  # what kedro viz and the logs show


def test_a_missing_bucket_a_wrong_folder_and_missing_credentials_are_named(stored_folder, aws_environment):
    _, url, _, _ = stored_folder
    with pytest.raises(ValueError, match=r"data.path = 's3://no-such-bucket/photos' does not exist .*bucket"):
        load_folder("s3://no-such-bucket/photos", image_size=8, workers=0)
    with pytest.raises(ValueError, match=rf"data.path = '{url}-typo' holds no image files"):
        load_folder(f"{url}-typo", image_size=8, workers=0)
    aws_environment.delenv("AWS_ACCESS_KEY_ID")
    aws_environment.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(
        ValueError, match=r"cannot be listed \(NoCredentialsError.*data_store in conf/local/credentials"
    ):
        load_folder(url, image_size=8, workers=0)
    with pytest.raises(ValueError, match=r"data.path = 'gs://bucket/photos': .*gcsfs"):
        load_folder("gs://bucket/photos", image_size=8, workers=0)


def test_each_process_opens_a_filesystem_of_its_own(stored_folder):
    _, url, _, _ = stored_folder
    store = ObjectStore(url)
    first = store.filesystem()
    assert store.filesystem() is first  # one per process
    store._pid = os.getpid() + 1  # as seen from a forked worker: the parent's is not used
    assert store.filesystem() is not first
    copied = pickle.loads(pickle.dumps(store))
    assert copied._filesystem is None  # a spawned worker opens its own too


def test_organise_copies_a_buckets_files_into_a_folder_per_cluster(stored_folder, tmp_path):
    from deepcluster.config import DataSettings, OrganiseSettings
    from deepcluster.pipelines.ingest.nodes import index_images
    from deepcluster.pipelines.organise.nodes import organise_images

    root, url, _, _ = stored_folder
    images = load_folder(url, image_size=8, channels=3, workers=0).collection
    clusters = np.arange(len(images)) % 2
    assignments = index_images(images).assign(cluster=clusters)
    data = DataSettings(
        source="folder", path=url, image_size=8, max_images=None, channels=3, labels="auto", split="all", workers=0
    )
    organise = OrganiseSettings(folder=str(tmp_path / "by_cluster"), mode="link")  # a store's files are copied
    written = organise_images(assignments, images, organise, data, {})
    for image_id, cluster, path in written.itertuples(index=False):
        relative = image_id.removeprefix(url + "/")
        assert path == str(tmp_path / "by_cluster" / f"cluster_{cluster}" / relative)
        assert not Path(path).is_symlink() and Path(path).read_bytes() == (root / relative).read_bytes()
