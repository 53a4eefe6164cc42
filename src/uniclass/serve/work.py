"""One accounting of work for every endpoint and every model part, in encoder tokens, counted before anything runs.

A request's cost is the tokens each encoder will read for it:

- the GLiClass encoder: every window of every label group (``plan_windows``, linear planning);
- the embedding-similarity prior (the default model has one): each text once (up to the prior's
  ``max_length``), and each label's prompt(s) (``template`` and every ``ensemble`` template) unless the label's
  vector is already cached;
- a shortlist retriever: each text once, and each label prompt not yet embedded (a registered label set's
  vectors are kept, so only its texts count);
- a label-set upload: every label's prompt(s), exactly what ``LabelIndex.build`` would encode;
- an explanation: every occluded variant, through the GLiClass encoder and the prior.

A token of the 6-layer sentence embedder costs about what a token of the bundled 6-layer GLiClass encoder
does, so the counts are added as they are. Counting tokenizes (cheap, fast tokenizers) and stops as soon as
the running total is over the budget (``TooMuchWork``), so refusing a huge request costs about the budget's
worth of tokenizing, never the whole request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TooMuchWork(Exception):
    """The request's work is over the budget; counting stopped once that was certain."""

    def __init__(self, counted: int, planned: int = 0, texts: int = 0, *, exact: bool = False):
        super().__init__(counted)
        self.counted, self.planned, self.texts = counted, planned, texts
        self.exact = exact or (texts > 0 and planned == texts)

    def describe(self) -> str:
        """The count as a client should read it: exact, or a lower bound (counting stopped early)."""
        if self.exact:
            return str(self.counted)
        if self.texts:
            return f"more than {self.counted} (counted over its first {self.planned} of {self.texts} texts)"
        return f"at least {self.counted}"


