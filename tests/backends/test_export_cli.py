"""`uniclass export onnx`: a CLI round trip, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
from tests.conftest import PARITY
from tests.backends.onnx_helpers import ref


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


def test_classify_and_serve_with_the_onnx_backend(tmp_path, capsys) -> None:
    """`uniclass classify --backend onnx [--quantized]` reads an export; `serve` builds its app on ONNX too."""
    from uniclass import Classifier
    from uniclass.cli import main
    from uniclass.serve.app import create_app

    out = tmp_path / "exported"
    assert main(["export", "onnx", "--model", str(PARITY / "uni_bert_default"), "--out", str(out), "--quantize"]) == 0
    capsys.readouterr()
    texts, labels = ["The team won the final", "Shares fell sharply"], ["sports", "finance", "politics"]
    assert main(["classify", *texts, "--labels", ",".join(labels), "--model", str(out), "--backend", "onnx",
                 "--threshold", "0", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    want = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu").classify(texts, labels, threshold=0.0)
    assert [[r["label"] for r in row["labels"]] for row in rows] == [[r["label"] for r in w] for w in want]
    got_scores = [r["score"] for row in rows for r in row["labels"]]
    assert np.allclose(got_scores, [r["score"] for w in want for r in w], atol=1e-5)
    assert main(["classify", "x", "--labels", "a,b", "--model", str(out), "--quantized"]) == 2  # needs --backend onnx
    assert "--quantized needs --backend onnx" in capsys.readouterr().err
    app = create_app(out, load_options={"backend": "onnx", "quantized": True, "num_threads": 1})
    assert app.state.classifier.config.architecture_type == "uni-encoder"
