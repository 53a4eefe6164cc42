"""Named label sets: ``PUT /v1/label-sets/{name}`` registers one (its labels embedded in slices through the fair
queue, within ``max_label_set_tokens``), ``GET /v1/label-sets`` lists them; classify requests name one with
``"label_set"`` and only its shortlist is scored."""

from __future__ import annotations

import functools
import re
from typing import Any

from fastapi import FastAPI, Request

from .batcher import Job
from .errors import ApiError, over_limit
from .limits import Limits
from .schemas import ErrorResponse
from .turn import Service, Turn
from .work import (
    TooMuchWork,
    label_prompt_tokens,
)


async def build_label_index(clf: Any, labels: list[str], name: str, turn: Turn) -> Any:
    """A label set's ``LabelIndex``: its work counted first (413 over ``max_label_set_tokens``), then its labels
    encoded in slices through the fair queue, so an upload takes turns with everyone else's requests."""
    import numpy as np

    from ..shortlist import LabelIndex

    limit = turn.limits.max_label_set_tokens
    try:  # the encoder is made on the planning thread too: the first one loads a model (seconds)
        encoder, costs = await turn.plan(_upload_plan, clf, labels, limit)
    except TooMuchWork as err:
        raise ApiError(
            413,
            "too_much_work",
            f"label set {name!r} needs {err.describe()} encoder tokens to embed its "
            f"labels; the limit for an upload is {limit}: send fewer or shorter labels, or register it at "
            "startup (uniclass serve --label-set NAME=FILE)",
            limit,
        ) from None
    job = Job(
        list(labels),
        [[] for _ in labels],
        True,
        0.5,
        work=sum(costs),
        text_work=list(costs),
        weight=turn.limits.upload_weight,  # a share of the client's turns: each slice is a model call of its own
        slices=functools.partial(_encode_labels, encoder, labels),
    )
    vectors = await turn.submit(job)
    return LabelIndex(labels, np.stack(vectors), encoder.name, encoder=encoder)


def _upload_plan(clf: Any, labels: list[str], limit: int) -> tuple[Any, list[int]]:
    """The retriever an upload is encoded with, and each label's tokens (``TooMuchWork`` over ``limit``)."""
    encoder = clf.label_encoder()
    return encoder, label_prompt_tokens(encoder, labels, limit)


def _encode_labels(encoder: Any, labels: list[str], start: int, stop: int) -> list[Any]:
    """Vectors of ``labels[start:stop]`` (one slice of an upload, on the model thread)."""
    return list(encoder.encode_labels(labels[start:stop]))


_LABEL_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_label_set(name: str, labels: Any, limits: Limits) -> list[str]:
    """A valid name and a flat list of at most ``max_label_set_labels`` labels of at most ``max_label_chars``."""
    if not isinstance(name, str) or not _LABEL_SET_NAME.fullmatch(name):
        raise ApiError(
            422,
            "invalid_input",
            "a label set name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ApiError(422, "invalid_input", "a label set is a JSON list of label strings")
    if len(labels) > limits.max_label_set_labels:
        raise over_limit("too_many_labels", f"label set {name!r} has {len(labels)} labels", limits.max_label_set_labels)
    for j, label in enumerate(labels):
        if len(label) > limits.max_label_chars:
            raise over_limit(
                "label_too_long", f"label set {name!r}: labels[{j}] has {len(label)} characters", limits.max_label_chars
            )
    from ..shortlist import check_labels

    try:
        return check_labels(labels)  # empty, duplicate, reserved markers: before anything is computed
    except (ValueError, TypeError) as err:
        raise ApiError(422, "invalid_input", f"label set {name!r}: {err}") from None


def describe(name: str, index: Any) -> dict[str, Any]:
    from ..shortlist import default_k

    return {"name": name, "labels": len(index), "k": index.k or default_k(len(index)), "retriever": index.retriever}


def register(app: FastAPI, service: Service) -> None:
    """``PUT /v1/label-sets/{name}`` and ``GET /v1/label-sets`` (the sets live in ``app.state.label_sets``)."""
    clf, limits = service.clf, service.limits
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 503)}

    @app.put("/v1/label-sets/{name}", responses=errors, dependencies=service.security())
    async def put_label_set(name: str, labels: list[str], request: Request) -> dict[str, Any]:
        """Register (or replace) a named label set; its retriever vectors are computed now, in slices through the
        fair queue (an upload shares the model like any request), within ``max_label_set_tokens`` of work."""
        turn = Turn(service.batcher, service.planner, request, limits)
        checked = check_label_set(name, labels, limits)
        if name not in app.state.label_sets and len(app.state.label_sets) >= limits.max_label_sets:
            registered = len(app.state.label_sets)
            raise over_limit("too_many_label_sets", f"{registered} label sets are registered", limits.max_label_sets)
        index = await build_label_index(clf, checked, name, turn)
        app.state.label_sets[name] = index
        return describe(name, index)

    @app.get("/v1/label-sets", dependencies=service.security())
    async def list_label_sets() -> dict[str, Any]:
        """The registered label sets: name, size and the k that shortlist='auto' uses."""
        return {"label_sets": [describe(n, index) for n, index in app.state.label_sets.items()]}
