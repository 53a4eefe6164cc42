"""``training.fit``: the prototypes ``fit`` sets, rebuilt outside the classifier (as ``benchmarks/few_shot_prior.py``
computes its fused rows from cached model logits) give the classifier's own logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from uniclass import Classifier
from uniclass.backends.embedding import REFERENCE_FILE, EmbeddingPrior, PriorSpec, gate_unlabelled, save_reference
from uniclass.training.fit import (
    SHRINKAGE_CANDIDATES,
    anchor_gaps,
    choose_signal_weights_shrunk,
    prototype_examples,
    raw_blend_scores,
    signal_scores,
)

from ..conftest import PARITY

TRAIN = ["the striker scored twice", "a late goal won the cup", "shares fell after the call", "the bank raised rates",
         "rain all afternoon"]
TRAIN_LABELS = ["sports", "sports", "finance", "finance", "weather"]
LABELS = ["sports", "finance", "weather", "politics"]  # politics has no examples: it keeps its prompt vector
TEST = ["The keeper saved a penalty.", "Bond yields rose again.", "Sunny with a light breeze.", "a"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_backbone) -> Path:
    """The parity uni-encoder plus a prior shaped like the default model's: an ensemble and reference statistics."""
    folder = tmp_path_factory.mktemp("uni-fit-prior")
    shutil.copytree(PARITY / "uni_bert_default", folder, dirs_exist_ok=True)
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(32, 32)) / 32
    save_reference(rng.normal(size=32) * 0.1, factor @ factor.T + 0.01 * np.eye(32), folder)
    spec = {"kind": "embedding-similarity", "weight": 5.0, "max_length": 64, "backbone": {"folder": str(tiny_backbone)},
            "ensemble": ["This is about {}.", "Label: {}."], "reference": REFERENCE_FILE, "reference_scale": 0.5}
    (folder / "prior.json").write_text(json.dumps(spec))
    return folder


def test_prototype_examples_keeps_candidates_and_order() -> None:
    examples = prototype_examples(["a", "b", "c"], [["x"], ["y", "x"], ["z"]], ["x", "y", "w"])
    assert examples == {"x": ["a", "b"], "y": ["b"], "w": []}


def test_fit_logits_equal_model_logits_plus_a_rebuilt_prior(checkpoint: Path) -> None:
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    # the fixed blend (model + weight x prototype cosine), as fit scored before the weights were chosen
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False, signal_weights=None)
    assert fitted.prior.few_shot is None
    expected = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])

    alone = Classifier.from_pretrained(checkpoint, device="cpu", prior=False)
    model = np.array([p.logits for p in alone.predict(TEST, LABELS, multi_label=False)])
    prior = EmbeddingPrior.load(PriorSpec.load(checkpoint), checkpoint)
    prior.set_prototypes(prototype_examples(TRAIN, [[y] for y in TRAIN_LABELS], LABELS))
    rebuilt = model + np.stack(prior.logits(TEST, [LABELS] * len(TEST)))
    np.testing.assert_allclose(rebuilt, expected, atol=1e-4)
    prior.clear_prototypes()  # and without prototypes: the zero-shot fused logits differ
    assert not np.allclose(model + np.stack(prior.logits(TEST, [LABELS] * len(TEST))), expected, atol=1e-4)


