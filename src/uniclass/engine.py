"""The inference engine: from a normalised request to ``Prediction`` objects, on any backend.

One request goes through four stages, each a public method here, so the exporters and the parity tests
drive the same code the ``Classifier`` does (they used to reach into its private parts):

1. ``plan``: the ``InputBuilder`` (``processing``) fits each text, its labels, prompt and examples into
   token windows (segments);
2. ``run``: segments are sorted by length and batched (``batching``); bi-encoder label vectors are
   encoded once and cached (``cache_label_vectors``); each batch is ``collate``-d into numpy arrays and
   handed to the backend (``backends``), which returns logits;
3. ``assemble``: per text, logits are aggregated over chunks and label groups, calibrated and activated
   (``postprocessing``). A model with a learned calibrator (``modeling.calibrator``) has each window's logits
   (plus the prior, if any) calibrated before they are aggregated; the uncalibrated ones are kept alongside.

numpy and tokenizers only: torch is imported by the torch backend, never here.
"""

from __future__ import annotations

import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends.embedding import gate_unlabelled
from .batching import pad_ids, plan_batches
from .config import CLASS_TOKEN, TEXT_TOKEN, GLiClassConfig, max_positions
from .label_order import OrderPlan, average_orders, expand_request, label_orders, stable_position_ids
from .postprocessing import activate, aggregate_chunks
from .processing import InputBuilder, ItemPlan, Request, Segment, WindowPolicy, label_encoder_ids

if TYPE_CHECKING:  # pragma: no cover
    from .backends import Backend
    from .backends.embedding import EmbeddingPrior
    from .calibration import Calibration

DEFAULT_MAX_LENGTH = 1024  # the official pipelines' default, capped by what the backbone supports
LABEL_CACHE_SIZE = 4096


@dataclass
class Prediction:
    """Everything known about one text's result.

    Attributes:
        labels: the text's labels, in the order given.
        scores: one score per label (sigmoid if ``multi_label`` else softmax over the labels).
        logits: the raw model logits, aggregated over chunks.
        multi_label: how ``scores`` were computed.
        text_tokens: tokens of the text; ``text_tokens_used``: how many of them the model saw.
        truncated: the text was cut to fit the window (``long_text="truncate"``).
        chunks: windows the text was split into (``long_text="chunk"``); label_groups: passes the labels
            needed (more than 1 when the label set does not fit one window with the text).
        shortlisted_from: with ``shortlist=``, how many labels the set had; ``labels`` are then only the
            retrieved candidates the model scored (the others have no score).
        initial_scores, initial_logits: only for a model with a learned calibrator: the scores and logits before
            it (``scores`` and ``logits`` are then the calibrated ones), as the official pipeline's
            ``initial_score``. None otherwise.
    """

    labels: list[str]
    scores: list[float]
    logits: list[float]
    multi_label: bool
    text_tokens: int
    text_tokens_used: int
    truncated: bool
    chunks: int
    label_groups: int
    label_tree: Any = None  # the hierarchical (dict) labels this text was given, if any
    shortlisted_from: int | None = None  # shortlisting: size of the label set ``labels`` were retrieved from
    initial_scores: list[float] | None = None  # learned calibrator: the scores before it
    initial_logits: list[float] | None = None


@dataclass
class PriorFusion:
    """How a request's model logits meet its prior: ``fuse`` adds the prior to the logits of text ``item``'s labels
    ``span`` (all of them, or one window's), weighing the model per label, and with ``has`` / ``zero_shot`` places
    labels without examples per text against the labelled ones by zero-shot (``gate_unlabelled``)."""

    prior: list[np.ndarray]
    weights: list[np.ndarray]
    has: list[np.ndarray] | None = None
    zero_shot: list[np.ndarray] | None = None

    def fuse(self, item: int, logits: np.ndarray, span: slice) -> np.ndarray:
        fused = self.weights[item][span] * logits + self.prior[item][span]
        if self.has is None or self.zero_shot is None:
            return fused
        return gate_unlabelled(fused, logits + self.zero_shot[item][span], self.has[item][span])


