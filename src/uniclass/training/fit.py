"""``Classifier.fit``: few-shot learning from a handful of labelled texts.

Two parts, either or both: label prototypes in the classifier's embedding-similarity prior (``prior.json``; each
label's prompt vector replaced by the mean of it and its examples' vectors, ``backends.embedding``), and fine-tuning
the GLiClass model itself on the ``Trainer``. Which is the default is measured by ``benchmarks/few_shot_prior.py``.

``Classifier.fit`` imports this module only when called, so the classifier never depends on ``training``.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backends.embedding import gate_unlabelled
from ..data.formats import Example
from ..processing import check_label_list, reject_reserved_markers
from .args import check_schedule

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

# Whether fit fine-tunes the model when the prior's prototypes are set too (``finetune=None``): chosen on the
# selection sets of the few-shot protocol (benchmarks/few_shot_prior.py --recipes lora-5e-4,lora-1e-4): prototypes
# alone 0.700 mean macro-F1; prototypes + LoRA fine-tuning 0.691 at lr 5e-4 (hurts 2-label sentiment) and 0.704 at
# lr 1e-4 (helps many-label topics, hurts foldoc), a tie on one split; so the cheaper choice, prototypes alone
# (seconds instead of minutes, the model's weights untouched). Measured with the previous prior (no reference
# standardisation); with the shipped prior (prototypes scored unstandardised) prototypes alone give
# 0.701 and prototypes + LoRA fine-tuning at lr 5e-4 0.689 (benchmarks/few_shot_prior.py --recipes lora-5e-4).
FINETUNE_WITH_PROTOTYPES = False


def fit(
    classifier: Classifier,
    texts: Sequence[str],
    labels: Sequence[str | Sequence[str]],
    *,
    all_labels: Sequence[str] | None = None,
    multi_label: bool = True,
    epochs: float = 10,
    learning_rate: float = 1e-4,
    batch_size: int = 8,
    lora: bool = True,
    output_dir: str | Path | None = None,
    seed: int = 0,
    finetune: bool | None = None,
    prototypes: bool = True,
    prototype_prompt_weight: float = 1.0,
    signal_weights: str | Sequence[float] | None = "auto",
    **training_args: Any,
) -> Classifier:
    """Train ``classifier`` in place (see ``Classifier.fit`` for the arguments) and return it."""
    texts, true_lists, all_labels = check_fit_inputs(texts, labels, all_labels)
    candidates = list(all_labels) if all_labels is not None else sorted({y for ys in true_lists for y in ys})
    use_prototypes = prototypes and classifier.prior is not None
    if finetune is None:
        finetune = default_finetune(classifier, prototypes)
    if not finetune and not use_prototypes:
        raise ValueError(
            "fit: nothing to train: finetune=False needs a classifier with an embedding-similarity prior "
            "(prior.json) and prototypes=True"
        )
    if finetune:  # before the prototypes change anything, so that a bad value leaves the classifier as it was
        check_schedule(
            learning_rate=learning_rate,
            head_learning_rate=training_args.get("head_learning_rate"),
            batch_size=batch_size,
            epochs=epochs,
            max_steps=training_args.get("max_steps", -1),
        )
    if use_prototypes:
        set_prototypes(
            classifier,
            texts,
            true_lists,
            candidates,
            prompt_weight=prototype_prompt_weight,
            signal_weights=None if finetune else signal_weights,
        )
    if finetune:
        finetune_model(
            classifier,
            texts,
            true_lists,
            candidates,
            multi_label=multi_label,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            lora=lora,
            output_dir=output_dir,
            seed=seed,
            **training_args,
        )
    return classifier


def check_fit_inputs(texts: Any, labels: Any, all_labels: Any) -> tuple[list[str], list[list[str]], list[str] | None]:
    """The texts, each text's true labels and ``all_labels`` as lists, after one-line errors for inputs that would
    fail deep in training or be silently ignored: no texts, a single string instead of a list, a non-string text or
    label, an empty or blank text, reserved markers, a true label missing from ``all_labels``, or no label at all."""
    texts, labels = _as_list(texts, "texts"), _as_list(labels, "labels")
    if len(labels) != len(texts):
        raise ValueError(f"fit: {len(texts)} texts but {len(labels)} label entries")
    if not texts:
        raise ValueError("fit: no texts: give at least one labelled text")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"fit: texts[{i}] must be a str, got {type(text).__name__}")
        if not text.strip():  # it would be trained on as a text that has its labels: a missing cell, most likely
            raise ValueError(f"fit: texts[{i}] is empty")
        reject_reserved_markers(text, f"fit: texts[{i}]")
    true_lists = []
    for i, entry in enumerate(labels):
        entry = [entry] if isinstance(entry, str) else _as_list(entry, f"labels[{i}]", "a str or a list of str")
        if entry:
            check_label_list(entry, f"fit: labels[{i}]")
        true_lists.append(entry)
    if all_labels is not None:
        all_labels = _as_list(all_labels, "all_labels")
        check_label_list(all_labels, "fit: all_labels")
        known = set(all_labels)
        for i, entry in enumerate(true_lists):
            unknown = [y for y in entry if y not in known]
            if unknown:
                raise ValueError(f"fit: labels[{i}] has {unknown[0]!r}, which is not in all_labels")
    elif not any(true_lists):
        raise ValueError("fit: no text has a label: give labels, or all_labels for texts that have none")
    return texts, true_lists, all_labels


def _as_list(value: Any, name: str, expected: str = "a list") -> list[Any]:
    """Any iterable but a string or a mapping (lists, tuples, numpy arrays, pandas Series) as a list."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"fit: {name} must be {expected}, got {type(value).__name__}")
    return list(value)


