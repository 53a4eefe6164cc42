"""``POST /v1/hf/zero-shot-classification``: the Hugging Face Inference API's zero-shot body and answer.

Clients written for the Hugging Face Inference API (``huggingface_hub.InferenceClient.zero_shot_classification``,
plain ``requests.post(URL, json={"inputs": ..., "parameters": {...}})`` scripts) work unchanged against uniclass
when pointed at this route. The body is the API's::

    {"inputs": "text", "parameters": {"candidate_labels": ["refund", "legal"], "multi_label": false}}

and the answer is the API's: every candidate with its score, highest first,
``[{"label": "refund", "score": 0.87}, ...]`` (a list of those, one per text, when ``inputs`` is a list).
``multi_label=false`` (the API's default) gives a softmax over the candidates; ``true``, or a single candidate,
one sigmoid per label, as in the transformers pipeline. ``hypothesis_template`` is accepted and not used: GLiClass
reads bare label names.

The request goes through ``/v1/classify``'s path (``app.classify_body``): the same API key (``Authorization:
Bearer KEY``, which is how ``InferenceClient(token=KEY)`` sends it), limits, work budget and fair queue.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .turn import security_dependencies

ROUTE = "/v1/hf/zero-shot-classification"


class ZeroShotParameters(BaseModel):
    """The ``parameters`` object of the Inference API's zero-shot-classification task."""

    model_config = ConfigDict(extra="forbid", strict=True)
    candidate_labels: list[str] | str = Field(description="the labels, or one comma-separated string")
    multi_label: bool = Field(False, description="independent scores (sigmoid) instead of a softmax over the labels")
    hypothesis_template: str | None = Field(
        None, description="accepted for compatibility, not used (GLiClass reads bare label names)"
    )


class ZeroShotRequest(BaseModel):
    """The Inference API's body: ``inputs`` (a text, or a list of texts) and ``parameters``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: str | list[str]
    parameters: ZeroShotParameters
    options: dict[str, Any] | None = Field(
        None, description="the legacy API's options (use_cache, wait_for_model): accepted and ignored"
    )


class LabelScore(BaseModel):
    label: str
    score: float


def add_hf_inference_routes(app: FastAPI, api_key: str | None) -> None:
    """Register ``POST /v1/hf/zero-shot-classification`` on ``app`` (built by ``serve.app.create_app``)."""
    from .routes import classify_body
    from .schemas import ClassifyRequest, ErrorResponse

    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 503)}

    @app.post(
        ROUTE,
        response_model=list[LabelScore] | list[list[LabelScore]],
        responses=errors,
        dependencies=security_dependencies(api_key),
    )
    async def zero_shot_classification(body: ZeroShotRequest, request: Request) -> Response:
        """Hugging Face Inference API zero-shot classification: every candidate label with its score, best first."""
        from ..pipelines import parse_labels

        labels = parse_labels(body.parameters.candidate_labels)
        texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
        independent = body.parameters.multi_label or len(labels) == 1
        as_classify = ClassifyRequest(
            texts=texts, labels=labels, multi_label=independent, threshold=0.0, top_k=max(len(labels), 1)
        )
        results = await classify_body(app, as_classify, request)
        return JSONResponse(results[0] if isinstance(body.inputs, str) else results)