def _signal_inputs(checkpoint: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The model's logits on TEST, the prior's unit-weight zero-shot terms, and the text / support / prompt vectors."""
    alone = Classifier.from_pretrained(checkpoint, device="cpu", prior=False)
    model = np.array([p.logits for p in alone.predict(TEST, LABELS, multi_label=False)])
    prior = EmbeddingPrior.load(PriorSpec.load(checkpoint), checkpoint)
    texts, support = prior.embedder.embed(TEST).astype(np.float64), prior.embedder.embed(TRAIN).astype(np.float64)
    prompts = prior.prompt_vectors(LABELS).astype(np.float64)
    bias, factor = prior.label_offsets(prompts)
    cos = (texts @ prompts.T - bias) * factor
    return model, cos - cos.mean(axis=1, keepdims=True), texts, support, prompts


@pytest.mark.parametrize("weights", ["grid", (0.5, 2.0, 10.0), (0.0, 0.0, 1.0)])
def test_fit_with_signal_weights_equals_the_numpy_scores(checkpoint: Path, weights, tmp_path: Path) -> None:
    """What the classifier scores after ``fit`` is ``signal_scores`` (what benchmarks/v4_few_shot.py measures),
    politics (no examples) included, and it survives save/load."""
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False, signal_weights=weights)
    chosen = fitted.prior.few_shot
    assert chosen is not None
    assert weights == "grid" or (chosen["model"], chosen["prompt"], chosen["prototype"]) == weights
    expected = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])
    model, zero_shot, texts, support, prompts = _signal_inputs(checkpoint)
    labels = np.array([LABELS.index(y) for y in TRAIN_LABELS])
    rebuilt = signal_scores(model, zero_shot, texts, support, labels, prompts,
                            (chosen["model"], chosen["prompt"], chosen["prototype"]))
    np.testing.assert_allclose(rebuilt, expected, atol=1e-4)
    fitted.save_pretrained(tmp_path / "fitted")
    assert json.loads((tmp_path / "fitted" / "prior.json").read_text())["few_shot"] == chosen
    reloaded = Classifier.from_pretrained(tmp_path / "fitted", device="cpu")
    again = np.array([p.logits for p in reloaded.predict(TEST, LABELS, multi_label=False)])
    np.testing.assert_allclose(again, expected, atol=1e-5)


def test_refitting_starts_a_new_task(checkpoint: Path) -> None:
    """A second fit replaces the first one's prototypes and weights (two tasks' scales must not mix)."""
    clf = Classifier.from_pretrained(checkpoint, device="cpu")
    clf.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False)
    clf.fit(TRAIN[:2] + TRAIN[4:], ["sports", "sports", "weather"], all_labels=["sports", "weather"], multi_label=False)
    assert set(clf.prior.prototypes) == {"sports", "weather"}


def test_bad_signal_weights_are_one_line_errors(checkpoint: Path) -> None:
    clf = Classifier.from_pretrained(checkpoint, device="cpu")
    with pytest.raises(ValueError, match="signal_weights must be"):
        clf.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, signal_weights="best")
    with pytest.raises(ValueError, match=r"\(model, prompt, prototype\)"):
        clf.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, signal_weights=(1.0, 2.0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # would fail inside torch's sampler ("num_samples should be a positive integer value")
        ({"finetune": True, "batch_size": 0}, "batch size must be an int >= 1, got 0"),
        # would train nothing without a word, or fill the weights with NaN
        ({"finetune": True, "epochs": 0}, "nothing to train: epochs=0"),
        ({"finetune": True, "learning_rate": float("nan")}, "learning_rate must be a finite number >= 0, got nan"),
        ({"finetune": True, "learning_rate": -1e-4}, "learning_rate must be a finite number >= 0"),
        # was a PriorError about the prior file's "few_shot" map
        ({"signal_weights": (1.0, float("nan"), 80.0)}, r"signal_weights must be \(model, prompt, prototype\), finite"),
        ({"signal_weights": ("a", "b", "c")}, r"signal_weights must be \(model, prompt, prototype\)"),
    ],
)
def test_bad_fit_options_are_one_line_errors_that_keep_the_earlier_fit(checkpoint: Path, options, message) -> None:
    clf = Classifier.from_pretrained(checkpoint, device="cpu").fit(TRAIN, TRAIN_LABELS, all_labels=LABELS)
    before = {label: vector.copy() for label, vector in clf.prior.prototypes.items()}
    with pytest.raises(ValueError, match=message):
        clf.fit(TRAIN[:2], ["sports", "finance"], **options)
    assert clf.prior.prototypes.keys() == before.keys()
    assert all(np.array_equal(clf.prior.prototypes[label], before[label]) for label in before)


@pytest.mark.parametrize(
    ("texts", "labels", "all_labels", "error", "message"),
    [
        ([], [], None, ValueError, "no texts"),
        ("the striker scored", ["sports"], None, TypeError, "texts must be a list, got str"),
        (["a"], {"a": "sports"}, None, TypeError, "labels must be a list, got dict"),
        ([1, 2], ["sports", "finance"], None, TypeError, r"texts\[0\] must be a str, got int"),
        (["a <<SEP>> b"], ["sports"], None, ValueError, "reserved marker"),
        (["a", "b", "c", " \n\t"], ["sports"] * 4, None, ValueError, r"^fit: texts\[3\] is empty$"),
        ([""], ["sports"], None, ValueError, r"^fit: texts\[0\] is empty$"),
        (["a", "b"], ["sports"], None, ValueError, "2 texts but 1 label entries"),
        (["a"], [3], None, TypeError, "must be a str or a list of str, got int"),
        (["a"], [["sports", ""]], None, ValueError, "empty label"),
        (["a"], ["rugby"], ["sports", "finance"], ValueError, "'rugby', which is not in all_labels"),
        (["a", "b"], [[], []], None, ValueError, "no text has a label"),
    ],
)
def test_bad_fit_inputs_are_one_line_errors_before_any_work(
    checkpoint: Path, texts, labels, all_labels, error, message
) -> None:
    clf = Classifier.from_pretrained(checkpoint, device="cpu")
    with pytest.raises(error, match=message):
        clf.fit(texts, labels, all_labels=all_labels)
    assert clf.prior.prototypes == {}  # nothing was learned from the refused call


def test_fit_takes_any_iterable_of_texts_and_labels(checkpoint: Path) -> None:
    """Tuples, numpy arrays (and so pandas columns) and generators fit as lists do."""
    as_lists = Classifier.from_pretrained(checkpoint, device="cpu").fit(TRAIN, TRAIN_LABELS, all_labels=LABELS)
    as_arrays = Classifier.from_pretrained(checkpoint, device="cpu").fit(
        np.array(TRAIN), tuple(np.array(TRAIN_LABELS)), all_labels=(label for label in LABELS)  # even a generator
    )
    expected = np.array([p.logits for p in as_lists.predict(TEST, LABELS)])
    assert np.allclose([p.logits for p in as_arrays.predict(TEST, LABELS)], expected)


def test_prototype_labels_are_scored_unstandardised(checkpoint: Path) -> None:
    """With a reference, a prototype's cosine is used as is (RESULTS §10.2); prompt-vector labels stay standardised,
    and without prototypes the prior is the zero-shot one, unchanged."""
    prior = EmbeddingPrior.load(PriorSpec.load(checkpoint), checkpoint)
    texts = prior.embedder.embed(TEST).astype(np.float64)
    prompts = prior.prompt_vectors(LABELS)
    bias, factor = prior.label_offsets(prompts)
    zero = np.stack(prior.logits(TEST, [LABELS] * len(TEST)))

    def centred(cos: np.ndarray) -> np.ndarray:
        return prior.spec.weight * (cos - cos.mean(axis=1, keepdims=True))

    np.testing.assert_allclose(zero, centred((texts @ prompts.T - bias) * factor), atol=1e-5)
    prior.set_prototypes(prototype_examples(TRAIN, [[y] for y in TRAIN_LABELS], LABELS))
    assert set(prior.prototypes) == {"sports", "finance", "weather"}
    cos = texts @ prior.label_vectors(LABELS).astype(np.float64).T
    cos[:, 3] = (cos[:, 3] - bias[3]) * factor[3]  # politics has no examples: its prompt vector, standardised
    np.testing.assert_allclose(np.stack(prior.logits(TEST, [LABELS] * len(TEST))), centred(cos), atol=1e-5)
    prior.clear_prototypes()
    np.testing.assert_array_equal(np.stack(prior.logits(TEST, [LABELS] * len(TEST))), zero)


def test_fitted_prototypes_score_the_same_after_save_and_load(checkpoint: Path, tmp_path: Path) -> None:
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False)
    expected = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])
    fitted.save_pretrained(tmp_path / "fitted")
    loaded = Classifier.from_pretrained(tmp_path / "fitted", device="cpu")
    assert set(loaded.prior.prototypes) == {"sports", "finance", "weather"}
    actual = np.array([p.logits for p in loaded.predict(TEST, LABELS, multi_label=False)])
    np.testing.assert_allclose(actual, expected, atol=1e-5)


# ---------------------------------------------------------------------------------------- "auto": k-fold shrinkage
def test_auto_fit_equals_the_benchmarks_computation(checkpoint: Path, tmp_path: Path) -> None:
    """``signal_weights="auto"``: the weights and the offset for politics (no examples) are what
    ``choose_signal_weights_shrunk`` gives on the support texts' model logits and prior terms (what
    benchmarks/v5_rules.py calls), and the classifier's logits are ``raw_blend_scores`` centred like the prior."""
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False, signal_weights="auto")
    few_shot = fitted.prior.few_shot
    assert few_shot is not None and set(few_shot) >= {"zero_shot", "zero_shot_offset", "zero_shot_model"}
    assert few_shot["zero_shot_gate"] == 1.0
    expected = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])

    alone = Classifier.from_pretrained(checkpoint, device="cpu", prior=False)
    prior = EmbeddingPrior.load(PriorSpec.load(checkpoint), checkpoint)
    prompts = prior.prompt_vectors(LABELS).astype(np.float64)
    bias, factor = prior.label_offsets(prompts)
    support, texts = prior.embedder.embed(TRAIN).astype(np.float64), prior.embedder.embed(TEST).astype(np.float64)
    labels = np.array([LABELS.index(y) for y in TRAIN_LABELS])
    chosen, evidence = choose_signal_weights_shrunk(
        np.array([p.logits for p in alone.predict(TRAIN, LABELS, multi_label=False)]),
        (support @ prompts.T - bias) * factor, support, labels, prompts, prior_weight=prior.spec.weight,
    )
    assert chosen == (few_shot["model"], few_shot["prompt"], few_shot["prototype"])
    assert few_shot["zero_shot"] == pytest.approx(evidence["zero_shot_weight"])
    assert few_shot["zero_shot_offset"] == pytest.approx(evidence["zero_shot_offset"])
    model = np.array([p.logits for p in alone.predict(TEST, LABELS, multi_label=False)])
    raw = raw_blend_scores(model, (texts @ prompts.T - bias) * factor, texts, support, labels, prompts, chosen,
                           zero_shot_weight=few_shot["zero_shot"], zero_shot_offset=few_shot["zero_shot_offset"],
                           zero_shot_model=few_shot["zero_shot_model"])
    per_label = np.where(np.isin(np.arange(len(LABELS)), labels), chosen[0], few_shot["zero_shot_model"])
    prior_part = raw - per_label * model  # the classifier centres the prior's part of each row
    centred = raw - prior_part.mean(axis=1, keepdims=True)
    # then politics (no examples) is placed per text against the labelled labels by fused zero-shot
    has = np.isin(np.arange(len(LABELS)), labels)
    zero_shot = model + prior.spec.weight * (texts @ prompts.T - bias) * factor
    np.testing.assert_allclose(gate_unlabelled(centred, zero_shot, has), expected, atol=1e-4)
    gated = raw_blend_scores(model, (texts @ prompts.T - bias) * factor, texts, support, labels, prompts, chosen,
                             zero_shot_offset=few_shot["zero_shot_offset"], gate=True, prior_weight=prior.spec.weight)
    np.testing.assert_array_equal(gated.argmax(1), expected.argmax(1))  # what benchmarks/v5_rules.py scores
    fitted.save_pretrained(tmp_path / "fitted")
    reloaded = Classifier.from_pretrained(tmp_path / "fitted", device="cpu")
    again = np.array([p.logits for p in reloaded.predict(TEST, LABELS, multi_label=False)])
    np.testing.assert_allclose(again, expected, atol=1e-5)