def default_finetune(classifier: Classifier, prototypes: bool) -> bool:
    """Fine-tune unless the prior's prototypes do the learning (``FINETUNE_WITH_PROTOTYPES``, set by measurement)."""
    return classifier.prior is None or not prototypes or FINETUNE_WITH_PROTOTYPES


def set_prototypes(
    classifier: Classifier,
    texts: Sequence[str],
    true_lists: Sequence[Sequence[str]],
    candidates: Sequence[str],
    *,
    prompt_weight: float,
    signal_weights: str | Sequence[float] | None = "auto",
) -> None:
    """One prototype per candidate label with examples (a multi-label text counts for each of its labels), then the
    weights of the model, prompt and prototype signals (``"auto"``: ``choose_signal_weights_shrunk`` on the examples,
    labels without examples scored from zero-shot; ``"grid"``: ``choose_signal_weights``; a ``(model, prompt,
    prototype)`` triple is used as given; ``None`` keeps the fixed blend, as before weights were chosen, which is what
    fine-tuning uses: a model tuned on the examples cannot be judged on them)."""
    from ..backends.embedding import prototype

    prior = classifier.prior
    if prior is None:
        raise ValueError("prototypes need a model with an embedding-similarity prior (prior.json)")
    if isinstance(signal_weights, str) and signal_weights not in ("auto", "grid"):
        raise ValueError(
            f"fit: signal_weights must be 'auto', 'grid', None or (model, prompt, prototype), got {signal_weights!r}"
        )
    if signal_weights is not None and not isinstance(signal_weights, str):
        _weight_triple(signal_weights)  # checked before the prototypes below are cleared
    prior.clear_prototypes()  # a new task: earlier prototypes and weights would mix two tasks' scales
    pairs = [
        (text, candidates.index(y)) for text, ys in zip(texts, true_lists, strict=True) for y in ys if y in candidates
    ]
    if not pairs:
        return
    # each example embedded once, for its prototype(s) and for choosing the weights
    unique = list(dict.fromkeys(text for text, _ in pairs))
    vectors = dict(zip(unique, prior.embedder.embed(unique), strict=True))
    support_texts, support_labels = [t for t, _ in pairs], np.array([j for _, j in pairs], dtype=int)
    support = np.stack([vectors[t] for t in support_texts]).astype(np.float64)
    prompts = prior.prompt_vectors(list(candidates)).astype(np.float64)
    prior.prototypes.update(
        {
            candidates[j]: prototype(prompts[j], support[support_labels == j], prompt_weight)
            for j in np.unique(support_labels)
        }
    )
    if signal_weights is None:
        return
    if signal_weights == "auto":
        set_shrunk_weights(classifier, support_texts, support, support_labels, candidates, prompts, prompt_weight)
        return
    offset = unlabelled_offset(support, support_labels, prompts, prompt_weight)
    chosen: tuple[float, ...]
    if isinstance(signal_weights, str):
        bias, factor = prior.label_offsets(prompts)
        zero_shot = _centred((support @ prompts.T - bias[None]) * factor[None])
        chosen, _ = choose_signal_weights(
            model_logits_alone(classifier, support_texts, candidates),
            zero_shot,
            support,
            support_labels,
            prompts,
            prompt_weight=prompt_weight,
        )
    else:
        chosen = _weight_triple(signal_weights)
    prior.set_few_shot(dict(zip(("model", "prompt", "prototype"), chosen, strict=True), offset=offset))
    classifier.reset_caches()


