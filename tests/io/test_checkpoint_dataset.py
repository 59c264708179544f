import pytest
import torch
from kedro.io import DatasetError

from deepcluster.io import CheckpointDataset


def _save_rounds(folder, rounds, **options):
    for r in rounds:
        CheckpointDataset(str(folder / f"round_{r}.pt"), **options).save({"round": r, "w": torch.full((3,), float(r))})
    CheckpointDataset.wait_for_writes()


def test_round_trip(tmp_path):
    dataset = CheckpointDataset(str(tmp_path / "round_1.pt"))
    assert not dataset.exists()
    dataset.save({"round": 1, "w": torch.arange(4.0)})
    dataset.release()  # waits for the write, then reads the file
    loaded = dataset.load()
    assert loaded["round"] == 1 and torch.equal(loaded["w"], torch.arange(4.0))
    assert not list(tmp_path.glob("*.partial"))


def test_only_the_last_rounds_keep_their_weights(tmp_path):
    _save_rounds(tmp_path, range(6), keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["round_0.pt", "round_4.pt", "round_5.pt"]
    for r in range(6):
        assert CheckpointDataset(str(tmp_path / f"round_{r}.pt")).exists()
    with pytest.raises(DatasetError, match="was pruned to save disk space"):
        CheckpointDataset(str(tmp_path / "round_2.pt")).load()
    assert CheckpointDataset(str(tmp_path / "round_5.pt")).load()["round"] == 5


def test_keep_every_keeps_milestones(tmp_path):
    _save_rounds(tmp_path, range(10), keep_last=1, keep_every=4)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["round_0.pt", "round_4.pt", "round_8.pt", "round_9.pt"]


def test_a_new_run_removes_later_rounds_of_an_older_run(tmp_path):
    _save_rounds(tmp_path, range(6), keep_last=2)
    _save_rounds(tmp_path, [0, 1], keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("round_*")) == ["round_0.pt", "round_1.pt"]
    assert not CheckpointDataset(str(tmp_path / "round_3.pt")).exists()


def test_other_files_in_the_folder_are_left_alone(tmp_path):
    (tmp_path / "best_7.pt").write_text("keep me")
    _save_rounds(tmp_path, range(5), keep_last=1)
    assert (tmp_path / "best_7.pt").read_text() == "keep me"


def test_keep_last_must_keep_something(tmp_path):
    with pytest.raises(DatasetError, match="keep_last must be at least 1"):
        CheckpointDataset(str(tmp_path / "round_1.pt"), keep_last=0)


def test_the_saved_checkpoint_is_read_back_from_memory_until_released(tmp_path):
    dataset = CheckpointDataset(str(tmp_path / "round_1.pt"))
    checkpoint = {"round": 1, "w": torch.zeros(2)}
    dataset.save(checkpoint)
    assert dataset.load() is checkpoint
    dataset.release()
    reloaded = dataset.load()
    assert reloaded is not checkpoint and torch.equal(reloaded["w"], checkpoint["w"])


@pytest.mark.parametrize("background_write", [True, False])
def test_the_file_holds_the_checkpoint_as_saved_even_if_training_goes_on(tmp_path, background_write):
    dataset = CheckpointDataset(str(tmp_path / "round_1.pt"), background_write=background_write)
    momentum = torch.arange(1_000_000.0)
    dataset.save({"round": 1, "optimizer_state": {"state": {0: {"momentum_buffer": momentum}}}})
    momentum.mul_(-1)  # the next round's optimiser steps update the buffer in place
    dataset.release()
    written = dataset.load()["optimizer_state"]["state"][0]["momentum_buffer"]
    assert torch.equal(written, torch.arange(1_000_000.0))
    assert not list(tmp_path.glob("*.partial"))


def test_a_failed_background_write_fails_the_run_naming_the_file(tmp_path):
    (tmp_path / "not_a_folder").write_text("a file where the checkpoint folder should be")
    dataset = CheckpointDataset(str(tmp_path / "not_a_folder" / "round_1.pt"))
    dataset.save({"round": 1})  # returns at once; the thread fails
    with pytest.raises(DatasetError, match=r"writing the checkpoint .*not_a_folder/round_1.pt failed"):
        CheckpointDataset.wait_for_writes()
    CheckpointDataset.wait_for_writes()  # reported once