def _toy_task(model_right: bool, noise: float = 0.3, per_label: int = 8):
    """Three labels, ``per_label`` support texts each near their prompt; a model that is confidently right or wrong."""
    rng = np.random.default_rng(0)
    prompts = np.eye(3, 8)
    labels = np.repeat([0, 1, 2], per_label)
    support = prompts[labels] + noise * rng.normal(size=(len(labels), 8))
    support /= np.linalg.norm(support, axis=1, keepdims=True)
    model = 100 * np.eye(3)[labels if model_right else (labels + 1) % 3]
    return model, np.zeros((len(labels), 3)), support, labels, prompts


def test_shrinkage_keeps_the_fixed_blend_when_nothing_wins_clearly() -> None:
    """A right model and clean prototypes: every candidate is right on every held-out text, gain 0: the default."""
    weights, evidence = choose_signal_weights_shrunk(*_toy_task(model_right=True))
    assert weights == SHRINKAGE_CANDIDATES["fixed blend"] and evidence["chosen"] == "fixed blend"


def test_shrinkage_falls_back_to_prototypes_when_the_model_is_wrong() -> None:
    weights, evidence = choose_signal_weights_shrunk(*_toy_task(model_right=False))
    assert evidence["chosen"] == "prototypes" and weights == (0.0, 0.0, 80.0)
    assert evidence["candidates"]["prototypes"]["gain"] > evidence["candidates"]["prototypes"]["se"]


