"""The corpus registry's evaluation sets, the ``python -m uniclass_lab data`` command and the mixtures module."""

from __future__ import annotations

import json
import random

from uniclass_lab.cli import main
from uniclass_lab.corpora import CORPORA, DEV_SETS, eval_sets
from uniclass_lab.mixtures import write_shuffled


def test_dev_sets_are_the_registrys_eval_corpora_in_order() -> None:
    assert DEV_SETS == ("bbc_news", "rotten_tomatoes", "foldoc")
    evals = eval_sets()
    assert set(DEV_SETS) <= set(evals) and all(CORPORA[name].role == "eval" for name in evals)
    assert [name for name in evals if name in DEV_SETS] == list(DEV_SETS)  # registry order


def test_uniclass_data_list(capsys) -> None:
    assert main(["data", "list"]) == 0
    rows = [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()]
    assert rows == [[name, corpus.role] for name, corpus in CORPORA.items()]


def test_uniclass_data_unknown_corpus_is_an_error(tmp_path, capsys) -> None:
    assert main(["data", "fetch", "imdb", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown corpus imdb" in capsys.readouterr().err


def test_write_shuffled_is_seeded_and_atomic(tmp_path) -> None:
    lines = [json.dumps({"text": str(i)}) for i in range(20)]
    first = write_shuffled(tmp_path / "a.jsonl", list(lines), random.Random(13)).read_text()
    assert first == write_shuffled(tmp_path / "b.jsonl", list(lines), random.Random(13)).read_text()
    assert sorted(first.splitlines()) == sorted(lines) and not list(tmp_path.glob("*.tmp"))
