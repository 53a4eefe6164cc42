"""`evaluate` and `uniclass eval` on small files; calibration stored in the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import PARITY
from uniclass.data.formats import load_examples, write_jsonl
from uniclass.evaluation.runner import evaluate

ITEMS = [
    {"text": "The striker scored twice", "all_labels": ["sports", "finance", "science"], "true_labels": ["sports"]},
    {"text": "Shares fell after the report", "all_labels": ["sports", "finance", "science"], "true_labels": ["finance"]},
    {"text": "A new species of frog", "all_labels": ["sports", "finance", "science"], "true_labels": ["science"]},
    {"text": "Bank rates and football", "all_labels": ["sports", "finance", "science"], "true_labels": ["finance", "sports"]},
]


def test_single_label_protocol_matches_argmax(parity_classifier) -> None:
    clf = parity_classifier("uni_bert_default")
    examples = load_examples(ITEMS[:3])
    report = evaluate(clf, examples)
    scores = clf.scores([e.text for e in examples], ["sports", "finance", "science"], multi_label=False)
    predicted = [["sports", "finance", "science"][int(np.argmax(s))] for s in scores]
    accuracy = np.mean([p == e.true_labels[0] for p, e in zip(predicted, examples)])
    assert report["protocol"] == "single-label" and report["accuracy"] == pytest.approx(accuracy) and report["n"] == 3


def test_multi_label_report_has_calibration(parity_classifier) -> None:
    report = evaluate(parity_classifier("uni_bert_default"), load_examples(ITEMS), multi_label=True, threshold=0.3)
    assert report["protocol"] == "multi-label" and 0 <= report["ece"] <= 1 and 0 <= report["brier"] <= 1


def test_eval_cli(tmp_path, capsys) -> None:
    from uniclass.cli import main

    data = write_jsonl(ITEMS[:3], tmp_path / "dev.jsonl")
    other = write_jsonl(ITEMS[1:3], tmp_path / "dev2.jsonl")
    assert main(["eval", "--model", str(PARITY / "uni_bert_default"), "--data", str(data), str(other)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["data"] for line in lines] == [str(data), str(other), "mean"]
    assert lines[2]["macro_f1"] == pytest.approx((lines[0]["macro_f1"] + lines[1]["macro_f1"]) / 2)
    assert main(["eval", "--model", str(PARITY / "uni_bert_default"), "--data", str(tmp_path / "missing")]) == 2


def test_calibration_is_applied_saved_and_reloaded(parity_classifier, tmp_path) -> None:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default")
    labels = ["sports", "finance", "science"]
    texts = [item["text"] for item in ITEMS] * 3
    truth = [item["true_labels"] for item in ITEMS] * 3
    raw = clf.predict(texts[:2], labels)
    report = clf.calibrate(texts, truth, labels, thresholds=True)
    assert report["ece_after"] <= report["ece_before"] + 1e-9
    temperature = clf.calibration.temperature
    assert temperature == pytest.approx(report["temperature"])
    expected = 1 / (1 + np.exp(-np.array(raw[0].logits) / temperature))
    assert clf.scores(texts[0], labels) == pytest.approx(expected.tolist())
    clf.save_pretrained(tmp_path / "calibrated")
    again = Classifier.from_pretrained(tmp_path / "calibrated")
    assert again.calibration.temperature == pytest.approx(temperature)
    assert again.scores(texts[0], labels) == pytest.approx(expected.tolist())
    fitted = again.calibration.thresholds
    result = again.classify(texts[0], labels)
    assert all(r["score"] >= fitted[r["label"]] for r in result)


@pytest.mark.parametrize(
    ("texts", "truth", "labels", "error", "message"),
    [
        # a single string was read character by character: "4 texts but 1 label entries"
        ("goal", ["sports"], ["sports", "finance"], TypeError, "calibrate: texts must be a list, got str"),
        # likewise, "true labels [...] are not among the candidate labels"
        (["goal"], ["sports"], "sports,finance", TypeError, "calibrate: labels must be a list, got str"),
        # was "'NoneType' object is not iterable"
        (["goal", "fell"], ["sports", None], ["sports", "finance"], TypeError, r"true_labels\[1\] must be a label"),
        (["goal"], [["sports", 3]], ["sports", "finance"], TypeError, r"true_labels\[0\] must be a label"),
        ([], [], ["sports"], ValueError, "calibrate: no texts"),  # was "an empty set of logits"
    ],
)
def test_bad_calibrate_inputs_are_one_line_errors(parity_classifier, texts, truth, labels, error, message) -> None:
    clf = parity_classifier("uni_bert_default")
    before = clf.calibration
    with pytest.raises(error, match=message):
        clf.calibrate(texts, truth, labels)
    assert clf.calibration is before


def test_calibrate_takes_numpy_columns(parity_classifier) -> None:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default")
    texts, truth = [item["text"] for item in ITEMS], [item["true_labels"] for item in ITEMS]
    report = clf.calibrate(texts, np.array([t[0] for t in truth]), np.array(["sports", "finance", "science"]))
    assert report["temperature"] > 0


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"", [], "dev.jsonl: no items to evaluate"),  # it did not name the file
        (json.dumps(ITEMS[0]).encode(), ["--limit", "-1"], "limit must be an int >= 1, got -1"),  # numpy's words
        (json.dumps(ITEMS[0]).encode(), ["--limit", "0"], "limit must be an int >= 1, got 0"),
    ],
)
def test_eval_cli_reports_bad_data_in_one_line(tmp_path, capsys, content: bytes, options, message) -> None:
    from uniclass.cli import main

    (tmp_path / "dev.jsonl").write_bytes(content)
    command = ["eval", "--model", str(PARITY / "uni_bert_default"), "--data", str(tmp_path / "dev.jsonl"), *options]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("uniclass: error: ") and err.count("\n") == 1 and message in err, err