def test_a_gain_within_its_standard_error_does_not_move_the_default() -> None:
    """Noisy prototypes and a wrong model on 2 examples per label: prototypes are better but the evidence is thin;
    the bar (``se_multiplier`` standard errors) decides, and a huge bar keeps the default."""
    task = _toy_task(model_right=False, noise=1.0, per_label=2)
    _, evidence = choose_signal_weights_shrunk(*task, se_multiplier=0.0)
    assert evidence["chosen"] != "fixed blend"
    weights, evidence = choose_signal_weights_shrunk(*task, se_multiplier=100.0)
    assert evidence["chosen"] == "fixed blend" and weights == SHRINKAGE_CANDIDATES["fixed blend"]


def test_labels_without_examples_get_scaled_zero_shot_plus_the_median_anchor() -> None:
    """Label 3 has no examples: scored ``model * u + zero-shot weight * zs + offset``; the offset is the median gap
    between the labelled labels' best blended and best scaled zero-shot scores."""
    model, _, support, labels, _ = _toy_task(model_right=True)
    prompts = np.eye(4, 8)
    model = np.concatenate([model, np.zeros((len(labels), 1))], axis=1)
    zs = np.random.default_rng(1).normal(size=(len(labels), 4))
    weights, evidence = choose_signal_weights_shrunk(model, zs, support, labels, prompts, prior_weight=5.0)
    assert evidence["zero_shot_weight"] == 5.0 * weights[0]
    scores = raw_blend_scores(model, zs, support, support, labels, prompts, weights, zero_shot_weight=5.0,
                              zero_shot_offset=2.5)
    np.testing.assert_allclose(scores[:, 3], weights[0] * model[:, 3] + 5.0 * zs[:, 3] + 2.5)
    gaps = anchor_gaps(scores[:, :3], model[:, :3], zs[:, :3], weights, 5.0)
    np.testing.assert_allclose(gaps, scores[:, :3].max(1) - (weights[0] * model[:, :3] + 5.0 * zs[:, :3]).max(1))