def _weight_triple(signal_weights: Any) -> tuple[float, ...]:
    """``(model, prompt, prototype)`` as three finite floats, or a one-line error."""
    try:
        chosen = tuple(float(w) for w in signal_weights)
    except (TypeError, ValueError):
        chosen = ()
    if len(chosen) != 3 or not all(np.isfinite(chosen)):
        raise ValueError(f"fit: signal_weights must be (model, prompt, prototype), finite, got {signal_weights!r}")
    return chosen


def set_shrunk_weights(
    classifier: Classifier,
    support_texts: Sequence[str],
    support: np.ndarray,
    support_labels: np.ndarray,
    candidates: Sequence[str],
    prompts: np.ndarray,
    prompt_weight: float,
) -> None:
    """``signal_weights="auto"``: ``choose_signal_weights_shrunk`` on the examples, written to the prior with how
    labels without examples are scored (``zero_shot``, ``zero_shot_offset``, ``zero_shot_model`` when a call has
    no labelled label; ``zero_shot_gate``: placed per text against the labelled ones otherwise)."""
    prior = classifier.prior
    assert prior is not None
    bias, factor = prior.label_offsets(prompts)
    chosen, evidence = choose_signal_weights_shrunk(
        model_logits_alone(classifier, support_texts, candidates),
        (support @ prompts.T - bias[None]) * factor[None],
        support,
        support_labels,
        prompts,
        prompt_weight=prompt_weight,
        prior_weight=prior.spec.weight,
    )
    prior.set_few_shot(
        {
            **dict(zip(("model", "prompt", "prototype"), chosen, strict=True)),
            "offset": 0.0,
            "zero_shot": evidence["zero_shot_weight"],
            "zero_shot_offset": evidence["zero_shot_offset"],
            "zero_shot_model": evidence["zero_shot_model"],
            # a call with labels with and without examples places the latter per text, by zero-shot
            "zero_shot_gate": 1.0,
        }
    )
    classifier.reset_caches()


