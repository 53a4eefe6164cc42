"""``LabelIndex``: a label set with its retriever vectors, computed once, kept across calls, saved with the labels.

A saved index is a folder of plain files, never a pickle:

    labels.txt      one label per line (labels cannot contain line breaks)
    vectors.npy     float32 [labels, dim] unit vectors (``np.save``; loaded with ``allow_pickle=False``)
    index.json      format version, retriever name (with a digest of its weights), dim, fitted k, recall

Retrieval is one matrix product of the text vectors with the cached label matrix and a partial sort per text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..processing import normalize_request

if TYPE_CHECKING:  # pragma: no cover
    from .encoders import PriorRetriever, TextEncoder

FORMAT_VERSION = 1
LABELS_FILE, VECTORS_FILE, META_FILE = "labels.txt", "vectors.npy", "index.json"


class LabelIndex:
    """Labels, their unit vectors from one retriever, and the shortlist size ``k`` fitted for them (if any).

    Build it with ``LabelIndex.build(labels, encoder)`` or ``clf.label_index(labels)``, pass it as ``labels`` to
    ``clf.classify``/``scores``/``predict``, ``save`` it next to your label file and ``LabelIndex.load`` it later.

    Example:
        >>> index = clf.label_index(open("labels.txt").read().splitlines())  # doctest: +SKIP
        >>> clf.classify(texts, index)  # shortlist="auto": the fitted k, else default_k(len(index))  # doctest: +SKIP
        >>> index.save("labels.index"); index = LabelIndex.load("labels.index")  # doctest: +SKIP
    """

    def __init__(
        self,
        labels: Sequence[str],
        vectors: np.ndarray,
        retriever: str,
        *,
        k: int | None = None,
        recall: float | None = None,
        encoder: TextEncoder | PriorRetriever | None = None,
    ):
        self.labels = check_labels(labels)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.labels):
            raise ValueError(f"label index: {len(self.labels)} labels but vectors of shape {vectors.shape}")
        self.vectors = np.ascontiguousarray(vectors)
        self.retriever = retriever
        self.k = None if k is None else check_k(k)
        self.recall = recall  # the recall k was fitted for (``Classifier.fit_shortlist``), if any
        self.recall_curve: dict[int, float] | None = None  # recall@k measured while fitting
        self.encoder = encoder  # bound retriever (not saved); the classifier binds its own when None
        self.positions = {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"LabelIndex({len(self)} labels, retriever={self.retriever!r}, k={self.k})"

    @classmethod
    def build(
        cls, labels: Sequence[str], encoder: TextEncoder | PriorRetriever, *, batch_size: int = 256
    ) -> LabelIndex:
        """Encode every label once with ``encoder`` (``shortlist.encoders``)."""
        labels = check_labels(labels)
        return cls(labels, encoder.encode_labels(labels, batch_size), encoder.name, encoder=encoder)

    def search(self, text_vectors: np.ndarray, k: int) -> list[list[int]]:
        """Per text, the indices of its ``k`` nearest labels, best first (ties broken by label order)."""
        k = min(check_k(k), len(self))
        sims = np.asarray(text_vectors, dtype=np.float32) @ self.vectors.T
        top = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < len(self)
            else np.tile(np.arange(len(self)), (len(sims), 1))
        )
        return [_by_similarity(row.tolist(), s) for row, s in zip(top, sims, strict=True)]

    def ranks(self, text_vectors: np.ndarray, targets: Sequence[Sequence[str]]) -> np.ndarray:
        """For each (text, true label) pair, the label's 1-based rank by similarity (for recall@k and fitting k)."""
        sims = np.asarray(text_vectors, dtype=np.float32) @ self.vectors.T
        out = []
        for s, labels in zip(sims, targets, strict=True):
            for label in labels:
                if label not in self.positions:
                    raise ValueError(f"true label {label!r} is not in the label index")
                out.append(int((s > s[self.positions[label]]).sum()) + 1)
        return np.asarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write ``labels.txt``, ``vectors.npy`` and ``index.json`` into ``directory`` (created if missing)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / LABELS_FILE).write_text("".join(f"{label}\n" for label in self.labels), encoding="utf-8")
        np.save(directory / VECTORS_FILE, self.vectors, allow_pickle=False)
        meta = {
            "format_version": FORMAT_VERSION,
            "retriever": self.retriever,
            "labels": len(self),
            "dim": int(self.vectors.shape[1]),
            "k": self.k,
            "recall": self.recall,
            "recall_curve": None if self.recall_curve is None else {str(k): v for k, v in self.recall_curve.items()},
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> LabelIndex:
        """Read a folder written by ``save``; its retriever is bound again by the classifier that uses it."""
        directory = Path(directory)
        missing = [name for name in (LABELS_FILE, VECTORS_FILE, META_FILE) if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{directory}: not a label index (missing {', '.join(missing)})")
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory}: label index format {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        labels = (directory / LABELS_FILE).read_text(encoding="utf-8").split("\n")
        if labels and labels[-1] == "":
            labels.pop()
        vectors = np.load(directory / VECTORS_FILE, allow_pickle=False)
        index = cls(labels, vectors, meta["retriever"], k=meta.get("k"), recall=meta.get("recall"))
        curve = meta.get("recall_curve")
        index.recall_curve = None if curve is None else {int(k): float(v) for k, v in curve.items()}
        return index


def check_labels(labels: Any) -> list[str]:
    """A flat, non-empty list of distinct valid labels (checked as ``classify`` checks them) without line breaks.

    Line breaks are rejected because the labels are saved one per line.
    """
    if isinstance(labels, LabelIndex):
        return list(labels.labels)
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise TypeError(f"a label index needs a list of labels, got {type(labels).__name__}")
    labels = list(labels)
    if not labels:
        raise ValueError("a label index needs at least one label (got an empty list)")
    normalize_request("", labels)  # types, empty strings, reserved markers: the same rules as classify
    bad = next((label for label in labels if "\n" in label or "\r" in label), None)
    if bad is not None:
        raise ValueError(f"label {bad[:40]!r} contains a line break; a label index stores one label per line")
    return labels


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"shortlist k must be an int >= 1 (or 'auto'), got {k!r}")
    return int(k)


def _by_similarity(indices: list[int], sims: np.ndarray) -> list[int]:
    """``indices`` by decreasing similarity, ties broken by label order."""
    return sorted(indices, key=lambda j: (-sims[j], j))
