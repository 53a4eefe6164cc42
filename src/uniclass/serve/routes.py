"""The classification routes: ``POST /v1/classify`` answers ``{"results": ...}`` exactly as ``Classifier.classify``
would for the same list of texts (concurrent requests are merged into shared model calls by ``MicroBatcher``);
``POST /v1/explain`` answers ``Classifier.explain`` under the same limits, queue and work budget; ``/healthz``,
``/metrics`` (Prometheus) and the demo page ``/`` stay open when an API key is set.

Every request is checked against the limits and validated exactly as ``classify`` would validate it, its work
counted (``serve.work``) on the planning executor, and only then queued, so a bad or oversized request fails
alone (422/413) before any model work instead of failing the batch it would have joined.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import __version__
from .adapters import request_adapters
from .batcher import Job
from .errors import ApiError, over_limit
from .label_sets import build_label_index
from .limits import Limits
from .middleware import Guard
from .schemas import (
    ClassifyRequest,
    ClassifyResponse,
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
)
from .turn import Service, Turn
from .work import TooMuchWork, plan_classify, plan_explanation, retrieval_tokens

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier


def register(app: FastAPI, service: Service) -> None:
    """``POST /v1/classify``, ``POST /v1/explain``, ``GET /healthz``, ``GET /metrics`` and the demo page ``/``."""
    clf, name, limits, metrics, batcher, planner = (
        service.clf,
        service.name,
        service.limits,
        service.metrics,
        service.batcher,
        service.planner,
    )
    api_key, batch_size = service.api_key, service.batch_size
    page = resources.files("uniclass.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 503, 504)
    }

    @app.post("/v1/classify", response_model=ClassifyResponse, responses=errors, dependencies=service.security())
    async def classify(body: ClassifyRequest, request: Request) -> Response:
        """Classify texts; concurrent requests are merged into shared model calls."""
        return JSONResponse({"results": await classify_body(app, body, request)})

    @app.post("/v1/explain", response_model=ExplainResponse, responses=errors, dependencies=service.security())
    async def explain(body: ExplainRequest, request: Request) -> Response:
        """Which sentences (or token chunks) of each text raised or lowered each label's score.

        Occlusion: each unit is removed in turn and the text scored again, so a text costs its units + 1
        scorings (all counted against the work budget, ``max_work_tokens``). Same limits and errors as
        ``/v1/classify``; the answer is ``Classifier.explain(...).to_dict()`` per text.
        """
        turn = Turn(batcher, planner, request, limits)
        as_classify = ClassifyRequest(
            texts=body.texts,
            labels=body.labels,
            multi_label=body.multi_label,
            prompt=body.prompt,
            examples=body.examples,
        )
        _, normalized = _prepare_job(as_classify, limits, 0.5)  # the same limits and validation as classify
        if not body.texts:
            return JSONResponse({"results": []})
        try:
            work = await turn.plan(plan_explanation, clf, normalized, body, limits.max_work_tokens)
        except TooMuchWork as err:
            raise ApiError(
                413,
                "too_much_work",
                f"explaining this request needs {err.describe()} encoder tokens (each "
                "text is scored whole and once without each of its units, by the model and its prior); the "
                f"limit is {limits.max_work_tokens}: send fewer or shorter texts, or a smaller max_units",
                limits.max_work_tokens,
            ) from None
        examples = [e.as_sent() for e in body.examples] if body.examples else None
        call = functools.partial(_explain_texts, clf, body, examples, batch_size)
        # one unit of the fair queue (never sliced), costing every occluded variant's tokens, charged to this client
        job = Job(["explain"], [[]], body.multi_label, 0.5, work=work, call=call)
        return JSONResponse({"results": await turn.submit(job)})

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness and what is being served; never needs the API key (the model's name, a path perhaps, does)."""
        shown = api_key is None or Guard.authorized(request.headers, api_key)
        return {
            "status": "ok",
            **({"model": name} if shown else {}),
            "architecture": clf.config.architecture_type,
            "max_length": clf.max_length,
            "device": str(clf.device),
            "uniclass": __version__,
            "auth": api_key is not None,
            "limits": dataclasses.asdict(limits),
            "queue_texts": batcher.pending_texts,
            "queue_tokens": batcher.pending_work,
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        metrics.queue_texts.set(batcher.pending_texts)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)