def model_logits_alone(classifier: Classifier, texts: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
    """``[N, L]`` logits of the GLiClass model without the prior (single-label request, uncalibrated)."""
    prior = classifier.prior
    classifier.prior = None
    try:
        predictions = classifier.predict(list(texts), list(candidates), multi_label=False)
    finally:
        classifier.prior = prior
    return np.array([p.logits for p in predictions], dtype=np.float64)


def prototype_examples(
    texts: Sequence[str], true_lists: Sequence[Sequence[str]], candidates: Sequence[str]
) -> dict[str, list[str]]:
    """Each candidate's example texts, in order (labels outside ``candidates`` are ignored).

    A function of its own so that ``benchmarks/few_shot_prior.py`` sets exactly the prototypes ``fit`` sets.
    """
    by_label: dict[str, list[str]] = {label: [] for label in candidates}
    for text, ys in zip(texts, true_lists, strict=True):
        for y in ys:
            if y in by_label:
                by_label[y].append(text)
    return by_label


def finetune_model(
    classifier: Classifier,
    texts: Sequence[str],
    true_lists: Sequence[Sequence[str]],
    candidates: Sequence[str],
    *,
    multi_label: bool,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    lora: bool,
    output_dir: str | Path | None,
    seed: int,
    **training_args: Any,
) -> None:
    """Fine-tune the GLiClass model (not the prior) on the examples, every candidate label in each item."""
    backend = classifier.require_torch("fit")
    from .args import TrainingArguments
    from .trainer import Trainer

    examples = [
        Example(text, tuple(candidates), tuple(1.0 if c in ys else 0.0 for c in candidates))
        for text, ys in zip(texts, true_lists, strict=True)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=str(output_dir or scratch),
            num_train_epochs=epochs,
            learning_rate=learning_rate,
            per_device_train_batch_size=batch_size,
            loss="focal" if multi_label else "softmax",
            use_lora=lora,
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            seed=seed,
            use_cpu=backend.device.type == "cpu",
            **training_args,
        )
        Trainer(classifier, args, train_data=examples).train()
    if lora:
        classifier.merge_lora()
    classifier.model.eval()
    classifier.reset_caches()


# ====================================================================== support-chosen signal weights
# A fit with prototypes scores ``model * u + prompt * zs + prototype * pr`` per text and label: ``u`` the GLiClass
# model's logit, ``zs`` the prior's zero-shot term (standardised cosine to the label prompt), ``pr`` the raw cosine
# to the label's prototype. Why choose the weights per task: the three fail on different tasks (the model is weak on
# unfamiliar topics, prototypes on 2-label sentiment), and a fixed blend lets the weak one drag the others down.
# ``(1, 0, 80)`` is what fit did before the weights were chosen (prototypes replace prompts, the model at full weight).
DEFAULT_SIGNAL_WEIGHTS = (1.0, 0.0, 80.0)
SIGNAL_GRID: tuple[tuple[float, float, float], ...] = tuple(
    w
    for w in itertools.product((0.0, 0.25, 0.5, 1.0), (0.0, 40.0, 80.0), (0.0, 20.0, 40.0, 80.0, 160.0))
    if w[0] > 0 or w[2] > 0
)


def prototype_sums(
    prompts: np.ndarray, support: np.ndarray, support_labels: np.ndarray, prompt_weight: float = 1.0
) -> np.ndarray:
    """``[L, D]``: ``prompt_weight * prompt + sum of the label's support vectors``.

    A label without support vectors gets its prompt alone.
    """
    labels = np.asarray(support_labels, dtype=int)
    has = np.bincount(labels, minlength=len(prompts)) > 0
    sums = np.asarray(prompts, dtype=np.float64) * np.where(has, prompt_weight, 1.0)[:, None]
    np.add.at(sums, labels, np.asarray(support, dtype=np.float64))
    return sums


def prototype_matrix(
    prompts: np.ndarray, support: np.ndarray, support_labels: np.ndarray, prompt_weight: float = 1.0
) -> np.ndarray:
    """``[L, D]``: each label's prototype (the unit ``prototype_sums``, as ``backends.embedding.prototype``); a label
    without support keeps its prompt vector."""
    sums = prototype_sums(prompts, support, support_labels, prompt_weight)
    return sums / np.linalg.norm(sums, axis=1, keepdims=True)


def unlabelled_offset(
    support: np.ndarray, support_labels: np.ndarray, prompts: np.ndarray, prompt_weight: float = 1.0
) -> float:
    """How much a text's cosine to its own label's prototype (rebuilt without it) exceeds its cosine to that label's
    prompt, on average over the support texts.

    A label with no examples is scored by its prompt vector plus this offset: as if examples would raise it as much
    as they raise the labels that have some. Why: a prototype lies among texts, so it is closer to every text than a
    prompt is, and without the offset labels without examples are almost never chosen. (The smaller offset a
    prototype gets on texts that are *not* its label's was tried first, and lost: labels without examples fell far
    below zero-shot, benchmarks/results/v4_variants.log.)
    """
    labels = np.asarray(support_labels, dtype=int)
    if len(labels) == 0:
        return 0.0
    support = np.asarray(support, dtype=np.float64)
    own = prototype_sums(prompts, support, labels, prompt_weight)[labels] - support
    own /= np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)
    return float(((support * own).sum(1) - (support * np.asarray(prompts, dtype=np.float64)[labels]).sum(1)).mean())


def _centred(values: np.ndarray) -> np.ndarray:
    return values - values.mean(axis=1, keepdims=True)