class Engine:
    """Input builder, backend and label-vector cache of one loaded model.

    Args:
        backend: the model stage (``backends.Backend``): torch or ONNX Runtime.
        tokenizer: the fast tokenizer of the checkpoint; ``label_tokenizer``: bi-encoders' label tokenizer.
        max_length: the token window (already resolved, see ``resolve_max_length``).
        calibration: temperature / thresholds applied in ``assemble``.
        prior: the checkpoint's embedding-similarity prior (``backends.embedding``), added to the model's logits in
            ``assemble``; None for checkpoints without ``prior.json`` (every official one).
    """

    def __init__(
        self,
        backend: Backend,
        tokenizer: Any,
        label_tokenizer: Any = None,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        calibration: Calibration | None = None,
        prior: EmbeddingPrior | None = None,
    ):
        self.backend = backend
        self.prior = prior
        self.config: GLiClassConfig = backend.config
        self.tokenizer = tokenizer
        self.label_tokenizer = label_tokenizer
        self.max_length = max_length
        self.calibration = calibration
        self.builder = InputBuilder(self.config, tokenizer, label_tokenizer)
        self.label_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # bi-encoders: label -> vector [D]
        check_tokenizer(self.config, tokenizer)

    # ------------------------------------------------------------------ stages
    def plan(self, request: Request, policy: WindowPolicy, items: range | None = None) -> list[ItemPlan]:
        """Token ids of every window each text needs, or each of the texts ``items`` (``processing.InputBuilder``)."""
        return self.builder.build(request, policy, items)

    def run(
        self,
        segments: list[Segment],
        batch_size: int,
        show_progress: bool | Callable[[int, int], Any] | None = None,
        max_batch_tokens: int | None = None,
        *,
        position_offset: int | None = None,
        adapter_slots: list[int] | None = None,
        representations: bool | None = None,
    ) -> list[np.ndarray]:
        """Model logits for each segment; batches are length-sorted (and token-budgeted) to minimise padding.

        ``position_offset`` (not None): order-free label position ids start there (``label_order``).
        ``adapter_slots``: per segment, the LoRA adapter slot its row runs with (0: none; ``modeling.adapters``);
        rows with different adapters share batches.
        ``representations`` (default: when the model has a learned calibrator): keep each window's text and label
        vectors on its segment (``Segment.representations``), for the calibrator or for fitting one.
        """
        lengths = [len(s.input_ids) + len(s.class_input_ids or ()) for s in segments]
        batches = plan_batches(lengths, batch_size, max_batch_tokens)
        if self.config.is_bi_encoder:
            self.cache_label_vectors({label for s in segments for label in s.labels}, batch_size)
        results: list[np.ndarray] = [np.empty(0)] * len(segments)
        calibrated = self.has_calibrator if representations is None else representations
        for batch in _progress(batches, show_progress):
            collated = self.collate([segments[i] for i in batch], position_offset=position_offset)
            if adapter_slots is not None and any(adapter_slots[i] for i in batch):
                collated["adapter_slots"] = np.asarray([adapter_slots[i] for i in batch], dtype=np.int64)
            if calibrated:
                # the calibrator reads the window's vectors: kept on the segment until ``assemble``
                logits, text, labels = self.backend.run_representations(collated)
            else:
                logits = self.backend.run(collated)
            for row, index in enumerate(batch):
                n = len(segments[index].labels)
                results[index] = logits[row, :n]
                if calibrated:
                    segments[index].representations = (text[row], labels[row, :n])
        return results

    @property
    def has_calibrator(self) -> bool:
        """The model has a learned calibrator (``modeling.calibrator``), applied in ``assemble``."""
        return bool(getattr(self.backend, "has_calibrator", False))

    def collate(self, rows: list[Segment], *, position_offset: int | None = None) -> dict[str, np.ndarray]:
        """The backend-independent batch: padded int64 ids and masks, slot counts, cached label vectors, and
        with ``position_offset`` the order-free ``position_ids`` (``label_order.stable_position_ids``)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.config.pad_token_id
        input_ids, attention_mask = pad_ids([r.input_ids for r in rows], pad)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if position_offset is not None:
            positions = [
                stable_position_ids(
                    r.input_ids, self.config.class_token_index, self.config.text_token_index, position_offset
                )
                for r in rows
            ]
            batch["position_ids"], _ = pad_ids(positions, position_offset)
        if self.config.is_bi_encoder:
            counts = [len(r.labels) for r in rows]
            dim = next(iter(self.label_cache.values())).shape[-1]
            vectors = np.zeros((len(rows), max(counts), dim), dtype=np.float32)
            for i, r in enumerate(rows):
                vectors[i, : counts[i]] = np.stack([self.label_cache[label] for label in r.labels])
            batch["label_vectors"] = vectors
        else:
            counts = [self.config.label_slots(len(r.labels)) for r in rows]
        if self.config.is_encoder_decoder:
            batch["class_input_ids"], batch["class_attention_mask"] = pad_ids([r.class_ids() for r in rows], pad)
        batch["slot_counts"] = np.asarray(counts, dtype=np.int64)
        return batch

    def cache_label_vectors(self, labels: set[str], batch_size: int) -> None:
        """Encode the labels not yet cached (bi-encoders: label vectors do not depend on the text).

        The cache (LRU, at least ``LABEL_CACHE_SIZE`` labels) lives on the engine, so many calls against a
        fixed label set cost one label-encoder pass, on either backend.
        """
        missing = sorted((label for label in labels if label not in self.label_cache), key=len)
        window = max_positions(self.config.label_model_config) or self.max_length
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            ids = label_encoder_ids(self.label_tokenizer, self.config, chunk)
            for label, label_ids in zip(chunk, ids, strict=True):
                if len(label_ids) > window:
                    raise ValueError(
                        f"label {label[:80]!r} has {len(label_ids)} tokens; the label encoder reads {window}"
                    )
            input_ids, mask = pad_ids(ids, self.label_tokenizer.pad_token_id or 0)
            vectors = self.backend.encode_labels(input_ids, mask)
            for label, vector in zip(chunk, vectors, strict=True):
                self.label_cache[label] = vector
        for label in labels:
            self.label_cache.move_to_end(label)
        while len(self.label_cache) > max(LABEL_CACHE_SIZE, len(labels)):
            self.label_cache.popitem(last=False)

    def assemble(
        self, request: Request, plans: list[ItemPlan], segments: list[Segment], logits: list[np.ndarray], aggregate: str
    ) -> list[Prediction]:
        """One ``Prediction`` per text: logits gathered over its segments, aggregated, plus the prior (if any),
        calibrated, activated."""
        if self.has_calibrator:
            calibrated, initial = self.calibrated_item_logits(request, segments, logits, aggregate)
            return [self.prediction(request, i, plan, calibrated[i], initial[i]) for i, plan in enumerate(plans)]
        item_logits = self.with_prior(request, self.item_logits(request, segments, logits, aggregate))
        return [self.prediction(request, i, plan, item_logits[i]) for i, plan in enumerate(plans)]

    def calibrated_item_logits(
        self, request: Request, segments: list[Segment], logits: list[np.ndarray], aggregate: str
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per text, ``(calibrated logits, uncalibrated logits)``, each aggregated over the text's windows.

        Each window's logits (plus the prior: the calibrator sees the logits the scores come from) are
        calibrated with that window's vectors, as the official model calibrates each forward pass.
        """
        uncalibrated = self.window_logits_with_prior(request, segments, logits)
        calibrated = self.apply_calibrator(segments, uncalibrated)
        return (
            self.item_logits(request, segments, calibrated, aggregate),
            self.item_logits(request, segments, uncalibrated, aggregate),
        )

    def window_logits_with_prior(
        self, request: Request, segments: list[Segment], logits: list[np.ndarray]
    ) -> list[np.ndarray]:
        """Each window's logits fused with the prior of its labels (the prior does not depend on the window), as
        ``with_prior`` fuses a text's: few-shot model weights, and labels without examples placed against the
        window's labelled ones."""
        if self.prior is None:
            return [values.astype(np.float32) for values in logits]
        fusion = self.prior_fusion(request)
        return [
            fusion.fuse(s.item, values, slice(s.label_offset, s.label_offset + len(values))).astype(np.float32)
            for s, values in zip(segments, logits, strict=True)
        ]

    def apply_calibrator(
        self, segments: list[Segment], logits: list[np.ndarray], batch_size: int = 256
    ) -> list[np.ndarray]:
        """``beta * z + bias`` for every window, the calibrator run on padded batches of windows."""
        out: list[np.ndarray] = []
        for start in range(0, len(segments), batch_size):
            rows = range(start, min(start + batch_size, len(segments)))
            width = max(len(logits[i]) for i in rows)
            vectors = [window_vectors(segments[i]) for i in rows]
            dim = vectors[0][0].shape[-1]
            text = np.stack([text_vector for text_vector, _ in vectors]).astype(np.float32)
            labels = np.zeros((len(rows), width, dim), dtype=np.float32)
            values = np.zeros((len(rows), width), dtype=np.float32)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                n = len(logits[i])
                labels[row, :n], values[row, :n], mask[row, :n] = vectors[row][1], logits[i], 1
            beta, bias = self.backend.calibrate(text, labels, values, mask)
            calibrated = beta * values + bias  # float32, as the official model computes it
            out.extend(calibrated[row, : len(logits[i])] for row, i in enumerate(rows))
        return out

    def with_prior(self, request: Request, item_logits: list[np.ndarray]) -> list[np.ndarray]:
        """The model's logits plus the checkpoint's embedding-similarity prior (``backends.embedding``), if any."""
        if self.prior is None:
            return item_logits
        fusion = self.prior_fusion(request)
        return [fusion.fuse(i, logits, slice(0, len(logits))) for i, logits in enumerate(item_logits)]

    def prior_fusion(self, request: Request) -> PriorFusion:
        """The prior's terms for every text of ``request``, computed once for all of its windows or labels."""
        assert self.prior is not None
        prior = self.prior.logits(request.texts, request.labels, centers=request.prior_centers)
        # per label: 1 unless a few-shot fit chose to trust the model less on its task (labels without examples may
        # keep the model at full weight, as zero-shot)
        weights = [self.prior.model_weights(labels) for labels in request.labels]
        has = [self.prior.has_examples(labels) for labels in request.labels] if self.prior.gates_unlabelled else []
        if not has or all(h.all() or not h.any() for h in has):
            return PriorFusion(prior, weights)  # no text mixes labels with and without examples: nothing to place
        return PriorFusion(prior, weights, has, self.prior.zero_shot_logits(request.texts, request.labels))

    def item_logits(
        self, request: Request, segments: list[Segment], logits: list[np.ndarray], aggregate: str
    ) -> list[np.ndarray]:
        """Per text, one logit per label (in the request's order), aggregated over its windows."""
        by_item: dict[int, list[tuple[Segment, np.ndarray]]] = {}
        for segment, values in zip(segments, logits, strict=True):
            by_item.setdefault(segment.item, []).append((segment, values))
        out = []
        for index, labels in enumerate(request.labels):
            per_label: list[list[np.ndarray]] = [[] for _ in labels]
            for segment, values in by_item[index]:
                for j, value in enumerate(values):
                    per_label[segment.label_offset + j].append(value)
            out.append(np.array([aggregate_chunks(v, aggregate) for v in per_label], dtype=np.float64))
        return out

    def prediction(
        self,
        request: Request,
        index: int,
        plan: ItemPlan,
        item_logits: np.ndarray,
        initial_logits: np.ndarray | None = None,
    ) -> Prediction:
        """Text ``index``'s ``Prediction`` from its aggregated logits: calibrated, then activated.

        ``initial_logits``: the logits before a learned calibrator (``item_logits`` are then after it).
        """
        multi_label = request.multi_label[index]
        calibrated = self.calibration.apply(item_logits, multi_label=multi_label) if self.calibration else item_logits
        scores = activate(calibrated, multi_label)
        initial = None if initial_logits is None else np.asarray(initial_logits, dtype=np.float64)
        return Prediction(
            labels=list(request.labels[index]),
            scores=scores.tolist(),
            logits=item_logits.tolist(),
            multi_label=request.multi_label[index],
            text_tokens=plan.text_tokens,
            text_tokens_used=plan.text_tokens_used,
            truncated=plan.truncated,
            chunks=plan.chunks,
            label_groups=plan.label_groups,
            label_tree=request.label_trees[index] if request.label_trees else None,
            initial_scores=None if initial is None else activate(initial, multi_label).tolist(),
            initial_logits=None if initial is None else initial.tolist(),
        )

    def run_ordered(
        self,
        request: Request,
        policy: WindowPolicy,
        order: OrderPlan,
        *,
        batch_size: int,
        show_progress: bool | Callable[[int, int], Any] | None = None,
        max_batch_tokens: int | None = None,
        aggregate: str = "max",
    ) -> tuple[list[ItemPlan], list[Prediction]]:
        """``plan`` + ``run`` + ``assemble`` with order-stable labels (``label_order``): each text is run in its
        canonical order (and seeded shuffles of it, averaged) and the logits are put back in the given order.

        Returns the plans of each text's first order (for the fitting warnings) and the predictions.
        """
        orders = [label_orders(labels, order) for labels in request.labels]
        expanded = expand_request(request, orders)
        plans = self.plan(expanded, policy)
        segments = [segment for plan in plans for segment in plan.segments]
        offset = order.position_offset if order.mode == "positions" else None
        logits = self.run(segments, batch_size, show_progress, max_batch_tokens, position_offset=offset)
        starts = np.cumsum([0] + [len(o) for o in orders[:-1]]).tolist()
        first_plans = [plans[k] for k in starts]
        if self.has_calibrator:
            # each order's windows are calibrated (with the prior, as in ``assemble``), then the orders averaged
            calibrated, initial = self.calibrated_item_logits(expanded, segments, logits, aggregate)
            calibrated, initial = average_orders(calibrated, orders), average_orders(initial, orders)
            return first_plans, [
                self.prediction(request, i, first_plans[i], calibrated[i], initial[i]) for i in range(len(orders))
            ]
        # the prior scores each label alone (order-free already): added once, on the request as given
        averaged = self.with_prior(
            request, average_orders(self.item_logits(expanded, segments, logits, aggregate), orders)
        )
        return first_plans, [self.prediction(request, i, first_plans[i], averaged[i]) for i in range(len(orders))]

    # ------------------------------------------------------------------ state
    def reset_caches(self) -> None:
        """Drop what belongs to the old weights: cached label vectors and a compiled forward pass."""
        self.label_cache.clear()
        reset = getattr(self.backend, "reset", None)
        if reset is not None:
            reset()