async def classify_body(app: FastAPI, body: ClassifyRequest, request: Request) -> list[Any]:
    """What ``POST /v1/classify`` answers for ``body`` (its ``results``): limits, planning, the shared queue.

    Routes that speak another API (``hf_inference``) build a ``ClassifyRequest`` and come through here, so they
    get the same limits, work budget, fair queue and errors.
    """
    service: Service = app.state.service
    clf, limits = service.clf, service.limits
    turn = Turn(service.batcher, service.planner, request, limits)
    labels, retrieval = await _resolve_labels(body, app.state.label_sets, clf, limits, turn)
    job, normalized = _prepare_job(body, limits, _default_threshold(clf), labels)
    _check_threshold_labels(body, app.state.label_sets)
    job.adapters = request_adapters(body.adapter, len(body.texts), clf)
    if not job.texts:
        return []
    passes = _passes(clf, job.options)  # label_order permutations: every window runs that many times
    try:
        job.text_work = await turn.plan(plan_classify, clf, normalized, limits.max_work_tokens - retrieval, passes)
    except TooMuchWork as err:
        err.counted += retrieval
        raise ApiError(
            413,
            "too_much_work",
            f"this request needs {err.describe()} encoder tokens (texts x label "
            "groups x window, the prior's text and new label embeddings, shortlisting); the limit is "
            f"{limits.max_work_tokens}: send fewer texts or labels, or shorter ones",
            limits.max_work_tokens,
        ) from None
    job.work = sum(job.text_work)
    return await turn.submit(job)


def _check_threshold_labels(body: ClassifyRequest, label_sets: dict[str, Any]) -> None:
    """A per-label threshold for a label the request does not have can never apply (usually a typo). ``classify``
    warns; a client never sees the server's warnings, so here it is a 422 naming the labels."""
    from ..postprocessing import unknown_threshold_labels
    from ..processing import flatten_label_tree

    if not isinstance(body.threshold, dict):
        return
    if body.label_set is not None:  # the whole set: a shortlist scores only some of it per text
        index = label_sets.get(body.label_set)
        if index is None:
            return
        known = set(index.labels)
    elif isinstance(body.labels, dict):
        known = set(flatten_label_tree(body.labels))
    else:
        known = {label for entry in body.labels or [] for label in ([entry] if isinstance(entry, str) else entry)}
    unknown = unknown_threshold_labels([body.threshold], known)
    if unknown:
        named = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ApiError(422, "invalid_input", f"threshold names labels that are not among the labels: {named}")


def _explain_texts(clf: Any, body: ExplainRequest, examples: list[dict[str, Any]] | None, batch_size: int) -> list[Any]:
    """The explanations of one request as JSON (runs on the batcher's worker thread)."""
    explanations = clf.explain(
        list(body.texts),
        body.labels,
        unit=body.unit,
        max_units=body.max_units,
        chunk_tokens=body.chunk_tokens,
        multi_label=body.multi_label,
        prompt=body.prompt,
        examples=examples,
        batch_size=batch_size,
        show_progress=False,
    )
    return [e.to_dict() for e in explanations]


def _default_threshold(clf: Classifier) -> float | dict[str, float]:
    """What ``classify`` uses for ``threshold=None``: fitted per-label thresholds, else 0.5 (resolved once,
    because merged calls pass one threshold per text and cannot carry ``None``)."""
    from ..postprocessing import resolve_threshold

    return resolve_threshold(None, clf.calibration)


def _passes(clf: Any, options: dict[str, Any]) -> int:
    """How many times each window runs: ``permutations`` under label_order averaging, else once."""
    from ..label_order import resolve_label_order

    try:
        order = resolve_label_order(
            options.get("label_order", "given"), options.get("permutations"), clf.config, clf.backend.name
        )
    except ValueError as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    return order.permutations if order.mode == "permutations" else 1


