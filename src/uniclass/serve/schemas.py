"""Request and response bodies of the HTTP API (pydantic models; strict types: ``"0.5"`` is not a number)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..explanation import DEFAULT_CHUNK_TOKENS, DEFAULT_MAX_UNITS, MAX_UNITS_LIMIT


class FewShotExample(BaseModel):
    """A labelled example shown to the model before the text (few-shot, official layout).

    The keys of the Python API's examples: ``labels`` or ``true_labels`` (``labels`` wins when both are sent),
    ``[]`` for an example that no label fits. Both are optional here so that a missing one is refused by the
    classifier's own check, with its message naming the example (``examples[0] has no 'labels' ...``).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str
    labels: list[str] | None = Field(None, description="the example's labels ([]: none of the labels fits)")
    true_labels: list[str] | None = Field(None, description="the same as labels (the training files' key)")

    def as_sent(self) -> dict[str, Any]:
        """The keys the client sent, for ``classify``'s checks: ``{"text": "x"}`` stays without labels."""
        return self.model_dump(exclude_unset=True)

    def characters(self) -> int:
        """Characters of the text and of every label sent (both keys count: the server reads them all)."""
        return len(self.text) + sum(len(label) for label in (self.labels or []) + (self.true_labels or []))


class ClassifyRequest(BaseModel):
    """Arguments of ``Classifier.classify`` for a list of texts. Strict types: ``"0.5"`` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(description="texts to classify")
    labels: list[str] | list[list[str]] | dict[str, Any] | None = Field(
        None,
        description="labels shared by all texts, or one label list per text, or a label tree shared by all "
        'texts: a JSON object mapping parents to children ({"product": ["battery", "screen"], "news": '
        "null}; null: a label without children), scored as its 'parent.child' labels (or give label_set)",
    )
    label_set: str | None = Field(None, description="name of a label set registered with PUT /v1/label-sets/{name}")
    shortlist: int | Literal["auto"] | None = Field(
        None,
        description="score only the k labels nearest each text ('auto': the label set's k); default with "
        "label_set: 'auto'",
    )
    multi_label: bool = Field(True, description="sigmoid per label (True) or softmax over the labels (False)")
    threshold: float | dict[str, float] | None = Field(
        None, description="multi-label threshold, or per label; default: the model's fitted thresholds, else 0.5"
    )
    top_k: int | None = Field(None, description="keep at most K labels per text")
    prompt: str | None = Field(None, description="task description placed before each text")
    examples: list[FewShotExample] | None = Field(None, description="few-shot examples shown with every text")
    abstain: float | None = Field(
        None, description="score floor: no label below it is returned, in either mode; [] means 'none of these'"
    )
    groups: list[list[str]] | None = Field(
        None, description="exclusive label groups: exactly one label of each, the best"
    )
    min_labels: int = Field(0, description="return at least this many labels per text (never below abstain)")
    max_labels: int | None = Field(None, description="return at most this many labels per text")
    hierarchy: bool = Field(
        False,
        description="with tree labels: a returned child brings its parents, each scored "
        "with the best score below it (so never below a child)",
    )
    as_tree: bool = Field(
        False,
        description="with tree labels: answer per text a tree {name: {score, children}} "
        "instead of a list (implies hierarchy)",
    )
    label_order: Literal["given", "stable", "positions", "permutations"] = Field(
        "given", description="'stable': scores that do not depend on the order of the labels"
    )
    permutations: int | None = Field(None, description="orders averaged with label_order 'permutations' (default 4)")
    adapter: str | list[str | None] | None = Field(
        None,
        description="a loaded LoRA adapter for every text, or one per text (null: the base model); GET /v1/adapters",
    )


class LabelScore(BaseModel):
    label: str
    score: float
    initial_score: float | None = Field(
        None, description="models with a learned calibrator only: the score before it (as the official pipeline)"
    )


class TreeNode(BaseModel):
    score: float
    children: dict[str, TreeNode] | None = Field(None, description="absent for a label without children")


class ClassifyResponse(BaseModel):
    results: list[list[LabelScore]] | list[dict[str, TreeNode]] = Field(
        description="per text, its labels sorted by score, highest first (as_tree: the kept labels as a tree)"
    )


class ExplainRequest(BaseModel):
    """Arguments of ``Classifier.explain``: which units of each text moved each label's score (occlusion)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(description="texts to explain")
    labels: list[str] | list[list[str]] = Field(description="labels shared by all texts, or one label list per text")
    multi_label: bool = Field(True, description="sigmoid per label (True) or softmax over the labels (False)")
    unit: Literal["sentence", "chunk"] = Field(
        "sentence",
        description="sentences (a regex splitter), or runs of about chunk_tokens tokens (texts without punctuation)",
    )
    max_units: int = Field(
        DEFAULT_MAX_UNITS,
        ge=1,
        le=MAX_UNITS_LIMIT,
        description="at most this many units per text: more sentences or chunks are grouped into runs",
    )
    chunk_tokens: int = Field(DEFAULT_CHUNK_TOKENS, ge=1, le=4096, description="tokens per chunk (unit='chunk')")
    prompt: str | None = Field(None, description="task description placed before each text")
    examples: list[FewShotExample] | None = Field(None, description="few-shot examples shown with every text")


class ExplainedUnit(BaseModel):
    text: str
    start: int = Field(description="first character of the unit in the text (Unicode code points)")
    end: int = Field(description="one past its last character")


class LabelEffect(BaseModel):
    label: str
    score: float = Field(description="the label's score for the whole text")
    deltas: list[float] = Field(
        description="per unit: score(text) - score(text without the unit); > 0 raises the score"
    )


class ExplanationBody(BaseModel):
    text: str
    multi_label: bool
    unit: str
    seen_chars: int = Field(description="characters the model reads (less than the text when it was truncated)")
    pieces: int = Field(description="sentences or chunks found; more than len(units) when runs were grouped")
    units: list[ExplainedUnit]
    labels: list[LabelEffect]


class ExplainResponse(BaseModel):
    results: list[ExplanationBody] = Field(description="one explanation per text, in order")


class ErrorDetail(BaseModel):
    code: str
    message: str
    limit: float | None = None
    fields: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
