"""``Checkpoint``: the one reader and writer of a checkpoint folder's layout."""

from __future__ import annotations

import doctest
import shutil
from pathlib import Path

import pytest

from tests.conftest import PARITY
from uniclass import checkpoint as checkpoint_module
from uniclass.calibration import Calibration
from uniclass.checkpoint import DELTA_CONFIG, MODEL_FILE, PRIOR_FILE, Checkpoint, graph_file
from uniclass.loading import DEFAULT_MODEL_DIR


def test_docstring_examples() -> None:
    result = doctest.testmod(checkpoint_module)
    assert result.failed == 0 and result.attempted > 0


def test_what_a_folder_holds() -> None:
    plain, bundled = Checkpoint(PARITY / "uni_bert_default"), Checkpoint(DEFAULT_MODEL_DIR)
    assert (plain.has_torch_weights, plain.is_delta, plain.has_prior, plain.is_onnx_export) == (True, False, False, False)
    assert bundled.has_torch_weights and bundled.has_prior and not bundled.is_delta
    assert plain.read_config().architecture_type == "uni-encoder"
    assert Checkpoint(PARITY / "biencoder_bert").read_config().is_bi_encoder
    assert graph_file(MODEL_FILE, quantized=True) == "model_int8.onnx"
    assert plain.onnx_graph(quantized=True) == plain.folder / "model_int8.onnx"


def test_missing_parts_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(PARITY / "uni_bert_default", folder)
    checkpoint = Checkpoint(folder)
    checkpoint.require_tokenizer()
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no tokenizer.json"):
        checkpoint.require_tokenizer()
    with pytest.raises(FileNotFoundError, match="has no model.onnx: export the checkpoint first"):
        checkpoint.require_onnx_export()
    (folder / "model.safetensors").unlink()
    (folder / MODEL_FILE).write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="ONNX export without torch weights: load it with backend='onnx'"):
        checkpoint.require_torch_weights()
    (folder / DELTA_CONFIG).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"delta.json: not valid JSON"):
        checkpoint.read_json(DELTA_CONFIG)


def test_calibration_is_written_read_and_left_out_with_the_prior_switched_off(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "new")
    assert checkpoint.read_calibration() is None
    calibration = Calibration(temperature=2.5, shift=0.5, thresholds={"spam": 0.7})
    checkpoint.write_calibration(calibration)
    assert checkpoint.read_calibration() == calibration and checkpoint.read_calibration(prior=False) == calibration
    checkpoint.write_json(PRIOR_FILE, {"weight": 1.0})  # fitted with a prior: does not fit the model's logits alone
    assert checkpoint.read_calibration(prior=True) == calibration and checkpoint.read_calibration(prior=False) is None


def test_config_round_trip(tmp_path: Path) -> None:
    config = Checkpoint(PARITY / "uni_deberta_default").read_config()
    Checkpoint(tmp_path / "copy").write_config(config)
    assert Checkpoint(tmp_path / "copy").read_config().to_dict() == config.to_dict()