async def _resolve_labels(
    body: ClassifyRequest, label_sets: dict[str, Any], clf: Any, limits: Limits, turn: Turn
) -> tuple[Any, int]:
    """The labels of the request (as sent, or per text the shortlist of a label list or a registered label set),
    and the encoder tokens shortlisting cost.

    With a shortlist the model scores ``k`` labels per text, so the request's scoring is planned (and limited by
    ``max_labels`` and the work budget) on those ``k``, not on the whole set. Shortlisting itself (embedding the
    texts, and the labels of a list whose vectors are not cached) is counted and checked against the budget
    before it runs, and runs as one turn of the fair queue charged to the client.
    """
    if (body.labels is None) == (body.label_set is None):  # reported like a schema error, at the field
        missing = body.labels is None
        raise RequestValidationError(
            [
                {
                    "type": "missing" if missing else "value_error",
                    "loc": ("body", "labels" if missing else "label_set"),
                    "msg": "Field required (or give label_set)" if missing else "give labels or label_set, not both",
                    "input": None,
                }
            ]
        )
    if body.label_set is None:
        if body.shortlist is None:
            return body.labels, 0
        if body.labels is None:  # not reached (exactly one of the two is given, checked above): narrows the type
            raise ApiError(422, "invalid_input", "give labels or label_set")
        if isinstance(body.labels, dict) or (body.labels and isinstance(body.labels[0], list)):
            raise ApiError(422, "invalid_input", "shortlist needs one flat label list shared by all texts (not a tree)")
        if len(body.labels) > limits.max_labels:  # larger sets are registered once (their vectors are kept)
            raise ApiError(
                422,
                "too_many_labels",
                f"labels has {len(body.labels)} labels; the limit is "
                f"{limits.max_labels} (register larger sets with PUT /v1/label-sets/{{name}})",
                limits.max_labels,
            )
        source: Any = body.labels
    else:
        source = label_sets.get(body.label_set)
        if source is None:
            raise ApiError(
                404,
                "unknown_label_set",
                f"no label set named {body.label_set!r} is registered "
                "(PUT /v1/label-sets/{name} with a JSON list of labels)",
            )
    k = "auto" if body.shortlist is None else body.shortlist
    if k != "auto" and (isinstance(k, bool) or k < 1):
        raise ApiError(422, "invalid_input", f"shortlist must be an int >= 1 or 'auto', got {k!r}")
    if k != "auto" and k > limits.max_labels:
        raise over_limit("too_many_labels", f"shortlist={k} labels per text", limits.max_labels)
    if not body.texts:
        return list(getattr(source, "labels", source))[:1], 0  # nothing to shortlist; validated as a plain list
    if len(body.texts) > limits.max_texts:
        raise over_limit("too_many_texts", f"{len(body.texts)} texts in one request", limits.max_texts)
    registered = not isinstance(source, list)
    if not registered:
        source = _checked_labels(source)
    try:
        work, text_work = await turn.plan(
            _retrieval_plan,
            clf,
            source if registered else None,
            list(body.texts),
            None if registered else source,
            limits.max_work_tokens,
        )
    except TooMuchWork as err:
        raise ApiError(
            413,
            "too_much_work",
            f"shortlisting this request needs {err.describe()} encoder tokens (its "
            f"texts, and labels not yet embedded); the limit is {limits.max_work_tokens}: send fewer texts "
            "or labels, or register the labels once with PUT /v1/label-sets/{name}",
            limits.max_work_tokens,
        ) from None
    if not registered:  # the labels' vectors first, in slices through the fair queue (as an upload's are)
        source = await build_label_index(clf, source, "labels", turn)
    call = functools.partial(_shortlist, clf, list(body.texts), source, k)
    labels = (await turn.submit(Job(["shortlist"], [[]], True, 0.5, work=text_work, call=call)))[0]
    return labels, work


def _checked_labels(labels: list[str]) -> list[str]:
    """A shortlist's label list as ``LabelIndex`` takes it (no empty or duplicate labels), or a 422."""
    from ..shortlist import check_labels

    try:
        return check_labels(labels)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", f"labels: {err}") from None


def _retrieval_plan(clf: Any, index: Any, texts: list[str], labels: list[str] | None, budget: int) -> tuple[int, int]:
    """Encoder tokens of shortlisting (``serve.work.retrieval_tokens``) in all and for the texts alone, on a
    planning thread: making the retriever may load a model the first time."""
    encoder = (getattr(index, "encoder", None) if index is not None else None) or clf.label_encoder()
    return retrieval_tokens(clf, encoder, texts, labels, budget), retrieval_tokens(clf, encoder, texts, None)


def _shortlist(clf: Any, texts: list[str], source: Any, k: int | str) -> list[Any]:
    """Per text its shortlisted labels, as the one result of a fair-queue job (runs on the model thread)."""
    return [clf.shortlist_labels(texts, source, k)[0]]