# ====================================================================== helpers
def resolve_max_length(config: GLiClassConfig, requested: int | None, *, stacklevel: int = 2) -> int:
    """``requested`` (default 1024) capped at the backbone's positions, with a warning if it was asked for."""
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int) or requested < 8):
        raise ValueError(f"max_length must be an int >= 8, got {requested!r}")
    limit = max_positions(config.encoder_config)
    value = requested or DEFAULT_MAX_LENGTH
    if limit is not None and value > limit:
        if requested is not None:
            warnings.warn(
                f"max_length={requested} exceeds the backbone's {limit} positions; using {limit}",
                stacklevel=stacklevel + 1,
            )
        value = limit
    return value


def check_tokenizer(config: GLiClassConfig, tokenizer: Any) -> None:
    """The tokenizer must be fast (offsets) and map the markers to the ids the checkpoint was trained with."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("uniclass needs a fast (tokenizers-backed) tokenizer to locate text tokens")
    if config.architecture_type == "bi-encoder":
        return
    for token, expected in ((CLASS_TOKEN, config.class_token_index), (TEXT_TOKEN, config.text_token_index)):
        found = tokenizer.convert_tokens_to_ids(token)
        if found != expected:
            raise ValueError(
                f"tokenizer maps {token} to id {found} but config.json expects {expected}: "
                "the tokenizer files do not belong to this checkpoint"
            )


def warn_about_fitting(plans: list[ItemPlan], window: int, *, stacklevel: int = 2) -> None:
    """One warning for texts that were cut, one for texts whose labels needed several passes."""
    truncated = sum(p.truncated for p in plans)
    if truncated:
        warnings.warn(
            f"{truncated} of {len(plans)} texts did not fit the {window}-token window with their labels and were "
            "truncated (labels, prompt and examples are kept whole). Use long_text='chunk' to score every token; "
            "Classifier.predict() reports which texts were cut.",
            stacklevel=stacklevel + 1,
        )
    split = sum(p.label_groups > 1 for p in plans)
    if split:
        warnings.warn(
            f"{split} of {len(plans)} texts had more labels than fit one {window}-token window; their labels were "
            "scored in separate groups, so scores across groups come from separate passes.",
            stacklevel=stacklevel + 1,
        )


def _progress(batches: list[list[int]], show: bool | Callable[[int, int], Any] | None) -> Iterator[list[int]]:
    """The batches, with a tqdm bar (``show``: True, or None on a terminal for more than 4 batches), or calling
    ``show(rows_done, rows_total)`` after each batch (a caller's own progress display, e.g. ``uniclass classify``)."""
    if callable(show):
        return _reporting(batches, show)
    if show is None:
        show = len(batches) > 4 and sys.stderr.isatty()
    if not show:
        return iter(batches)
    from tqdm.auto import tqdm

    return iter(tqdm(batches, desc="uniclass", unit="batch"))


def _reporting(batches: list[list[int]], report: Callable[[int, int], Any]) -> Iterator[list[int]]:
    total = sum(len(batch) for batch in batches)
    for batch in batches:
        yield batch
        report(len(batch), total)  # the caller asked for the next batch: this one is done


def window_vectors(segment: Segment) -> tuple[np.ndarray, np.ndarray]:
    """The window's ``(text vector, label vectors)``, kept on it by ``Engine.run(..., representations=True)``."""
    if segment.representations is None:
        raise RuntimeError("the learned calibrator needs the windows' vectors: run them with representations=True")
    return segment.representations
