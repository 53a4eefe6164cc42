"""Zero-shot baselines users pick instead of GLiClass, with the ``scores`` interface of ``Classifier``.

* ``EmbeddingBaseline``: mean-pooled sentence embeddings of the text and of a label prompt
  ("This text is about {label}."), cosine similarity, argmax: the cheap baseline.
* ``NLIBaseline``: an NLI cross-encoder used like transformers' zero-shot pipeline: one
  (text, "This example is {label}.") pair per label; single-label = softmax of the entailment logits over the
  labels; multi-label = softmax over (not entailed, entailed) per label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

LABEL_PROMPT = "This text is about {}."
NLI_HYPOTHESIS = "This example is {}."


def _per_text(labels: Any, n: int) -> list[list[str]]:
    if labels and isinstance(labels[0], str):
        return [list(labels)] * n
    return [list(x) for x in labels]


class EmbeddingBaseline:
    def __init__(self, model_path: str, max_length: int = 256, device: str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModel.from_pretrained(model_path).to(device).eval()
        self.max_length, self.device = max_length, device

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**batch)[0]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out

    def scores(self, texts: Sequence[str], labels: Any, *, multi_label: bool = False, batch_size: int = 32, **_: Any) -> list[list[float]]:
        label_lists = _per_text(labels, len(texts))
        unique = sorted({label for ls in label_lists for label in ls})
        label_vectors = dict(zip(unique, self.embed([LABEL_PROMPT.format(label) for label in unique], batch_size), strict=True))
        text_vectors = self.embed(list(texts), batch_size)
        return [[float(text_vectors[i] @ label_vectors[label]) for label in ls] for i, ls in enumerate(label_lists)]


class NLIBaseline:
    def __init__(self, model_path: str, max_length: int = 256, device: str = "cpu"):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_path).to(device).eval()
        self.max_length, self.device = max_length, device
        self.entailment = int(self.model.config.label2id.get("entailment", 1))

    @torch.inference_mode()
    def pair_logits(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]))
        out = np.zeros((len(pairs), self.model.config.num_labels), dtype=np.float32)
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
                two = rows[:, [1 - self.entailment, self.entailment]]
                probs = np.exp(two - two.max(1, keepdims=True))
                out.append((probs[:, 1] / probs.sum(1)).tolist())
            else:
                ent = rows[:, self.entailment]
                probs = np.exp(ent - ent.max())
                out.append((probs / probs.sum()).tolist())
        return out
