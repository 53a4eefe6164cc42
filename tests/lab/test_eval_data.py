"""Corpus names are the lab's: ``uniclass eval`` reads files, ``uniclass_lab.eval_data`` also resolves names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import PARITY
from uniclass.evaluation.runner import load_eval_data as load_eval_file
from uniclass_lab import eval_data

ITEMS = [{"text": f"text {i}", "all_labels": ["a", "b"], "true_labels": ["a" if i % 2 else "b"]} for i in range(20)]


def test_uniclass_eval_points_corpus_names_to_the_lab(capsys: Any) -> None:
    from uniclass.cli import main

    assert main(["eval", "--model", str(PARITY / "uni_bert_default"), "--data", "bbc_news"]) == 2
    err = capsys.readouterr().err.strip()
    assert "bbc_news: no such file" in err and "python -m uniclass_lab data fetch" in err and "\n" not in err


def test_a_corpus_name_gives_the_same_seeded_subset_as_its_file(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "bbc_news.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    monkeypatch.setattr("uniclass_lab.corpora.fetch", lambda name: path)
    by_name = eval_data.load_eval_data("bbc_news", 5, seed=3)
    assert [e.text for e in by_name] == [e.text for e in load_eval_file(path, 5, seed=3)] and len(by_name) == 5
    assert [e.text for e in eval_data.load_eval_data(path)] == [item["text"] for item in ITEMS]
