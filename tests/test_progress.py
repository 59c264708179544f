import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from deepcluster import progress
from deepcluster.data.sources import load_folder
from deepcluster.evaluation.protocols import linear_probe_accuracy
from deepcluster.features import extract_features
from deepcluster.models import build_model
from deepcluster.progress import progress_bar
from deepcluster.runtime import Execution
from tests.methods.test_deepcluster import body_sgd, deepcluster_round

CPU = Execution()


class Stream(io.StringIO):
    """Text written to it, and whether it claims to be a terminal."""

    def __init__(self, is_terminal: bool) -> None:
        super().__init__()
        self.is_terminal = is_terminal

    def isatty(self) -> bool:
        return self.is_terminal


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch):
    """No CI and a capable terminal type; none of rich's variables that force terminal behaviour."""
    for name in ("CI", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def _console(is_terminal: bool) -> Console:
    return Console(file=Stream(is_terminal), width=200, color_system=None)


def _count_to(console: Console, total: int = 1000) -> None:
    with progress_bar("extracting features", total, console=console) as advance:
        for _ in range(0, total, 100):
            advance(100)


def test_a_terminal_shows_the_count_and_the_rate():
    console = _console(is_terminal=True)
    _count_to(console)
    shown = console.file.getvalue()
    assert re.search(r"extracting features .* 1,000/1,000 images  [\d,.]+ images/s", shown)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_quiet_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    console = _console(is_terminal=True)
    _count_to(console)
    assert console.file.getvalue() == ""


def test_shown_when_ci_is_false(monkeypatch):
    monkeypatch.setenv("CI", "false")
    console = _console(is_terminal=True)
    _count_to(console)
    assert "1,000/1,000 images" in console.file.getvalue()


def test_quiet_when_not_a_terminal():
    console = _console(is_terminal=False)
    _count_to(console)
    assert console.file.getvalue() == ""


@pytest.fixture
def shown(monkeypatch):
    """What the stages draw, as if the run's console were a terminal."""
    console = _console(is_terminal=True)
    monkeypatch.setattr(progress, "get_console", lambda: console)
    return console.file.getvalue


def test_extraction_and_training_count_every_image(planted, shown):
    model = build_model("small_convnet", 1, seed=0, width=4, feature_dim=16)
    extract_features(model, planted, batch_size=16, execution=CPU, crop_size=8)
    assert re.search(r"extracting features .* 60/60 images", shown())
    deepcluster_round(model, body_sgd(model), planted, indices=np.arange(len(planted)))
    assert re.search(r"training .* 60/60 images", shown())


def test_the_linear_probe_counts_loss_evaluations(shown):
    features = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    labels = np.arange(40) % 2
    linear_probe_accuracy(features[:15], labels[:15], features[15:], labels[15:], iterations=20)
    assert re.search(r"linear probe .* [1-9]\d*/25 evaluations", shown())  # at most 20 * 5 // 4


def test_folder_ingest_counts_files_and_images(tmp_path, shown):
    for i in range(5):
        Image.new("L", (10, 10), color=i * 40).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    load_folder(str(tmp_path), image_size=8, channels=1, workers=0)
    assert re.search(r"finding image files .* 6 files", shown())
    assert re.search(r"reading images .* 5/5 images", shown())