def prototype_cosines(
    texts: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    *,
    leave_one_out: bool = False,
    prompt_weight: float = 1.0,
) -> np.ndarray:
    """``[N, L]`` raw cosines to the prototypes (labels without support: prompt cosine + ``unlabelled_offset``).

    ``leave_one_out=True`` scores the support texts themselves (``texts`` is ``support``): each one's own label's
    prototype is rebuilt without it, so the score is what a new text of that label would get.
    """
    support_labels = np.asarray(support_labels, dtype=int)
    sums = prototype_sums(prompts, support, support_labels, prompt_weight)
    cos = np.asarray(texts, dtype=np.float64) @ (sums / np.linalg.norm(sums, axis=1, keepdims=True)).T
    has = np.zeros(len(prompts), dtype=bool)
    has[support_labels] = True
    cos[:, ~has] += unlabelled_offset(support, support_labels, prompts, prompt_weight)
    if leave_one_out:
        rows = np.arange(len(support_labels))
        own = sums[support_labels] - np.asarray(support, dtype=np.float64)
        own /= np.maximum(np.linalg.norm(own, axis=1, keepdims=True), 1e-12)  # prompt weight 0, one example: 0
        cos[rows, support_labels] = (np.asarray(texts, dtype=np.float64) * own).sum(1)
    return cos


def signal_scores(
    model: np.ndarray,
    zero_shot: np.ndarray,
    texts: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    weights: Sequence[float],
    *,
    leave_one_out: bool = False,
    prompt_weight: float = 1.0,
) -> np.ndarray:
    """``[N, L]``: ``w_model * model + w_prompt * zero_shot + w_prototype * centred prototype cosines``.

    ``model`` are the GLiClass logits, ``zero_shot`` the prior's centred standardised cosines (its logits divided by
    its weight), ``texts`` / ``support`` unit text vectors, ``support_labels`` label indices.
    """
    w_model, w_prompt, w_proto = weights
    proto = _centred(
        prototype_cosines(
            texts, support, support_labels, prompts, leave_one_out=leave_one_out, prompt_weight=prompt_weight
        )
    )
    return w_model * np.asarray(model, dtype=np.float64) + w_prompt * np.asarray(zero_shot) + w_proto * proto


def choose_signal_weights(
    model: np.ndarray,
    zero_shot: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    grid: Sequence[tuple[float, float, float]] = SIGNAL_GRID,
    *,
    prompt_weight: float = 1.0,
) -> tuple[tuple[float, float, float], float]:
    """The grid point with the best leave-one-out accuracy on the support texts, and that accuracy.

    ``model`` / ``zero_shot`` are the support texts' GLiClass logits and prior terms. Ties go to
    ``DEFAULT_SIGNAL_WEIGHTS`` (what a fixed blend would use), then to the earlier grid point.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> prompts = np.eye(3, 8)
        >>> support = prompts[[0, 0, 1, 1, 2, 2]] + 0.1 * rng.normal(size=(6, 8))
        >>> support /= np.linalg.norm(support, axis=1, keepdims=True)
        >>> wrong_model = 100 * np.eye(3)[[1, 1, 2, 2, 0, 0]]  # confidently wrong on this task
        >>> weights, accuracy = choose_signal_weights(
        ...     wrong_model, np.zeros((6, 3)), support, [0, 0, 1, 1, 2, 2], prompts
        ... )
        >>> weights[0] < 1.0, accuracy
        (True, 1.0)
    """
    support_labels = np.asarray(support_labels, dtype=int)
    if len(support_labels) == 0:
        return DEFAULT_SIGNAL_WEIGHTS, float("nan")
    proto = _centred(
        prototype_cosines(support, support, support_labels, prompts, leave_one_out=True, prompt_weight=prompt_weight)
    )
    model, zero_shot = np.asarray(model, dtype=np.float64), np.asarray(zero_shot, dtype=np.float64)
    best, best_accuracy = DEFAULT_SIGNAL_WEIGHTS, -1.0
    for weights in (DEFAULT_SIGNAL_WEIGHTS, *grid):
        scores = weights[0] * model + weights[1] * zero_shot + weights[2] * proto
        accuracy = float((scores.argmax(1) == support_labels).mean())
        if accuracy > best_accuracy + 1e-12:
            best, best_accuracy = (float(weights[0]), float(weights[1]), float(weights[2])), accuracy
    return best, best_accuracy


