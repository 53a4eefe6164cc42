"""TrainingArguments: the checks that stop a run before it trains on something it did not ask for."""

from __future__ import annotations

import pytest

from uniclass.training import TrainingArguments


def _args(tmp_path, **overrides) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **overrides)


def test_persistent_workers_with_augmentation_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="persistent_workers"):
        _args(tmp_path, dataloader_num_workers=2, dataloader_persistent_workers=True)  # shuffle_labels is on by default
    with pytest.raises(ValueError, match="first epoch"):
        _args(tmp_path, dataloader_num_workers=1, dataloader_persistent_workers=True, shuffle_labels=False, negatives_per_item=2)


def test_persistent_workers_without_augmentation_or_workers_is_allowed(tmp_path) -> None:
    args = _args(tmp_path, dataloader_num_workers=2, dataloader_persistent_workers=True, shuffle_labels=False)
    assert args.dataloader_persistent_workers
    assert _args(tmp_path, dataloader_num_workers=2).dataloader_persistent_workers is False


def test_unknown_loss_and_default_head_rate(tmp_path) -> None:
    with pytest.raises(ValueError, match="loss must be"):
        _args(tmp_path, loss="hinge")
    assert _args(tmp_path, learning_rate=2e-5).head_learning_rate == pytest.approx(6e-5)
