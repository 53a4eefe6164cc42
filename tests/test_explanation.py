"""Explanations by occlusion (``uniclass.explanation``, ``Classifier.explain``): units, deltas, edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PARITY
from uniclass.explanation import (
    ExplainOptions,
    group_units,
    occlude,
    split_chunks,
    split_sentences,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = ["sports", "finance"]
TEXT = "The striker scored twice. Shares fell 5% after the call! Dr. Smith said so."


def texts_of(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[s:e] for s, e in spans]


# ---------------------------------------------------------------------- splitting (no model)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TEXT, ["The striker scored twice.", "Shares fell 5% after the call!", "Dr. Smith said so."]),
        ("Version 3.5 is out at example.com today", ["Version 3.5 is out at example.com today"]),
        ("Really?! Yes. \"Quoted.\" (Bracketed.) End", ["Really?!", "Yes.", "\"Quoted.\"", "(Bracketed.)", "End"]),
        ("first line\nsecond line\n\n  third", ["first line", "second line", "third"]),
        ("See e.g. this, i.e. that. J. Smith agreed.", ["See e.g. this, i.e. that.", "J. Smith agreed."]),
        ("Wait…  then   ", ["Wait…", "then"]),
        ("", []),
        ("   \n  ", []),
        ("...", ["..."]),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    spans = split_sentences(text)
    assert texts_of(text, spans) == expected
    assert all(e > s for s, e in spans) and spans == sorted(spans)


def test_sentences_within_the_read_part_are_kept_whole() -> None:
    spans = split_sentences(TEXT, seen=30)  # inside the second sentence
    assert texts_of(TEXT, spans) == ["The striker scored twice.", "Shares fell 5% after the call!"]


def test_chunks_never_cut_a_word() -> None:
    text = "unbelievable performances everywhere tonight"
    # wordpiece-like offsets: "un" "believ" "able" | "perform" "ances" | "everywhere" | "tonight"
    offsets = [(0, 2), (2, 8), (8, 12), (13, 20), (20, 25), (26, 36), (37, 44)]
    assert texts_of(text, split_chunks(offsets, 2)) == ["unbelievable", "performances", "everywhere tonight"]
    assert texts_of(text, split_chunks(offsets, 1)) == ["unbelievable", "performances", "everywhere", "tonight"]
    assert split_chunks([], 4) == [] and split_chunks([(0, 0)], 4) == []


def test_grouping_keeps_order_and_covers_everything() -> None:
    units = [(i * 10, i * 10 + 5) for i in range(10)]
    assert group_units(units, 20) == units
    grouped = group_units(units, 3)
    assert grouped == [(0, 35), (40, 65), (70, 95)]  # 4 + 3 + 3 units, earlier runs larger


def test_occlusion_removes_the_unit_and_its_trailing_space() -> None:
    assert occlude("A b. C d. E f.", (5, 9)) == "A b. E f."
    assert occlude("Only one.", (0, 9)) == ""


@pytest.mark.parametrize(
    "options", [ExplainOptions(unit="word"), ExplainOptions(max_units=0), ExplainOptions(chunk_tokens=True),
                ExplainOptions(max_units=10_000)],
)
def test_bad_options(options: ExplainOptions) -> None:
    with pytest.raises(ValueError):
        options.check()


# ---------------------------------------------------------------------- with a model
@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")


def assert_deltas_are_occlusions(clf: Any, e: Any, **options: Any) -> None:
    """Every delta equals the full score minus the score of the text without that unit, scored alone."""
    variants = [occlude(e.text, (u.start, u.end)) for u in e.units]
    full = clf.scores(e.text, e.labels, multi_label=e.multi_label, **options)
    assert e.scores == pytest.approx(full, abs=1e-5)
    if variants:
        occluded = clf.scores(variants, e.labels, multi_label=e.multi_label, **options)
        for j in range(len(e.labels)):
            assert e.deltas[j] == pytest.approx([full[j] - row[j] for row in occluded], abs=1e-5)


@pytest.mark.parametrize("multi_label", [True, False])
def test_sentence_deltas(clf: Any, multi_label: bool) -> None:
    e = clf.explain(TEXT, LABELS, multi_label=multi_label)
    assert [u.text for u in e.units] == ["The striker scored twice.", "Shares fell 5% after the call!", "Dr. Smith said so."]
    assert all(TEXT[u.start : u.end] == u.text for u in e.units)
    assert e.labels == LABELS and e.unit == "sentence" and e.pieces == 3 and e.seen_chars == len(TEXT)
    assert len(e.deltas) == 2 and all(len(d) == 3 for d in e.deltas)
    assert e.delta("finance") == e.deltas[1]
    assert_deltas_are_occlusions(clf, e)
    if not multi_label:  # softmax: what one label gains the others lose
        for k in range(3):
            assert sum(d[k] for d in e.deltas) == pytest.approx(0.0, abs=1e-9)
    d = e.to_dict()
    assert d["units"][1] == {"text": "Shares fell 5% after the call!", "start": 26, "end": 56}
    assert [x["label"] for x in d["labels"]] == LABELS and d["labels"][0]["deltas"] == e.deltas[0]


def test_batch_one_text_and_empty_text(clf: Any) -> None:
    texts = ["One sentence only", "", TEXT]
    out = clf.explain(texts, [["a", "b"], ["c"], LABELS])
    assert [len(e.units) for e in out] == [1, 0, 3]
    one, empty, _ = out
    assert one.units[0].text == "One sentence only"
    # a one-unit text is compared with the empty text
    assert one.deltas[0][0] == pytest.approx(one.scores[0] - clf.scores("", ["a", "b"])[0], abs=1e-5)
    assert empty.deltas == [[]] and empty.scores == pytest.approx(clf.scores("", ["c"]), abs=1e-6)
    alone = clf.explain(TEXT, LABELS)
    for got, want in zip(out[2].deltas, alone.deltas, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


def test_chunks_for_text_without_punctuation(clf: Any) -> None:
    text = "the striker scored twice and the shares fell after the earnings call while nobody watched the game"
    e = clf.explain(text, LABELS, unit="chunk", chunk_tokens=4)
    assert e.unit == "chunk" and len(e.units) > 3
    assert " ".join(u.text for u in e.units) == text  # chunks cover the text, words whole
    assert_deltas_are_occlusions(clf, e)


def test_many_sentences_are_grouped(clf: Any) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    e = clf.explain(text, LABELS, max_units=8)
    assert len(e.units) == 8 and e.pieces == 40
    assert e.units[0].text == " ".join(f"Sentence number {i} is here." for i in range(5))
    assert_deltas_are_occlusions(clf, e)
    chunks = clf.explain(text, LABELS, unit="chunk", max_units=5, chunk_tokens=2)
    assert len(chunks.units) <= 5


def test_truncated_text_is_explained_over_what_the_model_reads(clf: Any) -> None:
    text = " ".join(f"Sentence number {i} is about football." for i in range(60))
    with pytest.warns(UserWarning, match="truncated"):
        e = clf.explain(text, LABELS, max_length=64, max_units=100)
    assert 0 < e.seen_chars < len(text)
    assert e.units and e.units[0].start == 0 and e.units[-1].start < e.seen_chars
    assert e.pieces == len(e.units) < 60
    with pytest.warns(UserWarning, match="truncated"):
        assert_deltas_are_occlusions(clf, e, max_length=64)
    whole = clf.explain(text, LABELS, max_length=64, long_text="chunk", unit="chunk", max_units=4)
    assert whole.seen_chars == len(text) and len(whole.units) == 4 and whole.units[-1].end == len(text)


def test_prompt_and_examples_are_used(clf: Any) -> None:
    options = {"prompt": "Classify the news:", "examples": [{"text": "Goal!", "labels": ["sports"]}]}
    e = clf.explain(TEXT, LABELS, **options)
    assert_deltas_are_occlusions(clf, e, **options)


def test_bad_arguments(clf: Any) -> None:
    with pytest.raises(ValueError, match="unit"):
        clf.explain(TEXT, LABELS, unit="word")
    with pytest.raises(ValueError, match="labels"):
        clf.explain(TEXT, [])


def test_bi_encoder(parity_classifier: Any) -> None:
    bi = parity_classifier("biencoder_bert")
    e = bi.explain([TEXT], LABELS)[0]
    assert len(e.units) == 3
    assert_deltas_are_occlusions(bi, e)


@pytest.mark.parametrize(
    ("options", "build"),
    [
        ({"architecture_type": "encoder-decoder", "class_token_pooling": "average", "extract_text_features": True},
         {"backbone": "t5-encdec"}),
        ({"architecture_type": "bi-encoder-fused", "logit_scale_init_value": 0.5}, {"label_encoder": True}),
    ],
    ids=["encoder-decoder", "bi-encoder-fused"],
)
def test_other_families(options: dict[str, Any], build: dict[str, Any]) -> None:
    """Occlusion needs only scores: every family explains the same way."""
    from tests.backends.onnx_helpers import random_classifier

    model = random_classifier(options, **build)
    e = model.explain(TEXT, LABELS)
    assert len(e.units) == 3
    assert_deltas_are_occlusions(model, e)
