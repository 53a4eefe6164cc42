"""``Predictor``: one picklable callable that classifies a batch of rows for batch engines.

Ray Data, Spark and Dask all ship a function or class to worker processes by pickling it, then call it on
batches (a dict of numpy columns or a pandas DataFrame). So the predictor holds only its options; the model
loads on the first call inside the worker, once per process, and is never pickled. The same object therefore
works unchanged as a Ray Data actor class, a Spark ``mapInPandas`` / ``predict_batch_udf`` function and a Dask
``map_partitions`` function.

Nothing here imports torch, pandas or transformers at import time: the driver that only builds the job
stays light, and an empty batch (Dask's ``meta``, Spark's empty partitions) never loads the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..postprocessing import check_threshold, check_top_k, normalize_thresholds, resolve_threshold, select

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

OUTPUT_COLUMNS = ("label", "score", "scores")


class Predictor:
    """Classify the text column of a batch and return the batch with ``label`` and ``score`` columns added.

    Args:
        model: a GLiClass checkpoint folder or hub id; ``None`` is the default model bundled with uniclass.
            It is loaded lazily, on the first non-empty batch, in the process that calls the predictor.
        labels: the candidate labels, shared by every row.
        text_column: the column holding the texts.
        multi_label: ``False`` (default): softmax over the labels, ``label`` is the best label (a string) and
            ``score`` its score. ``True``: a sigmoid per label, ``label`` is the list of labels whose score
            reaches ``threshold`` (best first) and ``score`` the list of their scores.
        threshold: multi-label threshold, a float or a dict label -> float (default: the model's fitted
            thresholds, else 0.5), exactly as in ``Classifier.classify``.
        top_k: keep at most K labels per row; in single-label mode ``top_k`` makes ``label``/``score`` lists.
        batch_size: texts per model forward pass (a batch from the engine may hold more rows).
        prompt: a task description placed before every text.
        return_scores: also add ``scores``, the score of every label in the order of ``labels`` (a 2-D float
            array for numpy batches, a list of floats per row for pandas and pyarrow).
        output_prefix: prepended to the added column names (``"pred_"`` gives ``pred_label``...), for data that
            already has a ``label`` column (gold labels, say): an existing column is never overwritten.
        shortlist: for large label sets, score only the ``k`` labels a retriever picks per text (an int, or
            ``"auto"``: ``default_k`` of the label count), as ``Classifier.classify(..., shortlist=k)``: the
            label vectors are computed once per worker. ``label``/``score`` come from the shortlisted labels only;
            in ``scores`` a label that was not shortlisted for a row reads ``0.0`` (not scored).
        retriever: what picks the shortlist (``"prior"``, ``"minilm"`` or ``"model"``; default: the prior when the
            model has one, else MiniLM), as ``uniclass classify --retriever``.
        **load_options: passed to ``Classifier.from_pretrained`` (``device="cuda"``, ``max_length=512``,
            ``precision="bf16"`` or ``"int8"`` for the fast modes, ...).

    The decisions and scores equal ``Classifier.classify(texts, labels, multi_label=..., threshold=...,
    top_k=..., prompt=...)`` for the same texts.

    Example:
        >>> import numpy as np
        >>> from uniclass.integrations import Predictor
        >>> predictor = Predictor("tests/fixtures/parity/uni_bert_default", ["sports", "finance"])
        >>> out = predictor({"text": np.array(["The team won the final"], dtype=object)})  # doctest: +SKIP
        >>> sorted(out)  # doctest: +SKIP
        ['label', 'score', 'text']

        Ray Data (a pool of 4 actors, each loading the model once)::

            ds.map_batches(Predictor, fn_constructor_kwargs={"model": M, "labels": labels},
                           compute=ray.data.ActorPoolStrategy(size=4), batch_size=256, batch_format="pandas")
    """

    def __init__(
        self,
        model: str | Path | None = None,
        labels: Sequence[str] | None = None,
        *,
        text_column: str = "text",
        multi_label: bool = False,
        threshold: float | Mapping[str, float] | None = None,
        top_k: int | None = None,
        batch_size: int = 32,
        prompt: str | None = None,
        return_scores: bool = False,
        output_prefix: str = "",
        shortlist: int | str | None = None,
        retriever: str | None = None,
        **load_options: Any,
    ):
        if model is not None and not isinstance(model, (str, Path)):
            raise TypeError(
                f"Predictor(model=...) must be a checkpoint folder or hub id (it is loaded in each worker), "
                f"got {type(model).__name__}"
            )
        self.model = None if model is None else str(model)
        self.labels = _check_labels(labels)
        self.text_column = text_column
        if not isinstance(multi_label, bool):  # bool(None) would silently mean single-label
            raise TypeError(f"Predictor(multi_label=...) must be a bool, got {type(multi_label).__name__}")
        self.multi_label = multi_label
        check_threshold(threshold)  # a clear error now, on the driver, not in every worker
        self.threshold = threshold
        self.top_k = check_top_k(top_k)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.prompt = prompt
        self.return_scores = bool(return_scores)
        self.output_prefix = output_prefix
        self.shortlist = _check_shortlist(shortlist)
        if retriever is not None and retriever not in ("prior", "minilm", "model"):
            raise ValueError(f"retriever must be 'prior', 'minilm' or 'model', got {retriever!r}")
        self.retriever = retriever
        self.load_options = load_options
        self._classifier: Classifier | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ pickling: options only, never the model
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_classifier"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        loaded = "loaded" if self._classifier is not None else "not loaded"
        return f"Predictor(model={self.model!r}, labels={self.labels!r}, multi_label={self.multi_label}, {loaded})"

    @property
    def classifier(self) -> Any:
        """The ``Classifier``, loaded on first use (once per process, even with several calling threads)."""
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    from ..classifier import Classifier

                    clf = Classifier.from_pretrained(self.model, **self.load_options)
                    if self.retriever is not None:
                        clf.shortlist_retriever = self.retriever
                    self._classifier = clf
        return self._classifier

    # ------------------------------------------------------------------ the batch call
    def __call__(self, batch: Any) -> Any:
        """The batch with ``label``, ``score`` (and ``scores``) added: a dict of numpy arrays or a pandas DataFrame
        (Ray's ``batch_format="numpy"``/``"pandas"``), or a pyarrow Table (``"pyarrow"``: typed columns, so files
        written from batches with no multi-label hit still share one schema).

        The input batch is not modified: a new dict or DataFrame is returned, of the same kind.
        """
        if isinstance(batch, Mapping):
            return self._call_numpy(batch)
        if _is_instance(batch, "pandas", "DataFrame"):
            return self._call_pandas(batch)
        if _is_instance(batch, "pyarrow", "Table"):
            return self._call_arrow(batch)
        raise TypeError(
            f"Predictor takes a dict of numpy arrays, a pandas DataFrame or a pyarrow Table, got {type(batch).__name__}"
        )

    def predict_texts(self, texts: Sequence[str]) -> tuple[list[Any], list[Any], np.ndarray]:
        """Per text the label(s) and score(s), and the full score matrix (texts x labels, in label order)."""
        if not texts:
            return [], [], np.zeros((0, len(self.labels)))
        clf = self.classifier
        threshold = self._threshold(clf)
        if self.shortlist is None:
            matrix = np.asarray(
                clf.scores(
                    list(texts),
                    self.labels,
                    multi_label=self.multi_label,
                    prompt=self.prompt,
                    batch_size=self.batch_size,
                    show_progress=False,
                ),
                dtype=np.float64,
            )
            picks = [
                select(self.labels, row, multi_label=self.multi_label, threshold=threshold, top_k=self.top_k)
                for row in matrix
            ]
        else:
            picks, matrix = self._shortlisted(clf, texts, threshold)
        if self._lists:
            return (
                [[p["label"] for p in pick] for pick in picks],
                [[p["score"] for p in pick] for pick in picks],
                matrix,
            )
        return [pick[0]["label"] for pick in picks], [pick[0]["score"] for pick in picks], matrix

    def _shortlisted(self, clf: Classifier, texts: Sequence[str], threshold: Any) -> tuple[list[Any], np.ndarray]:
        """Picks among each text's shortlisted labels only (as ``classify`` returns), and the full score matrix
        with ``0.0`` where a label was not shortlisted (as ``Classifier.scores``)."""
        predictions = clf.predict(
            list(texts),
            self.labels,
            multi_label=self.multi_label,
            prompt=self.prompt,
            batch_size=self.batch_size,
            show_progress=False,
            shortlist=self.shortlist,
        )
        column = {label: j for j, label in enumerate(self.labels)}
        matrix = np.zeros((len(predictions), len(self.labels)))
        picks = []
        for i, p in enumerate(predictions):
            matrix[i, [column[label] for label in p.labels]] = p.scores
            picks.append(
                select(
                    p.labels,
                    np.asarray(p.scores, dtype=np.float64),
                    multi_label=self.multi_label,
                    threshold=threshold,
                    top_k=self.top_k,
                )
            )
        return picks, matrix

    @property
    def _lists(self) -> bool:
        """Whether ``label``/``score`` hold lists (multi-label, or several labels kept) rather than scalars."""
        return self.multi_label or self.top_k is not None

    def _threshold(self, clf: Classifier) -> Any:
        """``threshold=None`` means what ``Classifier.classify`` uses: fitted per-label thresholds, else 0.5."""
        if self.threshold is not None:
            return normalize_thresholds(self.threshold, 1)[0]
        return resolve_threshold(None, getattr(clf, "calibration", None))

    def _texts(self, column: Any) -> list[str]:
        """The column as Python strings; a missing text (None, NaN) is an error, not a silent empty string."""
        texts = column.tolist() if hasattr(column, "tolist") else list(column)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"Predictor: row {i} of column {self.text_column!r} is {type(text).__name__}, not a string "
                    "(drop or fill missing texts first)"
                )
        return texts

    def _output_names(self) -> dict[str, str]:
        names = ("label", "score", "scores") if self.return_scores else ("label", "score")
        return {name: self.output_prefix + name for name in names}

    def _check_columns(self, columns: Iterable[Any]) -> None:
        """The text column is there and no output column would overwrite an input column."""
        columns = [str(c) for c in columns]
        if self.text_column not in columns:
            raise ValueError(
                f"Predictor: the batch has no column {self.text_column!r} (columns: {', '.join(columns) or 'none'}); "
                "pass text_column=..."
            )
        taken = [name for name in self._output_names().values() if name in columns]
        if taken:
            raise ValueError(
                f"Predictor: the batch already has column(s) {taken}; pass output_prefix=... (e.g. 'pred_')"
            )

    def _call_numpy(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        self._check_columns(batch.keys())
        labels, scores, matrix = self.predict_texts(self._texts(batch[self.text_column]))
        names = self._output_names()
        out = dict(batch)
        out[names["label"]] = _object_array(labels)
        out[names["score"]] = _object_array(scores) if self._lists else np.asarray(scores, dtype=np.float64)
        if self.return_scores:
            out[names["scores"]] = matrix
        return out

    def _call_pandas(self, frame: Any) -> Any:
        self._check_columns(frame.columns)
        labels, scores, matrix = self.predict_texts(self._texts(frame[self.text_column]))
        names = self._output_names()
        columns = {
            names["label"]: _object_array(labels),
            names["score"]: _object_array(scores) if self._lists else np.asarray(scores, dtype=np.float64),
        }
        if self.return_scores:
            columns[names["scores"]] = _object_array([row.tolist() for row in matrix])
        return frame.assign(**columns)

    def _call_arrow(self, table: Any) -> Any:
        import pyarrow as pa

        self._check_columns(table.column_names)
        labels, scores, matrix = self.predict_texts(self._texts(table.column(self.text_column).to_pylist()))
        names = self._output_names()
        if self._lists:
            label_type, score_type = pa.list_(pa.string()), pa.list_(pa.float64())
        else:
            label_type, score_type = pa.string(), pa.float64()
        table = table.append_column(names["label"], pa.array(labels, type=label_type))
        table = table.append_column(names["score"], pa.array(scores, type=score_type))
        if self.return_scores:
            table = table.append_column(names["scores"], pa.array(matrix.tolist(), type=pa.list_(pa.float64())))
        return table

    # ------------------------------------------------------------------ adapters for Spark
    def iter_pandas(self, frames: Iterable[Any]) -> Iterator[Any]:
        """For Spark ``mapInPandas``: each DataFrame of the partition with the result columns added.

        Example::

            scored = df.mapInPandas(predictor.iter_pandas, schema=f"id long, text string, {predictor.spark_ddl()}")
        """
        for frame in frames:
            yield self(frame)

    def spark_ddl(self) -> str:
        """The Spark DDL of the columns this predictor adds, to append to the input schema for ``mapInPandas``."""
        kind = "array<{}>" if self._lists else "{}"
        names = self._output_names()
        ddl = f"{names['label']} {kind.format('string')}, {names['score']} {kind.format('double')}"
        return ddl + (f", {names['scores']} array<double>" if self.return_scores else "")

    def make_predict_fn(self) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        """For Spark ``predict_batch_udf(predictor.make_predict_fn, return_type=..., batch_size=...)``.

        Spark calls this once per Python worker and then the returned function on 1-D arrays of texts. It
        returns ``{"label": ..., "score": ...}`` for a ``struct<label:string, score:double>`` return type;
        single-label without ``top_k`` only (list-valued results: use ``iter_pandas`` with ``mapInPandas``).
        """
        if self._lists or self.return_scores:
            raise ValueError(
                "make_predict_fn returns one label and score per row: use multi_label=False without top_k and "
                "return_scores (or mapInPandas with iter_pandas for list-valued results)"
            )

        def predict(texts: np.ndarray) -> dict[str, np.ndarray]:
            labels, scores, _ = self.predict_texts(self._texts(texts))
            return {"label": np.array(labels, dtype=object), "score": np.asarray(scores, dtype=np.float64)}

        return predict


def _check_labels(labels: Sequence[str] | None) -> list[str]:
    """A non-empty list of distinct non-empty strings, checked on the driver before any worker starts."""
    if labels is None or isinstance(labels, str) or not isinstance(labels, Iterable):
        raise TypeError(f"Predictor(labels=...) must be a list of strings, got {type(labels).__name__}")
    labels = list(labels)
    if not labels:
        raise ValueError("Predictor(labels=...) is empty: give at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"Predictor labels[{i}] must be a non-empty string, got {label!r}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"Predictor labels are repeated: {duplicates}")
    return labels


def _check_shortlist(shortlist: Any) -> int | str | None:
    """``None``, ``"auto"`` or an int >= 1, checked on the driver before any worker starts."""
    if shortlist is None or shortlist == "auto":
        return shortlist
    if isinstance(shortlist, bool) or not isinstance(shortlist, int) or shortlist < 1:
        raise ValueError(f"shortlist must be an int >= 1, 'auto' or None, got {shortlist!r}")
    return shortlist


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array, even when every element is a list of the same length (np.array would make it 2-D)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _is_instance(batch: Any, module: str, name: str) -> bool:
    """``isinstance(batch, module.name)`` without importing the module: a caller that passes a DataFrame or a
    Table has imported pandas or pyarrow already."""
    import sys

    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(batch, getattr(loaded, name))