def _prepare_job(
    body: ClassifyRequest, limits: Limits, default_threshold: float | dict[str, float], labels: Any = None
) -> tuple[Job, Any]:
    """Check the limits, then validate exactly as ``classify`` would, so a bad request fails alone (422)
    instead of failing the batch it would have joined. ``labels``: the resolved labels (``_resolve_labels``)."""
    labels = body.labels if labels is None else labels
    from ..postprocessing import check_top_k, normalize_thresholds
    from ..processing import normalize_request

    texts = body.texts
    if len(texts) > limits.max_texts:
        raise over_limit("too_many_texts", f"{len(texts)} texts in one request", limits.max_texts)
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise over_limit("text_too_long", f"texts[{i}] has {len(text)} characters", limits.max_chars)
    tree = labels if isinstance(labels, dict) else None
    flat = _flat_tree(tree) if tree is not None else labels  # the limits count a tree's 'parent.child' labels
    per_text = bool(flat) and isinstance(flat[0], list)
    for i, text_labels in enumerate(flat if per_text else [flat]):
        if len(text_labels) > limits.max_labels:
            where = f"labels[{i}]" if per_text else "labels"
            raise over_limit("too_many_labels", f"{where} has {len(text_labels)} labels", limits.max_labels)
        for j, label in enumerate(text_labels):
            if len(label) > limits.max_label_chars:
                where = f"labels[{i}][{j}]" if per_text else f"labels[{j}]"
                raise over_limit("label_too_long", f"{where} has {len(label)} characters", limits.max_label_chars)
    _check_extras(body, limits)
    examples = [e.as_sent() for e in body.examples] if body.examples else None
    threshold = default_threshold if body.threshold is None else body.threshold
    try:
        request = normalize_request(texts, labels, multi_label=body.multi_label, prompt=body.prompt, examples=examples)
        normalize_thresholds(threshold, len(texts))
        check_top_k(body.top_k)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    options = _call_options(body, request)
    # a tree travels with each of its texts, so merged calls with other trees (or flat labels) stay per-text correct
    job_labels = [tree] * len(texts) if tree is not None else request.labels
    job = Job(list(texts), job_labels, body.multi_label, threshold, body.top_k, body.prompt, examples, options=options)
    return job, request


MAX_TREE_DEPTH = 16


def _flat_tree(tree: dict[str, Any]) -> list[str]:
    """A request's label tree as its flat labels, after checking its depth without recursion (so a deeply nested
    body is a 422, never a RecursionError); a wrong shape (a number, a list of lists) is a 422 naming the fault."""
    from ..processing import flatten_label_tree

    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ApiError(
                422, "invalid_input", f"the label tree is more than {MAX_TREE_DEPTH} levels deep", MAX_TREE_DEPTH
            )
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    try:
        return flatten_label_tree(tree)
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", f"labels: {err}") from None


def _call_options(body: ClassifyRequest, request: Any) -> dict[str, Any]:
    """The structured-decision and label-order keywords of the request (only those set), validated now."""
    from ..decisions import check_rules_against, make_rules
    from ..label_order import check_label_order

    options: dict[str, Any] = {}
    for name in ("abstain", "groups", "max_labels", "permutations"):
        if getattr(body, name) is not None:
            options[name] = getattr(body, name)
    if body.min_labels:
        options["min_labels"] = body.min_labels
    if body.label_order != "given":
        options["label_order"] = body.label_order
    if body.hierarchy or body.as_tree:
        options["hierarchy"] = True
    if body.as_tree:
        options["as_tree"] = True
    try:
        check_label_order(body.label_order, body.permutations)
        rules = make_rules(**{k: v for k, v in options.items() if k not in ("label_order", "permutations", "as_tree")})
        for i, labels in enumerate(request.labels):
            tree = request.label_trees[i] if request.label_trees else None
            check_rules_against(rules, labels, tree, "labels" if len(request.labels) == 1 else f"labels of texts[{i}]")
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", str(err)) from None
    return options


def _check_extras(body: ClassifyRequest, limits: Limits) -> None:
    """Limits on what is sent with every text: prompt, few-shot examples, threshold dict."""
    if body.prompt is not None and len(body.prompt) > limits.max_prompt_chars:
        raise over_limit("prompt_too_long", f"prompt has {len(body.prompt)} characters", limits.max_prompt_chars)
    examples = body.examples or []
    if len(examples) > limits.max_examples:
        raise over_limit("too_many_examples", f"{len(examples)} examples", limits.max_examples)
    for i, example in enumerate(examples):
        size = example.characters()
        if size > limits.max_example_chars:
            raise over_limit("example_too_long", f"examples[{i}] has {size} characters", limits.max_example_chars)
    if isinstance(body.threshold, dict):
        size = len(body.threshold)
        if size > limits.max_threshold_labels:
            raise over_limit("too_many_thresholds", f"threshold has {size} labels", limits.max_threshold_labels)