def test_auto_with_examples_for_one_label_only_keeps_zero_shot(checkpoint: Path) -> None:
    """One label of four has examples: nothing to compare it with, so "auto" keeps the zero-shot scores."""
    zero_shot = Classifier.from_pretrained(checkpoint, device="cpu")
    expected = np.array([p.logits for p in zero_shot.predict(TEST, LABELS, multi_label=False)])
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN[:2], TRAIN_LABELS[:2], all_labels=LABELS, multi_label=False, signal_weights="auto")
    assert set(fitted.prior.prototypes) == {"sports"}
    actual = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_the_foreign_anchor_leaves_each_texts_own_label_out() -> None:
    scores = np.array([[5.0, 1.0, 0.0], [0.0, 4.0, 2.0]])
    zero = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 1.5]])  # model 0, zero-shot weight 1: the scaled zero-shot itself
    weights = (0.0, 0.0, 1.0)
    np.testing.assert_allclose(anchor_gaps(scores, np.zeros((2, 3)), zero, weights, 1.0), [4.0, 2.5])
    np.testing.assert_allclose(anchor_gaps(scores, np.zeros((2, 3)), zero, weights, 1.0, np.array([0, 1])), [0.5, 0.5])


def test_few_shot_weights_with_zero_shot_keys_are_validated() -> None:
    from uniclass.backends.embedding import PriorError, check_few_shot

    base = {"model": 1.0, "prompt": 0.0, "prototype": 80.0, "offset": 0.0}
    assert check_few_shot(base) == base  # files written before the zero-shot keys load as they were
    full = {**base, "zero_shot": 80.0, "zero_shot_offset": 3.5, "zero_shot_model": 1.0}
    assert check_few_shot(full) == full
    with pytest.raises(PriorError, match="optionally"):
        check_few_shot({**base, "zero_shot": 80.0})  # the three come together
    with pytest.raises(PriorError, match=">= 0"):
        check_few_shot({**full, "zero_shot_model": -1.0})


