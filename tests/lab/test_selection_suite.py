"""The model-selection suite on tiny JSONL sets with a fake scorer (offline, no model)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from uniclass_lab import selection_suite_cli as suite_cli
from uniclass_lab import selection_suite as suite
from uniclass_lab.selection_suite import best_global_threshold, evaluate_set, format_table, run_suite


class KeywordScorer:
    """Scores a label 0.9 when the label is a word of the text, else 0.1 (0.2 for "b", to break ties)."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def scores(self, texts: Sequence[str], labels: Any, *, multi_label: bool = False,
               batch_size: int = 32) -> list[list[float]]:
        self.calls.append(multi_label)
        return [[0.9 if label in text.split() else (0.2 if label == "b" else 0.1) for label in ls]
                for text, ls in zip(texts, labels, strict=True)]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Path]:
    single = [
        {"text": "about a", "all_labels": ["a", "b", "c"], "true_labels": ["a"]},
        {"text": "about c", "all_labels": ["a", "b", "c"], "true_labels": ["c"]},
        {"text": "nothing", "all_labels": ["a", "b", "c"], "true_labels": ["c"]},  # predicted "b"
        {"text": "about b", "all_labels": ["a", "b", "c"], "true_labels": ["b"]},
    ]
    multi = [
        {"text": "a and c", "all_labels": ["a", "b", "c"], "true_labels": ["a", "c"]},
        {"text": "only a", "all_labels": ["a", "b", "c"], "true_labels": ["a"]},
        {"text": "none", "all_labels": ["a", "b", "c"], "true_labels": ["b"]},
    ]
    return {"single": write_jsonl(tmp_path / "single.jsonl", single),
            "multi": write_jsonl(tmp_path / "multi.jsonl", multi)}


def test_run_suite_single_and_multi(sets: dict[str, Path]) -> None:
    scorer = KeywordScorer()
    result = run_suite({"kw": scorer}, [str(sets["single"]), str(sets["multi"])], limit=None)
    single, multi = str(sets["single"]), str(sets["multi"])
    assert result["sets"][single] == {"protocol": "single-label", "n": 4, "n_labels": 3}
    assert result["sets"][multi]["protocol"] == "multi-label"
    assert scorer.calls == [False, True]
    r = result["results"]["kw"][single]
    assert r["accuracy"] == pytest.approx(0.75)
    # a: P=R=1; b: P=1/2, R=1 -> 2/3; c: P=1, R=1/2 -> 2/3
    assert r["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    m = result["results"]["kw"][multi]
    # at 0.5: predicted {a,c}, {a}, {} -> tp 3, fp 0, fn 1
    assert m["micro_f1"] == pytest.approx(6 / 7)
    # a threshold <= 0.2 would catch the last item's "b" but add "b" to the other two: above 0.2 stays best
    assert m["best_micro_f1"] == pytest.approx(6 / 7) and 0.2 < m["best_threshold"] <= 0.9
    assert result["mean"]["kw"] == {"macro_f1": pytest.approx(r["macro_f1"]), "accuracy": 0.75, "sets": [single]}
    table = format_table(result)
    assert "| **mean** macro-F1 (accuracy) |" in table and "best threshold" in table


def test_best_global_threshold_finds_narrow_band() -> None:
    labels = [["x", "y"]] * 3
    truth = [{"x"}, {"y"}, {"x"}]
    scores = [[0.31, 0.30], [0.29, 0.32], [0.33, 0.28]]  # cosine-like: all in a narrow band below 0.5
    best = best_global_threshold(labels, truth, scores)
    assert best["micro_f1"] == pytest.approx(1.0) and 0.30 < best["threshold"] <= 0.31


def test_evaluate_set_forced_protocol(sets: dict[str, Path]) -> None:
    from uniclass_lab.eval_data import load_eval_data

    examples = load_eval_data(sets["single"])
    forced = evaluate_set(KeywordScorer(), examples, multi_label=True)
    assert forced["protocol"] == "multi-label"
    with pytest.raises(ValueError):
        evaluate_set(KeywordScorer(), [])


def test_main_with_a_fake_baseline(sets: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(suite.BASELINES, "minilm", KeywordScorer)
    out = tmp_path / "r.json"
    code = suite_cli.main(["--baseline", "minilm", "--sets", f"{sets['single']},{sets['multi']}", "--limit", "2",
                       "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert list(result["results"]) == ["embedding similarity (minilm)"]
    assert all(info["n"] == 2 for info in result["sets"].values())
    assert result["command"].startswith("python -m uniclass_lab.selection_suite_cli --baseline minilm")
    assert "mean" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        suite_cli.main(["--sets", "x"])
