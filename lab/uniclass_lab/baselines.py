"""Zero-shot baselines users pick instead of GLiClass, with the ``scores`` interface of ``Classifier``.

* ``EmbeddingBaseline``: mean-pooled sentence embeddings of the text and of a label prompt
  ("This text is about {label}."), cosine similarity, argmax: the cheap baseline.
* ``NLIBaseline``: an NLI cross-encoder used like transformers' zero-shot pipeline: one
  (text, "This example is {label}.") pair per label; single-label = softmax of the entailment logits over the
  labels; multi-label = softmax over (contradiction, entailment) per label. The one NLI baseline of the
  project: ``benchmarks/compare_dev.py`` scores a trained one (``benchmarks/train_nli.py``), ``python -m uniclass_lab.bench
  labels`` times one with a random 3-way head (``workloads.NLICrossEncoder``).

The entailment class is found as transformers' pipeline finds it: the label whose name starts with
"entail", else the last class; the contradiction class is class 0. For a 2-way (not entailed, entailed)
model that is (0, 1); for an unnamed 3-way (MNLI order) head (0, 2).

torch and transformers are imported when a baseline is built, so ``python -m uniclass_lab.bench --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LABEL_PROMPT = "This text is about {}."
NLI_HYPOTHESIS = "This example is {}."  # transformers' zero-shot pipeline default template


def _per_text(labels: Any, n: int) -> list[list[str]]:
    if labels and isinstance(labels[0], str):
        return [list(labels)] * n
    return [list(x) for x in labels]


def entailment_index(label2id: dict[str, int], num_labels: int) -> int:
    """Index of the entailment class: a label starting with "entail" (any case), else the last class."""
    for label, index in label2id.items():
        if label.lower().startswith("entail"):
            return int(index)
    return num_labels - 1


class EmbeddingBaseline:
    """Cosine of mean-pooled sentence embeddings (``backends.embedding.SentenceEmbedder``, the same embedder the
    default model's prior uses) between a text and "This text is about {label}."."""

    def __init__(self, model_path: str, max_length: int = 256, device: str = "cpu"):
        from uniclass.backends.embedding import SentenceEmbedder

        self.embedder = SentenceEmbedder(model_path, max_length=max_length, device=device)
        self.tokenizer, self.model, self.max_length = self.embedder.tokenizer, self.embedder.model, self.embedder.max_length

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.embedder.embed(texts, batch_size)

    def scores(self, texts: Sequence[str], labels: Any, *, multi_label: bool = False, batch_size: int = 32, **_: Any) -> list[list[float]]:
        label_lists = _per_text(labels, len(texts))
        unique = sorted({label for ls in label_lists for label in ls})
        label_vectors = dict(zip(unique, self.embed([LABEL_PROMPT.format(label) for label in unique], batch_size), strict=True))
        text_vectors = self.embed(list(texts), batch_size)
        return [[float(text_vectors[i] @ label_vectors[label]) for label in ls] for i, ls in enumerate(label_lists)]


class NLIBaseline:
    """An NLI cross-encoder (a trained folder, or with ``num_labels`` a fresh seeded head on a backbone).

    ``max_length`` is capped by the backbone's position embeddings; pairs truncate only the text. With
    ``sort_by_length`` (the default) pairs run longest text first, which pads less; the speed benchmark turns
    it off so it times pairs in the order a plain pipeline would run them.
    """

    def __init__(self, model_path: str | Path, max_length: int = 256, device: str = "cpu", *, num_labels: int | None = None,
                 seed: int = 0, sort_by_length: bool = True):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        if num_labels is None:
            self.model = AutoModelForSequenceClassification.from_pretrained(str(model_path))
        else:
            self.model = _fresh_head(model_path, num_labels, seed)
        self.model = self.model.to(device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_length
        self.max_length, self.device, self.sort_by_length = min(max_length, limit), device, sort_by_length
        self.entailment = entailment_index(self.model.config.label2id, self.model.config.num_labels)
        self.contradiction = 0

    def pair_logits(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        import torch

        order = list(range(len(pairs)))
        if self.sort_by_length:
            order.sort(key=lambda i: -len(pairs[i][0]))
        out = np.zeros((len(pairs), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], padding=True,
                                       truncation="only_first", max_length=self.max_length, return_tensors="pt").to(self.device)
                out[idx] = self.model(**batch).logits.float().cpu().numpy()
        return out

    def scores(self, texts: Sequence[str], labels: Any, *, multi_label: bool = False, batch_size: int = 32, **_: Any) -> list[list[float]]:
        label_lists = _per_text(labels, len(texts))
        pairs = [(text, NLI_HYPOTHESIS.format(label)) for text, ls in zip(texts, label_lists, strict=True) for label in ls]
        logits = self.pair_logits(pairs, batch_size)
        out, start = [], 0
        for ls in label_lists:
            rows = logits[start : start + len(ls)]
            start += len(ls)
            if multi_label:
                two = rows[:, [self.contradiction, self.entailment]]
                probs = np.exp(two - two.max(1, keepdims=True))
                out.append((probs[:, 1] / probs.sum(1)).tolist())
            else:
                ent = rows[:, self.entailment]
                probs = np.exp(ent - ent.max())
                out.append((probs / probs.sum()).tolist())
        return out


def _fresh_head(backbone: str | Path, num_labels: int, seed: int) -> Any:
    """The backbone with a new seeded classification head (timing needs no trained NLI checkpoint)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized classifier weights": expected here
    try:
        torch.manual_seed(seed)
        return AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=num_labels)
    finally:
        hf_logging.set_verbosity(verbosity)
