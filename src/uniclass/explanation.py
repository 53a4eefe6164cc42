"""Explanations by occlusion: which sentences (or token chunks) of a text moved each label's score.

A text is cut into units (sentences, or chunks of about ``chunk_tokens`` tokens); each unit is removed in
turn and the text is scored again. The delta of a unit is ``score(full text) - score(text without it)``:
positive when the unit raises the label's score, negative when it lowers it. Occlusion needs nothing from the
model but scores, so it works on every backend (torch, ONNX Runtime) and every family (uni-encoders,
bi-encoders, encoder-decoders), and all occluded variants of all texts go through one batched scoring call.

Limits, on purpose:

* at most ``max_units`` units per text (default 32): when a text has more sentences (or chunks), consecutive
  ones are grouped into ``max_units`` near-equal runs (``Explanation.pieces`` says how many there were), so
  the cost stays at most ``max_units + 1`` scored texts per text;
* a text cut to fit the window (``long_text="truncate"``) is explained only over the part the model reads
  (``Explanation.seen_chars``): units after it cannot move the score, so they are neither listed nor scored.
  Removing a unit lets some of the unread text into the window; ``long_text="chunk"`` avoids that;
* a one-unit text is compared with the empty text (its delta is the score it owes to the whole text).

This module plans (units, variants, cost) with the engine's tokenizer and input builder; the scoring itself is a
callable from the caller (``Classifier.explain`` passes its ``predict``), so the same calibration, window and
batching options apply as to ``classify``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .processing import Request, WindowPolicy

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine, Prediction

UNITS = ("sentence", "chunk")
DEFAULT_MAX_UNITS = 32
MAX_UNITS_LIMIT = 512
DEFAULT_CHUNK_TOKENS = 24

# A sentence ends at ., !, ?, … (repeated, e.g. "?!"), optionally followed by closing quotes or brackets, when
# whitespace or the end of the text follows; a line break always ends one. No language model, no new dependency:
# "3.5" and "example.com" do not split (no whitespace after the dot), and a dot after a known abbreviation or a
# single capital letter (an initial, "J. Smith") does not end a sentence.
SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*(?=\s|$)|\n")
_NO_END = re.compile(r"(?<![\w.])(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|e\.g|i\.e|cf|approx|No|Fig)\.$")

Unit = tuple[int, int]  # a character span [start, end) of the original text


@dataclass
class ExplainedUnit:
    """One unit of the text: its characters ``text[start:end]`` (Python string indices, i.e. code points)."""

    text: str
    start: int
    end: int


@dataclass
class Explanation:
    """What each unit of one text did to each label's score.

    Attributes:
        text: the text explained.
        labels: its labels, in the order given; ``scores``: the full text's score for each.
        units: the units, in text order (whitespace between them is not part of any unit).
        deltas: per label (same order as ``labels``), per unit: ``score(full) - score(without the unit)``;
            > 0: the unit raises the score, < 0: it lowers it.
        multi_label: sigmoid scores (True) or a softmax over the labels (False, deltas then sum to 0 over labels).
        unit: ``"sentence"`` or ``"chunk"``.
        seen_chars: characters of the text the model reads (``len(text)`` unless it was truncated).
        pieces: sentences or chunks found in that part; more than ``len(units)`` when runs of them were
            grouped to respect ``max_units``.
    """

    text: str
    labels: list[str]
    scores: list[float]
    units: list[ExplainedUnit]
    deltas: list[list[float]]
    multi_label: bool
    unit: str
    seen_chars: int
    pieces: int

    def delta(self, label: str) -> list[float]:
        """The deltas of one label, one per unit."""
        return self.deltas[self.labels.index(label)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (what the server and the command line answer)."""
        return {
            "text": self.text,
            "multi_label": self.multi_label,
            "unit": self.unit,
            "seen_chars": self.seen_chars,
            "pieces": self.pieces,
            "units": [{"text": u.text, "start": u.start, "end": u.end} for u in self.units],
            "labels": [
                {"label": label, "score": score, "deltas": deltas}
                for label, score, deltas in zip(self.labels, self.scores, self.deltas, strict=True)
            ],
        }


@dataclass
class ExplainPlan:
    """One text's units, the occluded variants to score, and what scoring the full text costs."""

    units: list[Unit]
    variants: list[str]
    seen_chars: int
    pieces: int
    window_tokens: int = 0  # encoder tokens of the full text's windows (an upper bound for each variant's)

    @property
    def work(self) -> int:
        """Encoder tokens of the full text and every variant (each variant is shorter than the text)."""
        return (len(self.variants) + 1) * self.window_tokens