# ====================================================================== k-fold shrinkage ("auto")
# Why a second rule: leave-one-out over a 57-point grid picks the best of many candidates on 16 examples of a
# 2-label task, i.e. mostly noise, and lost to the fixed blend on sets nobody had tuned on. This rule compares three
# candidates only, on repeated stratified k-fold, and leaves the default unless a candidate wins by more than one
# standard error of the paired per-example gains.
SHRINKAGE_CANDIDATES: dict[str, tuple[float, float, float]] = {
    "fixed blend": DEFAULT_SIGNAL_WEIGHTS,  # first: the default the others must beat
    "prototypes": (0.0, 0.0, 80.0),
    "model-heavy": (1.0, 40.0, 40.0),
}
ZERO_SHOT_WEIGHT = 80.0  # the default model's prior weight: fused zero-shot = model + 80 x standardised prompt cosine


def stratified_folds(support_labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Per support text its fold (``0 .. folds-1``): each label's texts shuffled and dealt round-robin from a random
    start, so every fold gets about the same share of every label."""
    labels = np.asarray(support_labels, dtype=int)
    assignment = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    return assignment


def raw_blend_scores(
    model: np.ndarray,
    zero_shot_raw: np.ndarray,
    texts: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    weights: Sequence[float],
    *,
    prompt_weight: float = 1.0,
    zero_shot_weight: float | None = None,
    zero_shot_offset: float = 0.0,
    zero_shot_model: float | None = None,
    gate: bool = False,
    prior_weight: float = ZERO_SHOT_WEIGHT,
) -> np.ndarray:
    """``[N, L]`` uncentred scores: ``model * u + prompt * zs + prototype * cos(text, prototype)`` for labels with
    support, and ``zero_shot_model * u + zero_shot_weight * zs + zero_shot_offset`` for labels without (None:
    ``unlabelled_model_weight(weights)`` and ``unlabelled_zero_shot_weight(weights)``). ``zero_shot_raw`` is the
    prior's standardised prompt cosine ``(text . prompt - bias) * factor``, not centred: these are what the
    classifier adds up before it centres a row. ``gate``: labels without support are placed per text instead
    (``gate_unlabelled`` against the fused zero-shot logits ``u + prior_weight * zs``), as the classifier does after
    a fit with ``signal_weights="auto"``.
    """
    support_labels = np.asarray(support_labels, dtype=int)
    w_model, w_prompt, w_proto = weights
    has = np.zeros(len(prompts), dtype=bool)
    has[support_labels] = True
    sums = prototype_sums(prompts, support, support_labels, prompt_weight)
    proto = np.asarray(texts, dtype=np.float64) @ (sums / np.linalg.norm(sums, axis=1, keepdims=True)).T
    model, zero_shot_raw = np.asarray(model, dtype=np.float64), np.asarray(zero_shot_raw, dtype=np.float64)
    a_zero = unlabelled_zero_shot_weight(weights) if zero_shot_weight is None else zero_shot_weight
    m_zero = unlabelled_model_weight(weights) if zero_shot_model is None else zero_shot_model
    labelled = w_model * model + w_prompt * zero_shot_raw + w_proto * proto
    unlabelled = m_zero * model + a_zero * zero_shot_raw + zero_shot_offset
    scores = np.where(has[None, :], labelled, unlabelled)
    return gate_unlabelled(scores, model + prior_weight * zero_shot_raw, has) if gate else scores


def unlabelled_model_weight(weights: Sequence[float]) -> float:
    """The GLiClass model's weight for labels without examples: the blend's, or 1 when the blend drops the model
    (prototypes alone): a label without examples has nothing but zero-shot, model included."""
    return float(weights[0]) if weights[0] > 0 else 1.0


def unlabelled_zero_shot_weight(weights: Sequence[float], prior_weight: float = ZERO_SHOT_WEIGHT) -> float:
    """The weight of the prompt cosine for labels without examples: the fused zero-shot logit (model + 80 x prompt
    cosine, ``prior_weight`` the prior's weight) scaled by ``unlabelled_model_weight``, so the two keep zero-shot's
    proportion."""
    return prior_weight * unlabelled_model_weight(weights)


def heldout_scores(
    model: np.ndarray,
    zero_shot_raw: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    weights: Sequence[float],
    folds: np.ndarray,
    *,
    prompt_weight: float = 1.0,
    prior_weight: float = ZERO_SHOT_WEIGHT,
) -> np.ndarray:
    """``[N, L]`` raw blend scores of every support text with prototypes built from the other folds only (a label
    with no support outside the text's fold is scored as a label without examples, offset 0)."""
    support_labels = np.asarray(support_labels, dtype=int)
    out = np.empty((len(support_labels), len(prompts)))
    for fold in np.unique(folds):
        held, train = folds == fold, folds != fold
        out[held] = raw_blend_scores(
            model[held],
            zero_shot_raw[held],
            support[held],
            support[train],
            support_labels[train],
            prompts,
            weights,
            prompt_weight=prompt_weight,
            zero_shot_weight=unlabelled_zero_shot_weight(weights, prior_weight),
        )
    return out


def choose_signal_weights_shrunk(
    model: np.ndarray,
    zero_shot_raw: np.ndarray,
    support: np.ndarray,
    support_labels: np.ndarray,
    prompts: np.ndarray,
    *,
    candidates: dict[str, tuple[float, float, float]] | None = None,
    folds: int = 4,
    repeats: int = 5,
    se_multiplier: float = 1.0,
    prompt_weight: float = 1.0,
    prior_weight: float = ZERO_SHOT_WEIGHT,
    anchor: str = "foreign",
    guard: bool = True,
    seed: int = 0,
) -> tuple[tuple[float, float, float], dict[str, Any]]:
    """The signal weights ``fit`` uses by default, chosen on the support texts, and the evidence.

    Each candidate (``SHRINKAGE_CANDIDATES``: the fixed blend first, prototypes alone, a model-heavy blend) scores
    every support text held out in a repeated stratified k-fold; per text, the share of repeats it is right. A
    candidate replaces the first one only when its mean gain exceeds ``se_multiplier`` standard errors of the
    per-text gains (paired); the largest such gain wins. With ``guard``, prototypes alone also win when the GLiClass
    model by itself (its argmax on the support texts, which it has never seen) is right less often than the held-out
    prototypes by more than ``se_multiplier`` standard errors (paired): a model that is poor on the task would drag
    the prototypes down on new texts even where the blend looks as good on the support set.
    ``model`` / ``zero_shot_raw`` are the support texts'
    GLiClass logits and uncentred standardised prompt cosines. The evidence: per candidate its held-out accuracy,
    gain and standard error, and the ``zero_shot_weight`` and ``zero_shot_offset`` of labels without examples (the
    median of ``anchor_gaps`` over the held-out texts; ``anchor="foreign"`` leaves each text's own label out of
    them, as a text of a label without examples has no own label among the labelled ones; ``"all"`` keeps it).
    When only one label of several has examples there is nothing to compare it with: the weights are then fused
    zero-shot's, ``(1, prior_weight, 0)``, and every label keeps its zero-shot score.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> prompts = np.eye(3, 8)
        >>> support = prompts[np.repeat([0, 1, 2], 8)] + 0.3 * rng.normal(size=(24, 8))
        >>> support /= np.linalg.norm(support, axis=1, keepdims=True)
        >>> wrong_model = 100 * np.eye(3)[np.repeat([1, 2, 0], 8)]  # confidently wrong on this task
        >>> weights, evidence = choose_signal_weights_shrunk(
        ...     wrong_model, np.zeros((24, 3)), support, np.repeat([0, 1, 2], 8), prompts
        ... )
        >>> weights, evidence["chosen"]
        ((0.0, 0.0, 80.0), 'prototypes')
    """
    candidates = dict(SHRINKAGE_CANDIDATES if candidates is None else candidates)
    support_labels = np.asarray(support_labels, dtype=int)
    names = list(candidates)
    default = names[0]
    if len(support_labels) == 0:
        return candidates[default], {
            "chosen": default,
            "zero_shot_weight": prior_weight,
            "zero_shot_offset": 0.0,
            "zero_shot_model": 1.0,
        }
    if anchor not in ("foreign", "all"):
        raise ValueError(f"anchor must be 'foreign' or 'all', got {anchor!r}")
    if len(np.unique(support_labels)) == 1 < len(prompts):
        zero_shot = (1.0, float(prior_weight), 0.0)
        return zero_shot, {
            "chosen": "zero-shot",
            "zero_shot_weight": float(prior_weight),
            "zero_shot_offset": 0.0,
            "zero_shot_model": 1.0,
        }
    # only the labels with examples take part: a held-out text is asked which of *them* it belongs to, and the
    # offset for labels without examples is measured against them
    present = np.unique(support_labels)
    support_labels = np.searchsorted(present, support_labels)
    model = np.asarray(model, dtype=np.float64)[:, present]
    zero_shot_raw = np.asarray(zero_shot_raw, dtype=np.float64)[:, present]
    prompts = np.asarray(prompts, dtype=np.float64)[present]
    support = np.asarray(support, dtype=np.float64)
    k = int(max(2, min(folds, np.bincount(support_labels).max())))
    rng = np.random.default_rng(seed)
    correct = {name: np.zeros(len(support_labels)) for name in names}
    anchors: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for _ in range(repeats):
        assignment = stratified_folds(support_labels, k, rng)
        for name in names:
            scores = heldout_scores(
                model,
                zero_shot_raw,
                support,
                support_labels,
                prompts,
                candidates[name],
                assignment,
                prompt_weight=prompt_weight,
                prior_weight=prior_weight,
            )
            correct[name] += (scores.argmax(1) == support_labels) / repeats
            own = support_labels if anchor == "foreign" and len(present) > 1 else None
            anchors[name].append(anchor_gaps(scores, model, zero_shot_raw, candidates[name], prior_weight, own))
    evidence: dict[str, Any] = {"folds": k, "repeats": repeats, "candidates": {}}
    best, best_gain = default, 0.0
    for name in names:
        gains = correct[name] - correct[default]
        gain = float(gains.mean())
        se = float(gains.std(ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else float("inf")
        evidence["candidates"][name] = {"accuracy": float(correct[name].mean()), "gain": gain, "se": se}
        if name != default and gain > 0 and gain > se_multiplier * se and gain > best_gain:
            best, best_gain = name, gain
    if guard and "prototypes" in candidates:
        behind = correct["prototypes"] - (model.argmax(1) == support_labels)
        se = float(behind.std(ddof=1) / np.sqrt(len(behind))) if len(behind) > 1 else float("inf")
        evidence["model_alone"] = {"accuracy": float((model.argmax(1) == support_labels).mean()), "se": se}
        if behind.mean() > 0 and behind.mean() > se_multiplier * se:
            best = "prototypes"
    evidence["chosen"] = best
    evidence["zero_shot_weight"] = unlabelled_zero_shot_weight(candidates[best], prior_weight)
    evidence["zero_shot_model"] = unlabelled_model_weight(candidates[best])
    evidence["zero_shot_offset"] = float(np.median(np.concatenate(anchors[best])))
    return tuple(float(w) for w in candidates[best]), evidence  # type: ignore[return-value]


def anchor_gaps(
    scores: np.ndarray,
    model: np.ndarray,
    zero_shot_raw: np.ndarray,
    weights: Sequence[float],
    prior_weight: float = ZERO_SHOT_WEIGHT,
    own: np.ndarray | None = None,
) -> np.ndarray:
    """Per text, its best blended score minus its best scaled zero-shot score (``model * u + zero-shot weight *
    zs``), over the labels with examples (but the text's ``own`` label, when given): how far the blend lifts a text's
    top competitor above where zero-shot puts it.

    The median of these is the offset a label *without* examples gets on top of its scaled zero-shot score, so that
    it meets the labelled labels on the blend's scale: a text whose zero-shot favourite has no examples keeps it
    about as often as zero-shot would choose it.
    """
    zero = unlabelled_model_weight(weights) * np.asarray(model, dtype=np.float64) + unlabelled_zero_shot_weight(
        weights, prior_weight
    ) * np.asarray(zero_shot_raw, dtype=np.float64)
    scores = np.array(scores, dtype=np.float64)
    if own is not None:
        rows = np.arange(len(own))
        scores[rows, own] = -np.inf
        zero[rows, own] = -np.inf
    return scores.max(1) - zero.max(1)
