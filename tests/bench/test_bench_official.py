"""``uniclass bench official``: the runner's JSON contract, the comparison rows, the ONNX skip, and one real
runner subprocess (this environment's interpreter has gliclass from the test extra) on a tiny checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from uniclass.bench import official, official_runner
from uniclass.bench.common import Timing

PARITY = Path(__file__).parents[1] / "fixtures" / "parity"
LABELS = ["sports", "finance"]


def _result(**overrides):
    result = {"runner_version": 1, "versions": {"gliclass": "0.1.21"}, "threads": 2, "dtype": "float32", "load_s": 1.0,
              "timings_s": [2.0, 1.0, 3.0], "scores": [[0.1, 0.9], [0.5, 0.5]], "reference_scores": [[0.1, 0.8]]}
    return result | overrides


def test_parse_runner_result_checks_shapes() -> None:
    assert official.parse_runner_result(_result(), 2, LABELS, 1)["threads"] == 2
    with pytest.raises(ValueError, match="lacks 'scores'"):
        official.parse_runner_result({k: v for k, v in _result().items() if k != "scores"}, 2, LABELS, 1)
    with pytest.raises(ValueError, match="expected 2 rows of 2"):
        official.parse_runner_result(_result(scores=[[0.1]]), 2, LABELS, 1)
    with pytest.raises(ValueError, match="reference_scores"):
        official.parse_runner_result(_result(), 2, LABELS, 2)
    with pytest.raises(ValueError, match="positive"):
        official.parse_runner_result(_result(timings_s=[]), 2, LABELS, 1)


def test_runner_reads_official_results_in_label_order(tmp_path) -> None:
    results = [[{"label": "sports", "score": 0.2}, {"label": "finance", "score": 0.7}]]
    assert official_runner.scores_in_label_order(results, LABELS) == [[0.2, 0.7]]
    with pytest.raises(ValueError, match="every label in order"):
        official_runner.scores_in_label_order([list(reversed(results[0]))], LABELS)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"checkpoint": "x", "texts": []}))
    with pytest.raises(ValueError, match="lacks labels, threads"):
        official_runner.load_request(request)


def test_comparison_rows_and_verdicts() -> None:
    result = _result()
    ours = {"uniclass torch": (Timing(2, [0.25]), [[0.1, 0.8], [0.5, 0.6]], None)}
    rows = official.comparison_rows(result | {"batch_shapes": [[2, 7]]}, 2, ours)
    assert rows[0]["batches"]["padded_tokens"] == 14 and rows[1]["batches"] is None
    assert rows[0]["name"] == "official gliclass (torch)" and rows[0]["texts_per_s"] == 1.0  # 2 texts / median 2 s
    assert rows[0]["max_abs_diff_vs_official_per_text"] == pytest.approx(0.1)  # its own padding effect
    assert rows[1]["speedup"] == 8.0
    assert rows[1]["max_abs_diff_vs_official_batched"] == pytest.approx(0.1)
    assert rows[1]["max_abs_diff_vs_official_per_text"] == 0.0  # only the first text has a reference
    lines = official.verdicts(rows)
    assert "8.00x -> met" in lines[0] and "not measured" in lines[1]
    assert any("within 1e-05 of official (per-text)" in line and "-> met" in line for line in lines)


def test_fast_mode_rows_report_their_agreement_with_fp32() -> None:
    result = _result()
    ours = {"uniclass torch": (Timing(2, [0.25]), [[0.1, 0.8], [0.5, 0.6]], None),
            "uniclass torch bf16": (Timing(2, [0.05]), [[0.12, 0.79], [0.61, 0.6]], None)}
    rows = official.comparison_rows(result, 2, ours)
    fast = rows[2]
    assert fast["speedup"] == 40.0
    assert fast["argmax_agreement_vs_uniclass_fp32"] == 0.5  # the second text's top label flipped
    assert fast["max_abs_diff_vs_uniclass_fp32"] == pytest.approx(0.11)
    assert rows[1]["argmax_agreement_vs_uniclass_fp32"] == 1.0
    lines = official.verdicts(rows)
    assert "uniclass torch bf16 >= 6x official: 40.00x -> met." in lines
    assert "uniclass torch bf16 keeps >= 99.5% of the fp32 argmax decisions: 50.0% -> NOT met." in lines
    assert "uniclass torch int8 >= 8x official: not measured." in lines


def test_onnx_rows_are_skipped_with_a_note_when_the_backend_is_missing(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "uniclass.exporters.onnx", None)  # import raises ImportError
    setup = official.OfficialSetup(model=None)
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", setup, tmp_path)
    assert models == {} and note.startswith("ONNX rows skipped")
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", official.OfficialSetup(model=None, onnx=False), tmp_path)
    assert models == {} and "--no-onnx" in note


def test_env_python_path() -> None:
    assert official.env_python("envs/x").as_posix().endswith(("envs/x/bin/python", "envs/x/Scripts/python.exe"))


def test_runner_subprocess_matches_uniclass_per_text(tmp_path) -> None:
    """The real runner, with this interpreter (gliclass is a test dependency), on the tiny parity checkpoint."""
    pytest.importorskip("gliclass")
    from uniclass import Classifier

    checkpoint = PARITY / "uni_bert_default"
    texts = ["The striker scored twice", "Shares fell after the earnings call, and the bank cut its forecast", "ok"]
    request = {"checkpoint": str(checkpoint), "texts": texts, "labels": LABELS, "threads": 1, "batch_size": 2,
               "max_length": 64, "repeats": 2, "warmup_texts": 1, "reference_texts": 2}
    result = official.run_official(sys.executable, request, tmp_path)
    assert len(result["timings_s"]) == 2 and result["threads"] == 1 and result["dtype"] == "float32"
    assert [rows for rows, _ in result["batch_shapes"]] == [2, 1]  # one pass, batch size 2, in the given order
    assert result["versions"]["gliclass"]
    ours = Classifier.from_pretrained(checkpoint, device="cpu", max_length=64).scores(texts, LABELS)
    assert official.max_abs_diff(ours, result["reference_scores"]) < 1e-5
    # this checkpoint pools the first token, so the official batched scores are the same computation too
    assert official.max_abs_diff(ours, result["scores"]) < 1e-5


def test_onnx_rows_use_the_export_api(monkeypatch, tmp_path) -> None:
    """The ONNX rows call ``export_onnx(path, out_dir, quantize=True)`` and load fp32 and int8 with the threads."""
    import types

    from uniclass import classifier

    calls = []
    fake = types.ModuleType("uniclass.exporters.onnx")
    fake.export_onnx = lambda model, out_dir, quantize: calls.append(("export", model, Path(out_dir), quantize))
    monkeypatch.setitem(sys.modules, "uniclass.exporters.onnx", fake)

    def from_pretrained(path, **kwargs):
        calls.append(("load", Path(path), kwargs))
        return types.SimpleNamespace(name=f"clf-{kwargs['quantized']}", calibration="fitted")

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", staticmethod(from_pretrained))
    setup = official.OfficialSetup(model=None, threads=3, max_length=128)
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", setup, tmp_path)
    assert note is None and {k: m.name for k, m in models.items()} == {"uniclass ONNX fp32": "clf-False",
                                                                       "uniclass ONNX int8": "clf-True"}
    assert all(m.calibration is None for m in models.values())  # raw scores, as the official package's
    export_dir = tmp_path / "onnx-export"
    assert calls[0] == ("export", str(PARITY / "uni_bert_default"), export_dir, True)
    assert calls[1] == ("load", export_dir, {"backend": "onnx", "quantized": False, "num_threads": 3, "max_length": 128,
                                         "prior": False})
    assert calls[2][2]["quantized"] is True