@dataclass
class ExplainOptions:
    """How texts are cut into units; checked once (``check``)."""

    unit: str = "sentence"
    max_units: int = DEFAULT_MAX_UNITS
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS

    def check(self) -> ExplainOptions:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be 'sentence' or 'chunk', got {self.unit!r}")
        for name in ("max_units", "chunk_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.max_units > MAX_UNITS_LIMIT:
            raise ValueError(
                f"max_units must be at most {MAX_UNITS_LIMIT} (each unit costs one scored text), got {self.max_units}"
            )
        return self


# ====================================================================== units
def split_sentences(text: str, seen: int | None = None) -> list[Unit]:
    """Sentence spans (see ``SENTENCE_END``), stripped of surrounding whitespace, never empty; with ``seen``,
    only those starting before that character (the last one is kept whole)."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if match.group() == "." and _NO_END.search(text, max(match.start() - 8, 0), match.end()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    units = [span for span in (_strip(text, s, e) for s, e in spans) if span is not None]
    return units if seen is None else [u for u in units if u[0] < seen]


def split_chunks(offsets: Sequence[tuple[int, int]], size: int) -> list[Unit]:
    """Spans of runs of about ``size`` tokens (``offsets``: the text's token spans); a word is never cut:
    a run ends only where the next token starts a new word (after whitespace)."""
    spans: list[Unit] = []
    tokens = [(s, e) for s, e in offsets if e > s]
    start, count = None, 0
    for i, (s, e) in enumerate(tokens):
        if start is None:
            start, count = s, 0
        count += 1
        next_starts_word = i + 1 == len(tokens) or tokens[i + 1][0] > e
        if count >= size and next_starts_word:
            spans.append((start, e))
            start = None
    if start is not None:
        spans.append((start, tokens[-1][1]))
    return spans


def group_units(units: list[Unit], max_units: int) -> list[Unit]:
    """At most ``max_units`` spans: consecutive units merged into near-equal runs (earlier runs larger)."""
    if len(units) <= max_units:
        return units
    size, extra = divmod(len(units), max_units)
    out, start = [], 0
    for g in range(max_units):
        stop = start + size + (g < extra)
        out.append((units[start][0], units[stop - 1][1]))
        start = stop
    return out


def occlude(text: str, span: Unit) -> str:
    """``text`` without the span and the whitespace after it (so no double spaces are left behind)."""
    start, end = span
    while end < len(text) and text[end].isspace():
        end += 1
    return text[:start] + text[end:]


def _strip(text: str, start: int, end: int) -> Unit | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


# ====================================================================== plan, expand, assemble
def plan_explanations(
    engine: Engine, request: Request, policy: WindowPolicy, options: ExplainOptions
) -> list[ExplainPlan]:
    """Units and occluded variants of every text (tokenisation only, no model call).

    The full texts are planned as ``classify`` would plan them, to find the part of each text the model reads
    and what one pass over it costs; units are looked for in that part only.
    """
    options.check()
    item_plans = engine.plan(request, policy)
    need_offsets = options.unit == "chunk" or any(p.truncated for p in item_plans)
    offsets = _token_offsets(engine.tokenizer, request.texts) if need_offsets else [[] for _ in request.texts]
    out = []
    for text, item, spans in zip(request.texts, item_plans, offsets, strict=True):
        seen = len(text)
        if item.truncated and policy.long_text == "truncate":
            used = [e for s, e in spans if e > s][: item.text_tokens_used]
            seen = used[-1] if used else 0
        if options.unit == "sentence":
            pieces = split_sentences(text, seen)
        else:
            read = [(s, e) for s, e in spans if e > s and s < seen]
            size = max(options.chunk_tokens, math.ceil(len(read) / options.max_units))
            pieces = split_chunks(read, size)
        units = group_units(pieces, options.max_units)
        tokens = sum(len(s.input_ids) + len(s.class_input_ids or ()) for s in item.segments)
        out.append(ExplainPlan(units, [occlude(text, u) for u in units], seen, len(pieces), tokens))
    return out


def expand_request(request: Request, plans: Sequence[ExplainPlan]) -> Request:
    """One request scoring every text followed by its variants, each with the text's labels and options."""
    owner = [i for i, plan in enumerate(plans) for _ in range(len(plan.variants) + 1)]
    texts = [t for text, plan in zip(request.texts, plans, strict=True) for t in (text, *plan.variants)]
    return replace(
        request,
        texts=texts,
        labels=[request.labels[i] for i in owner],
        prompts=[request.prompts[i] for i in owner],
        examples=[request.examples[i] for i in owner],
        multi_label=[request.multi_label[i] for i in owner],
        label_trees=None,
        single_text=False,
    )


def assemble(
    request: Request, plans: Sequence[ExplainPlan], predictions: Sequence[Prediction], unit: str
) -> list[Explanation]:
    """Deltas from the predictions of ``expand_request`` (in its order)."""
    out, at = [], 0
    for text, plan in zip(request.texts, plans, strict=True):
        full, variants = predictions[at], predictions[at + 1 : at + 1 + len(plan.variants)]
        at += 1 + len(plan.variants)
        deltas = [[full.scores[j] - v.scores[j] for v in variants] for j in range(len(full.labels))]
        units = [ExplainedUnit(text[s:e], s, e) for s, e in plan.units]
        out.append(
            Explanation(
                text,
                list(full.labels),
                list(full.scores),
                units,
                deltas,
                full.multi_label,
                unit,
                plan.seen_chars,
                plan.pieces,
            )
        )
    return out


def explain(
    engine: Engine,
    request: Request,
    policy: WindowPolicy,
    options: ExplainOptions,
    score: Callable[[Request], list[Prediction]],
) -> list[Explanation]:
    """Plan the units, score every text and its variants in one call of ``score``, and take the differences."""
    plans = plan_explanations(engine, request, policy, options)
    predictions = score(expand_request(request, plans))
    return assemble(request, plans, predictions, options.unit)


def _token_offsets(tokenizer: Any, texts: list[str]) -> list[list[tuple[int, int]]]:
    """Character spans of each text's tokens, tokenised alone (as the text part of the model input)."""
    if not texts:
        return []
    batch = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    return [[(int(s), int(e)) for s, e in row] for row in batch["offset_mapping"]]