def token_counts(
    tokenizer: Any, strings: Sequence[str], max_length: int, budget: int | None = None, already: int = 0
) -> list[int]:
    """Tokens an encoder reads for each string (at most ``max_length``), in slices of 64, 128, ... strings.

    Raises ``TooMuchWork`` as soon as ``already`` plus the counted tokens is over ``budget``.
    """
    counts: list[int] = []
    start, size = 0, 64
    while start < len(strings):
        chunk = list(strings[start : start + size])
        ids = tokenizer(chunk, add_special_tokens=True)["input_ids"] if tokenizer is not None else None
        counts += (
            [min(len(row), max_length) for row in ids]
            if ids is not None
            else [min(len(s) // 3 + 2, max_length) for s in chunk]
        )  # no tokenizer to ask: ~3 characters a token
        if budget is not None and already + sum(counts) > budget:
            raise TooMuchWork(already + sum(counts), exact=start + len(chunk) == len(strings))
        start, size = start + len(chunk), size * 2
    return counts


def prior_text_tokens(clf: Any, texts: Sequence[str], budget: int | None = None, already: int = 0) -> list[int]:
    """Per text, the tokens the prior embeds (none without a prior)."""
    prior = getattr(clf, "prior", None)
    if prior is None or not texts:
        return [0] * len(texts)
    return token_counts(getattr(prior.embedder, "tokenizer", None), texts, _prior_max_length(prior), budget, already)


def prior_label_tokens(clf: Any, labels: Sequence[str], budget: int | None = None, already: int = 0) -> int:
    """Tokens the prior embeds for the labels whose vectors it has not cached (every template of each)."""
    prior = getattr(clf, "prior", None)
    if prior is None:
        return 0
    missing = [
        label for label in dict.fromkeys(labels) if label not in prior.label_cache and label not in prior.prototypes
    ]
    prompts = [t.format(label) for label in missing for t in prior.spec.templates]
    return sum(
        token_counts(getattr(prior.embedder, "tokenizer", None), prompts, _prior_max_length(prior), budget, already)
    )


def label_encoder_tokens(clf: Any, labels: Sequence[str], budget: int | None = None, already: int = 0) -> int:
    """Tokens a bi-encoder's label encoder reads for the labels it has not cached (each as its ``label_template``
    writes it); 0 for other architectures, whose labels are read with every text (``plan_windows`` counts them)."""
    config, engine = getattr(clf, "config", None), getattr(clf, "engine", None)
    if config is None or engine is None or not config.is_bi_encoder:
        return 0
    from ..config import max_positions

    missing = [label for label in dict.fromkeys(labels) if label not in engine.label_cache]
    window = max_positions(config.label_model_config) or engine.max_length
    strings = [config.label_input(label) for label in missing]
    return sum(token_counts(engine.label_tokenizer, strings, window, budget, already))


def label_prompt_tokens(encoder: Any, labels: Sequence[str], budget: int | None = None, already: int = 0) -> list[int]:
    """Per label, the tokens a shortlist retriever reads to embed it (``LabelIndex.build``)."""
    prior = getattr(encoder, "prior", None)
    if prior is not None:  # PriorRetriever: the prior's prompt vectors (every template)
        templates = prior.spec.templates
        prompts = [t.format(label) for label in labels for t in templates]
        flat = token_counts(
            getattr(prior.embedder, "tokenizer", None), prompts, _prior_max_length(prior), budget, already
        )
        return [sum(flat[i * len(templates) : (i + 1) * len(templates)]) for i in range(len(labels))]
    prompt = getattr(encoder, "label_prompt", "{}")
    return token_counts(
        getattr(encoder, "tokenizer", None),
        [prompt.format(label) for label in labels],
        int(getattr(encoder, "max_length", 64)),
        budget,
        already,
    )


def retrieval_tokens(
    clf: Any, encoder: Any, texts: Sequence[str], labels: Sequence[str] | None, budget: int | None = None
) -> int:
    """Tokens of shortlisting ``texts`` over ``labels`` (None: a registered set, whose vectors are kept)."""
    text_tokens = sum(token_counts(_tokenizer_of(encoder), texts, _max_length_of(encoder), budget))
    if labels is None:
        return text_tokens
    prior = getattr(encoder, "prior", None)
    if prior is not None:
        return text_tokens + prior_label_tokens(clf, labels, budget, text_tokens)
    cached = getattr(clf, "_label_indexes", {})
    if (getattr(encoder, "name", None), tuple(labels)) in cached or any(key[1] == tuple(labels) for key in cached):
        return text_tokens
    return text_tokens + sum(label_prompt_tokens(encoder, labels, budget, text_tokens))


def _tokenizer_of(encoder: Any) -> Any:
    prior = getattr(encoder, "prior", None)
    return getattr(prior.embedder, "tokenizer", None) if prior is not None else getattr(encoder, "tokenizer", None)


def _max_length_of(encoder: Any) -> int:
    prior = getattr(encoder, "prior", None)
    return _prior_max_length(prior) if prior is not None else int(getattr(encoder, "max_length", 64))


def _prior_max_length(prior: Any) -> int:
    return int(getattr(prior.embedder, "max_length", None) or prior.spec.max_length)


def plan_windows(clf: Any, request: Any, budget: int) -> list[int]:
    """Encoder tokens each text costs: every window of every label group (linear planning).

    Texts are planned in slices of 1, 2, 4, ... and planning stops as soon as the total is over ``budget``
    (``TooMuchWork``), so refusing a request costs about the budget's worth of planning, never the whole of a
    huge request. Raises ``ValueError`` for inputs that cannot be fitted (a prompt leaving no room), so such a
    request fails alone with a 422 before it is queued (after planning one text), instead of failing the
    merged batch it would join.
    """
    from ..processing import WindowPolicy

    policy = WindowPolicy(clf.max_length)
    work: list[int] = []
    start, size, n = 0, 1, len(request.texts)
    while start < n:
        items = range(start, min(n, start + size))
        for plan in clf.engine.plan(request, policy, items):
            work.append(sum(len(s.input_ids) + len(s.class_input_ids or ()) for s in plan.segments))
        if sum(work) > budget:
            raise TooMuchWork(sum(work), len(work), n)
        start, size = items.stop, size * 2
    return work


def plan_classify(clf: Any, request: Any, budget: int, passes: int = 1) -> list[int]:
    """Per text, every encoder token a classify request costs: the model's windows (``passes`` times under
    label-order averaging), the prior's embedding of the text, and (charged to the first text) the embeddings of
    labels not yet cached, by the prior and by a bi-encoder's label encoder (``serve.work``). Raises
    ``TooMuchWork`` over ``budget``."""
    try:
        work = [w * passes for w in plan_windows(clf, request, budget // passes)]
    except TooMuchWork as err:
        err.counted *= passes
        raise
    total = sum(work)
    work = [w + t for w, t in zip(work, prior_text_tokens(clf, request.texts, budget, total), strict=True)]
    labels = [label for text_labels in request.labels for label in text_labels]
    work[0] += prior_label_tokens(clf, labels, budget, sum(work))
    work[0] += label_encoder_tokens(clf, labels, budget, sum(work))
    return work


def plan_explanation(clf: Any, normalized: Any, body: Any, budget: int) -> int:
    """Encoder tokens of an explanation: every occluded variant through the model and the prior (a thread)."""
    from ..explanation import ExplainOptions, expand_request, plan_explanations
    from ..processing import WindowPolicy

    options = ExplainOptions(body.unit, body.max_units, body.chunk_tokens)
    plans = plan_explanations(clf.engine, normalized, WindowPolicy(clf.max_length), options)
    work = sum(plan.work for plan in plans)
    if work > budget:
        raise TooMuchWork(work, exact=True)
    expanded = expand_request(normalized, plans)
    work += sum(prior_text_tokens(clf, expanded.texts, budget, work))
    labels = [label for text_labels in normalized.labels for label in text_labels]
    work += prior_label_tokens(clf, labels, budget, work)
    return work + label_encoder_tokens(clf, labels, budget, work)