def test_the_gate_gives_labels_without_examples_exactly_zero_shots_decisions() -> None:
    """Whatever the blend does to the labelled labels, a text goes to a label without examples exactly when fused
    zero-shot sends it there (so those labels keep zero-shot's F1), and to the blend's best labelled label otherwise."""
    rng = np.random.default_rng(3)
    zero_shot, blend = rng.normal(size=(500, 6)), 4 * rng.normal(size=(500, 6)) + 2
    has = np.array([True, False, True, True, False, True])
    gated = gate_unlabelled(blend, zero_shot, has)
    zs_pick, pick = zero_shot.argmax(1), gated.argmax(1)
    to_unlabelled = ~has[zs_pick]
    assert to_unlabelled.any() and (~to_unlabelled).any()
    np.testing.assert_array_equal(pick[to_unlabelled], zs_pick[to_unlabelled])
    best_labelled = np.where(has, blend, -np.inf).argmax(1)
    np.testing.assert_array_equal(pick[~to_unlabelled], best_labelled[~to_unlabelled])
    np.testing.assert_array_equal(gated[:, has], blend[:, has])  # labelled labels keep their fitted logits
    for all_or_none in (np.ones(6, bool), np.zeros(6, bool)):
        np.testing.assert_array_equal(gate_unlabelled(blend, zero_shot, all_or_none), blend)


def test_older_fits_without_the_gate_load_and_score_as_before(checkpoint: Path, tmp_path: Path) -> None:
    """A prior.json written before the gate (no "zero_shot_gate") keeps its linear placement of unlabelled labels."""
    fitted = Classifier.from_pretrained(checkpoint, device="cpu")
    fitted.fit(TRAIN, TRAIN_LABELS, all_labels=LABELS, multi_label=False, signal_weights="auto")
    folder = fitted.save_pretrained(tmp_path / "fitted")
    spec = json.loads((folder / "prior.json").read_text())
    del spec["few_shot"]["zero_shot_gate"]
    (folder / "prior.json").write_text(json.dumps(spec))
    older = Classifier.from_pretrained(folder, device="cpu")
    assert not older.prior.gates_unlabelled
    logits = np.array([p.logits for p in older.predict(TEST, LABELS, multi_label=False)])
    few_shot = older.prior.few_shot
    gated = np.array([p.logits for p in fitted.predict(TEST, LABELS, multi_label=False)])
    np.testing.assert_allclose(logits[:, :3], gated[:, :3], atol=1e-5)  # labelled labels: the same blend
    assert few_shot is not None and "zero_shot_gate" not in few_shot
