"""`uniclass export onnx`: a CLI round trip, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
from conftest import PARITY
from onnx_helpers import ref


def test_export_onnx_round_trip(tmp_path, capsys) -> None:
    from uniclass import Classifier
    from uniclass.cli import main

    out = tmp_path / "exported"
    assert main(["export", "onnx", "--model", str(PARITY / "uni_deberta_default"), "--out", str(out), "--quantize"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["graphs"] == {"model": "model.onnx"} and summary["int8"]["graphs"] == {"model": "model_int8.onnx"}
    assert summary["fp32"]["max_abs_logit_diff"] <= 1e-4
    assert {p.name for p in out.iterdir()} >= {"config.json", "tokenizer.json", "model.onnx", "model_int8.onnx",
                                              "onnx_parity.json"}
    onnx_clf = Classifier.from_pretrained(out, backend="onnx", num_threads=1)
    torch_clf = Classifier.from_pretrained(PARITY / "uni_deberta_default", device="cpu")
    got, want = onnx_clf.scores(ref.TEXTS, ref.PER_TEXT_LABELS), torch_clf.scores(ref.TEXTS, ref.PER_TEXT_LABELS)
    assert ref.max_abs_diff(got, want) <= 1e-5
    int8 = Classifier.from_pretrained(out, backend="onnx", quantized=True, num_threads=1)
    assert np.isfinite(np.concatenate([np.array(r) for r in int8.scores(ref.TEXTS, ref.PER_TEXT_LABELS)])).all()


def test_export_errors_are_one_line(tmp_path, capsys) -> None:
    from uniclass.cli import main

    assert main(["export", "onnx", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uniclass: error:")
