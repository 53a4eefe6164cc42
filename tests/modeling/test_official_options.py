"""uniclass reproduces the official ``gliclass`` scores for every model option.

Each case builds a tiny random model in-process with the official package (``gliclass==0.1.21``), saves it
with the official ``save_pretrained``, loads the folder with ``uniclass.Classifier`` and compares scores on
texts of varied lengths ("" to ~170 words, accents and emoji) for several label sets, per-text label lists,
prompts, few-shot examples and single-label (softmax) calls.

Reference semantics: the official poolers (all but ``first``/``pass``) ignore the attention mask, so official
batched results depend on padding. uniclass pools with the mask, which equals the official output at batch
size 1; the reference is therefore the official pipeline at ``batch_size=1`` and uniclass runs at
``batch_size=4`` so that its batches are padded. Tolerance: 1e-5 absolute on scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gliclass  # the reference implementation (test extra); a missing install must fail, not skip
import pytest
import torch

from tests import official_reference as ref  # the shared reference helper
from uniclass import Classifier

TOLERANCE = 1e-5
UNICLASS_BATCH = 4  # < number of texts, so uniclass batches hold texts of different lengths (padding)

MULTI_CALLS = ("L1", "L3", "L8", "per_text", "L8_prompt", "L3_examples", "per_text_prompts_examples")
ALL_CALLS = (*MULTI_CALLS, "L8_single", "per_text_single")
# bi-encoders: the official per-text label path pads every label to max_length (1024) tokens, so only one
# per-text call is made (time); EQ8 has no label padding. Plain bi-encoders ignore examples (official behaviour).
BI_CALLS = ("L1", "L3", "L8", "per_text", "L8_prompt", "L3_examples", "L8_single", "EQ8", "EQ8_prompt_single")
LABEL_BY_LABEL_CALLS = ("L1", "L3", "per_text", "L8_prompt", "L3_examples")
# calls whose official label batch has no padding (one label, or labels of equal token length)
NO_LABEL_PADDING_CALLS = ("L1", "EQ8", "EQ8_prompt_single")

CROSS_ATTN = {"scorer_type": "cross-attn", "pooling_strategy": "pass", "scorer_num_heads": 4, "scorer_mlp_hidden_size": 64}
# wide scorer MLPs (256/128 hidden units) saturate every sigmoid with std 0.3 weights
SMALL_SCORER = {"model.scorer.": 0.1}
# hopfield: small q/k/v keep the softmax over label slots soft, so padded slots change the scores
HOPFIELD_SCORER = {"model.scorer.mlp.": 0.15, "model.scorer.": 0.05}


@dataclass
class Case:
    """One official configuration and how to check it."""

    id: str
    options: dict[str, Any] = field(default_factory=dict)  # GLiClassModelConfig overrides
    backbone: str = "bert"  # see official_reference.encoder_config
    backbone_overrides: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = "bert"  # bert | deberta | bert+example
    label_encoder: bool = False  # bi-encoders: a separate tiny BERT label encoder (hidden 24)
    std: float = 0.3
    std_by_prefix: dict[str, float] | None = None
    seed: int = 0  # weights seed; a few cases use another where seed 0 gives degenerate (flat/saturated) scores
    calls: tuple[str, ...] = ALL_CALLS
    # "official": the official pipeline at batch size 1; "label_by_label": one official call per
    # (text, label), for bi-encoders whose official label pooling averages over label padding
    reference: str = "official"
    forward_kwargs: dict[str, Any] = field(default_factory=dict)

    def checkpoint_key(self) -> str:
        return repr(
            (sorted(self.options.items()), self.backbone, sorted(self.backbone_overrides.items()), self.tokenizer,
             self.label_encoder, self.std, self.std_by_prefix, self.seed)
        )


def _cases() -> list[Case]:
    cases: list[Case] = []
    # ---- text pooling, with and without extract_text_features (text = tokens from <<SEP>> on)
    for pooling in ("first", "last", "avg", "max", "sum", "rms", "abs_max", "abs_avg"):
        std = 0.1 if pooling == "sum" else 0.3  # a sum over ~250 tokens saturates with std 0.3
        cases.append(Case(f"pool-{pooling}", {"pooling_strategy": pooling}, std=std))
        etf_std = 0.15 if pooling == "sum" else std
        cases.append(Case(f"pool-{pooling}-etf", {"pooling_strategy": pooling, "extract_text_features": True}, std=etf_std))
        cases.append(
            Case(f"pool-{pooling}-etf-pf", {"pooling_strategy": pooling, "extract_text_features": True, "prompt_first": True}, std=std)
        )
    cases += [
        Case("pool-pass-crossattn", dict(CROSS_ATTN)),
        Case("pool-pass-crossattn-etf", {**CROSS_ATTN, "extract_text_features": True}),
        Case("pool-pass-crossattn-etf-pf", {**CROSS_ATTN, "extract_text_features": True, "prompt_first": True}),
        Case("pool-pass-crossattn-lstm", {**CROSS_ATTN, "use_lstm": True}),
        Case("pool-pass-crossattn-norm", {**CROSS_ATTN, "normalize_features": True}, seed=3),
    ]
    # ---- label vectors: class_token_pooling x embed_class_token x prompt_first
    for ctp in ("first", "average"):
        for embed in (True, False):
            for prompt_first in (True, False):
                options = {"class_token_pooling": ctp, "embed_class_token": embed, "prompt_first": prompt_first}
                name = f"ctp-{ctp}-{'emb' if embed else 'noemb'}-{'pf' if prompt_first else 'textfirst'}"
                cases.append(Case(name, options))
    cases += [
        Case("ctp-average-etf", {"class_token_pooling": "average", "extract_text_features": True}),
        Case("ctp-average-etf-pf", {"class_token_pooling": "average", "extract_text_features": True, "prompt_first": True}),
        Case("ctp-average-noemb-etf", {"class_token_pooling": "average", "embed_class_token": False, "extract_text_features": True}),
    ]
    # ---- BiLSTM over the text tokens
    cases += [
        Case("lstm-avg", {"use_lstm": True, "pooling_strategy": "avg"}),
        Case("lstm-avg-etf", {"use_lstm": True, "pooling_strategy": "avg", "extract_text_features": True}),
        Case("lstm-last-etf", {"use_lstm": True, "pooling_strategy": "last", "extract_text_features": True}),
        Case("lstm-max-etf-pf", {"use_lstm": True, "pooling_strategy": "max", "extract_text_features": True, "prompt_first": True}),
        Case("lstm-first-pf", {"use_lstm": True, "prompt_first": True}),
    ]
    # ---- segment embeddings (0 labels, 1 text, 2 examples: needs <<EXAMPLE>> in the vocabulary)
    cases += [
        Case("seg", {"use_segment_embeddings": True}),
        Case("seg-pf-avg", {"use_segment_embeddings": True, "prompt_first": True, "pooling_strategy": "avg"}),
        Case("seg-examples", {"use_segment_embeddings": True}, tokenizer="bert+example", seed=2),
        Case("seg-examples-pf-etf", {"use_segment_embeddings": True, "prompt_first": True, "extract_text_features": True},
             tokenizer="bert+example", seed=2),
    ]
    # ---- normalized features (logit_scale applied), encoder layer, projector width, resized vocabulary
    cases += [
        Case("norm", {"normalize_features": True, "logit_scale_init_value": 2.0}),
        Case("norm-avg-pf", {"normalize_features": True, "pooling_strategy": "avg", "prompt_first": True}),
        Case("norm-hopfield", {"normalize_features": True, "scorer_type": "hopfield"}, std_by_prefix=HOPFIELD_SCORER),
        Case("layer1", {"encoder_layer_id": 1}, forward_kwargs={"output_hidden_states": True}, seed=1),
        Case("layer1-avg-etf-pf", {"encoder_layer_id": 1, "pooling_strategy": "avg", "extract_text_features": True,
                                   "prompt_first": True}, forward_kwargs={"output_hidden_states": True}, seed=1),
        Case("layer0-seg", {"encoder_layer_id": 0, "use_segment_embeddings": True},
             forward_kwargs={"output_hidden_states": True}),
        Case("projector-width48-relu", {"hidden_size": 48, "projector_hidden_act": "relu"}),
        # backbone built with 387 rows, GLiClass config says 389: both implementations resize the embeddings
        Case("vocab-resized", {"vocab_size": 389}, backbone_overrides={"vocab_size": 387}),
        # layer_wise only changes the training loss
        Case("layer-wise-flag", {"layer_wise": True, "pooling_strategy": "avg"}),
    ]
    # ---- scorers
    for scorer in ("simple", "weighted-dot", "mlp", "hopfield"):
        std = {"simple": None, "hopfield": HOPFIELD_SCORER}.get(scorer, SMALL_SCORER)
        cases.append(Case(f"scorer-{scorer}", {"scorer_type": scorer}, std_by_prefix=std))
        cases.append(
            Case(f"scorer-{scorer}-avg-pf", {"scorer_type": scorer, "pooling_strategy": "avg", "prompt_first": True},
                 std_by_prefix=std, seed=4 if scorer == "weighted-dot" else 0)
        )
    cases += [
        Case("scorer-cross-attn-pf", {**CROSS_ATTN, "prompt_first": True}),
        # hopfield's softmax runs over every allocated label slot, padded ones included
        Case("scorer-hopfield-fixed", {"scorer_type": "hopfield", "max_labels_alloc": "fixed"},
             std_by_prefix=HOPFIELD_SCORER),
        Case("scorer-hopfield-alloc12", {"scorer_type": "hopfield", "max_labels_alloc": 12}, std_by_prefix=HOPFIELD_SCORER),
        Case("scorer-hopfield-alloc12-pf-etf", {"scorer_type": "hopfield", "max_labels_alloc": 12, "prompt_first": True,
                                                "extract_text_features": True}, std_by_prefix=HOPFIELD_SCORER),
    ]
    # ---- backbones
    cases += [
        Case("deberta", {"prompt_first": True}, backbone="deberta", tokenizer="deberta"),
        Case("deberta-avg-etf", {"pooling_strategy": "avg", "extract_text_features": True}, backbone="deberta",
             tokenizer="deberta"),
        Case("deberta-seg-ctp-average-lstm", {"use_segment_embeddings": True, "class_token_pooling": "average",
                                              "use_lstm": True, "pooling_strategy": "max"},
             backbone="deberta", tokenizer="deberta"),
        Case("modernbert", {}, backbone="modernbert"),
        Case("modernbert-avg-pf", {"pooling_strategy": "avg", "prompt_first": True}, backbone="modernbert"),
        Case("modernbert-sdpa-seg-etf", {"use_segment_embeddings": True, "extract_text_features": True,
                                         "pooling_strategy": "rms"},
             backbone="modernbert", backbone_overrides={"_attn_implementation": "sdpa"}),
        Case("mpnet", {}, backbone="mpnet"),
        Case("mpnet-avg-pf-lstm", {"pooling_strategy": "avg", "prompt_first": True, "use_lstm": True}, backbone="mpnet"),
        Case("mpnet-seg-wdot", {"use_segment_embeddings": True, "scorer_type": "weighted-dot"}, backbone="mpnet",
             std_by_prefix=SMALL_SCORER, seed=3),
        Case("t5", {}, backbone="t5"),
        Case("t5-avg-etf-pf", {"pooling_strategy": "avg", "extract_text_features": True, "prompt_first": True},
             backbone="t5"),
        Case("t5-seg-ctp-average", {"use_segment_embeddings": True, "class_token_pooling": "average"}, backbone="t5"),
    ]
    # ---- bi-encoders (text encoder BERT h32, label encoder BERT h24)
    # bi-encoders multiply every logit by logit_scale: the default 2.66 saturates these random models
    bi = {"architecture_type": "bi-encoder", "logit_scale_init_value": 0.5}
    fused = {"architecture_type": "bi-encoder-fused", "logit_scale_init_value": 0.5}
    cases += [
        Case("bi", dict(bi), label_encoder=True, calls=BI_CALLS),
        Case("bi-hopfield", {**bi, "scorer_type": "hopfield"}, label_encoder=True, calls=BI_CALLS,
             std_by_prefix=HOPFIELD_SCORER),
        Case("bi-mlp-norm", {**bi, "scorer_type": "mlp", "normalize_features": True}, label_encoder=True,
             calls=BI_CALLS),
        Case("fused", dict(fused), label_encoder=True, calls=BI_CALLS),
        Case("fused-pf", {**fused, "prompt_first": True}, label_encoder=True, calls=BI_CALLS, seed=4),
        Case("fused-hopfield-norm", {**fused, "scorer_type": "hopfield", "normalize_features": True},
             label_encoder=True, calls=BI_CALLS, std_by_prefix=HOPFIELD_SCORER),
    ]
    bi_seeds = {"sum": 2, "rms": 1, "abs_max": 1, "abs_avg": 1}
    for pooling in ("avg", "max", "last", "sum", "rms", "abs_max", "abs_avg"):
        std, seed = (0.1 if pooling == "sum" else 0.3), bi_seeds.get(pooling, 0)
        # the official label pooling also pools the label batch's padding: compare where there is none ...
        cases.append(Case(f"bi-{pooling}", {**bi, "pooling_strategy": pooling}, label_encoder=True, std=std,
                          seed=seed, calls=NO_LABEL_PADDING_CALLS))
        # ... and, for every call, against one official call per (text, label) (the label encoded alone)
        cases.append(Case(f"bi-{pooling}-label-by-label", {**bi, "pooling_strategy": pooling}, label_encoder=True,
                          std=std, seed=seed, calls=LABEL_BY_LABEL_CALLS, reference="label_by_label"))
    cases += [
        # uni-encoder-only options in a bi-encoder config: built (LSTM weights are saved) but unused, as officially
        Case("bi-unused-flags", {**bi, "prompt_first": True, "use_lstm": True, "extract_text_features": True,
                                 "class_token_pooling": "average", "use_segment_embeddings": True,
                                 "encoder_layer_id": 1}, label_encoder=True, calls=BI_CALLS),
        Case("fused-unused-flags", {**fused, "use_lstm": True, "extract_text_features": True,
                                    "class_token_pooling": "average", "embed_class_token": False,
                                    "use_segment_embeddings": True, "encoder_layer_id": 1},
             label_encoder=True, calls=BI_CALLS, seed=3),
        Case("fused-avg", {**fused, "pooling_strategy": "avg"}, label_encoder=True, calls=NO_LABEL_PADDING_CALLS),
        Case("fused-max-pf", {**fused, "pooling_strategy": "max", "prompt_first": True}, label_encoder=True,
             calls=NO_LABEL_PADDING_CALLS, seed=4),
    ]
    # ---- encoder-decoder (T5): labels in the decoder / labels in the encoder (-cls)
    for arch in ("encoder-decoder", "encoder-decoder-cls"):
        short = "ed" if arch == "encoder-decoder" else "edcls"
        base = {"architecture_type": arch}
        cases += [
            Case(short, dict(base), backbone="t5-encdec"),
            Case(f"{short}-hopfield", {**base, "scorer_type": "hopfield"}, backbone="t5-encdec",
                 std_by_prefix=HOPFIELD_SCORER),
            Case(f"{short}-norm", {**base, "normalize_features": True}, backbone="t5-encdec"),
            Case(f"{short}-ctp-average-etf", {**base, "class_token_pooling": "average", "extract_text_features": True},
                 backbone="t5-encdec"),
            Case(f"{short}-noemb", {**base, "embed_class_token": False}, backbone="t5-encdec"),
        ]
    cases += [
        Case("ed-avg", {"architecture_type": "encoder-decoder", "pooling_strategy": "avg"}, backbone="t5-encdec"),
        Case("ed-lstm-max", {"architecture_type": "encoder-decoder", "use_lstm": True, "pooling_strategy": "max"},
             backbone="t5-encdec"),
        Case("ed-wdot-ctp-average", {"architecture_type": "encoder-decoder", "scorer_type": "weighted-dot",
                                     "class_token_pooling": "average"}, backbone="t5-encdec",
             std_by_prefix=SMALL_SCORER),
        Case("ed-crossattn", {"architecture_type": "encoder-decoder", **CROSS_ATTN}, backbone="t5-encdec"),
        Case("ed-crossattn-lstm-norm", {"architecture_type": "encoder-decoder", **CROSS_ATTN, "use_lstm": True,
                                        "normalize_features": True}, backbone="t5-encdec", std_by_prefix=SMALL_SCORER,
             seed=1),
        # options the encoder-decoder families ignore (segment embeddings, encoder layer, prompt_first)
        Case("ed-unused-flags", {"architecture_type": "encoder-decoder", "use_segment_embeddings": True,
                                 "encoder_layer_id": 1, "prompt_first": True}, backbone="t5-encdec"),
        Case("edcls-unused-flags", {"architecture_type": "encoder-decoder-cls", "use_segment_embeddings": True,
                                    "encoder_layer_id": 1, "prompt_first": True, "use_lstm": True,
                                    "pooling_strategy": "avg"}, backbone="t5-encdec"),
    ]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


CASES = _cases()
CASES_BY_ID = {case.id: case for case in CASES}


# ============================================================================================== fixtures
class Workspace:
    """Builds each official checkpoint once per session and caches reference scores."""

    def __init__(self, root: Path):
        self.root = root
        self._checkpoints: dict[str, tuple[Any, Any, Path]] = {}
        self._references: dict[tuple[str, str], list[list[float]]] = {}
        self._classifiers: dict[str, Classifier] = {}

    @staticmethod
    def _tokenizer(kind: str) -> Any:
        if kind == "deberta":
            return ref.deberta_tokenizer()
        if kind == "bert+example":
            return ref.bert_tokenizer_with_example_token()
        return ref.bert_tokenizer()

    def checkpoint(self, case: Case) -> tuple[Any, Any, Path]:
        """(official model, tokenizer, folder written by the official save_pretrained)."""
        key = case.checkpoint_key()
        if key not in self._checkpoints:
            tokenizer = self._tokenizer(case.tokenizer)
            backbone_overrides = {"vocab_size": len(tokenizer), **case.backbone_overrides}
            vocab = backbone_overrides.pop("vocab_size")
            backbone = ref.encoder_config(case.backbone, vocab, **backbone_overrides)
            label_backbone = ref.encoder_config("bert", len(tokenizer), hidden_size=24) if case.label_encoder else None
            folder = self.root / f"ckpt{len(self._checkpoints)}"
            model, folder = ref.build_official_checkpoint(
                folder, tokenizer, backbone, label_backbone=label_backbone, seed=case.seed, std=case.std,
                std_by_prefix=case.std_by_prefix, **case.options,
            )
            self._checkpoints[key] = (model, tokenizer, folder)
        return self._checkpoints[key]

    def classifier(self, case: Case) -> Classifier:
        key = case.checkpoint_key()
        if key not in self._classifiers:
            self._classifiers[key] = Classifier.from_pretrained(self.checkpoint(case)[2], device="cpu")
        return self._classifiers[key]

    def reference(self, case: Case, call_name: str) -> list[list[float]]:
        key = (case.checkpoint_key() + case.reference, call_name)
        if key not in self._references:
            model, tokenizer, _ = self.checkpoint(case)
            call = ref.CALLS[call_name]
            compute = ref.official_scores_label_by_label if case.reference == "label_by_label" else ref.official_scores
            self._references[key] = compute(
                model, tokenizer, ref.TEXTS, call.labels, forward_kwargs=case.forward_kwargs, **call.kwargs()
            )
        return self._references[key]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """Tiny models gain nothing from intra-op threads, and OpenMP spinning makes them slow on a busy 2-core box.
    Module-scoped (the shared ``one_torch_thread`` is per test) so the module-scoped references use it too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("official_options"))


def uniclass_scores(clf: Classifier, call_name: str, batch_size: int = UNICLASS_BATCH) -> list[list[float]]:
    call = ref.CALLS[call_name]
    return clf.scores(ref.TEXTS, call.labels, batch_size=batch_size, **call.kwargs())


# ============================================================================================== parity
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_scores_equal_official(workspace: Workspace, case: Case) -> None:
    """Every call of the case gives the official batch-size-1 scores within 1e-5, uniclass running padded batches."""
    clf = workspace.classifier(case)
    expected = {call_name: workspace.reference(case, call_name) for call_name in case.calls}
    ref.assert_informative(expected, case.id)
    diffs = {name: ref.max_abs_diff(scores, uniclass_scores(clf, name)) for name, scores in expected.items()}
    worst = max(diffs.values())
    assert worst <= TOLERANCE, f"{case.id}: max |Δscore| per call: " + ", ".join(f"{k}={v:.2e}" for k, v in diffs.items())


# ============================================================================================== the tests can fail
@pytest.mark.parametrize(
    ("case_id", "attribute", "wrong_value", "call_name"),
    [
        ("pool-avg", "pooling_strategy", "first", "L8"),
        ("pool-max-etf", "extract_text_features", False, "L8"),
        ("pool-last-etf", "extract_text_features", False, "L3"),
        ("ctp-average-emb-pf", "class_token_pooling", "first", "L8"),
        ("ctp-first-noemb-textfirst", "embed_class_token", True, "L8"),
        ("ctp-average-etf", "extract_text_features", False, "L8"),
        ("ctp-first-emb-pf", "prompt_first", False, "L8"),
        ("scorer-hopfield-fixed", "max_labels_alloc", "dynamic", "per_text"),
        ("scorer-hopfield-alloc12", "max_labels_alloc", "dynamic", "per_text"),
        ("norm", "normalize_features", False, "L8"),
        ("layer1", "encoder_layer_id", -1, "L8"),
        ("seg-examples", "use_segment_embeddings", False, "L3_examples"),
        ("bi-avg", "pooling_strategy", "first", "EQ8"),
    ],
)
def test_wrong_option_is_detected(workspace: Workspace, case_id: str, attribute: str, wrong_value: Any, call_name: str) -> None:
    """Negative control: loading the checkpoint with one option changed moves the scores far beyond the tolerance.

    Proves the parity cases exercise each option (a no-op implementation of it would fail them).
    """
    case = CASES_BY_ID[case_id]
    expected = workspace.reference(case, call_name)
    clf = Classifier.from_pretrained(workspace.checkpoint(case)[2], device="cpu")
    setattr(clf.config, attribute, wrong_value)  # the config object is shared by the model and input builder
    assert ref.max_abs_diff(expected, uniclass_scores(clf, call_name)) > 1e-3


@pytest.mark.parametrize("case_id", ["pool-avg", "pool-max-etf", "lstm-avg", "scorer-hopfield"])
def test_official_batched_scores_depend_on_padding(workspace: Workspace, case_id: str) -> None:
    """Negative control: the official pipeline at batch size 4 differs from batch size 1 on these texts.

    So the padded uniclass batches in the parity tests really test mask-aware pooling (and label-slot masking
    for hopfield's per-text label lists), and uniclass is what is batch-invariant.
    """
    case = CASES_BY_ID[case_id]
    model, tokenizer, _ = workspace.checkpoint(case)
    call_name = "per_text" if case.options.get("scorer_type") == "hopfield" else "L8"
    call = ref.CALLS[call_name]
    batched = ref.official_scores(model, tokenizer, ref.TEXTS, call.labels, batch_size=4, **call.kwargs())
    expected = workspace.reference(case, call_name)
    assert ref.max_abs_diff(batched, expected) > 1e-3
    clf = workspace.classifier(case)
    assert ref.max_abs_diff(uniclass_scores(clf, call_name, batch_size=1), uniclass_scores(clf, call_name)) <= 1e-6


# ============================================================================================== official crashes
def test_crossattn_lstm_extract_text_features_official_crash(workspace: Workspace) -> None:
    """cross-attn + use_lstm + extract_text_features: the official forward crashes at any batch size.

    Its BiLSTM output is only as long as the text part while the scorer's key mask keeps the full sequence
    length, so scaled_dot_product_attention raises. There is no official score to compare with; uniclass
    must still give finite, informative, batch-invariant scores.
    """
    case = Case("pool-pass-crossattn-lstm-etf", {**CROSS_ATTN, "use_lstm": True, "extract_text_features": True})
    model, tokenizer, _ = workspace.checkpoint(case)
    with pytest.raises(RuntimeError):
        ref.official_scores(model, tokenizer, ref.TEXTS, ref.LABELS_3)
    clf = workspace.classifier(case)
    one, padded = uniclass_scores(clf, "L8", batch_size=1), uniclass_scores(clf, "L8")
    assert ref.max_abs_diff(one, padded) <= 1e-6
    ref.assert_informative({"L8": padded, "L3": uniclass_scores(clf, "L3")}, case.id)


@pytest.mark.parametrize(
    "case",
    [
        # the official LayerwiseAttention is sized for L layers but fed the L+1 hidden states
        Case("squeeze-layers", {"squeeze_layers": True}),
        # "pass" keeps token vectors, which only the cross-attn scorer reads (and only it needs them)
        Case("pass-simple", {"pooling_strategy": "pass"}),
        Case("avg-crossattn", {**CROSS_ATTN, "pooling_strategy": "avg"}),
        # bi-encoders pool labels with the same "pass"; encoder-decoder-cls has a single text vector
        Case("bi-crossattn", {"architecture_type": "bi-encoder", **CROSS_ATTN}, label_encoder=True),
        Case("fused-crossattn", {"architecture_type": "bi-encoder-fused", **CROSS_ATTN}, label_encoder=True),
        Case("edcls-crossattn", {"architecture_type": "encoder-decoder-cls", **CROSS_ATTN}, backbone="t5-encdec"),
        # scorers and the LSTM are built with the projector width but receive encoder-width vectors
        Case("width48-mlp", {"hidden_size": 48, "scorer_type": "mlp"}),
        Case("width48-lstm", {"hidden_size": 48, "use_lstm": True}),
    ],
    ids=lambda case: case.id,
)
def test_official_crash_is_refused_at_load(workspace: Workspace, case: Case) -> None:
    """Configurations the official forward cannot run: uniclass refuses them at load with a clear ValueError."""
    model, tokenizer, folder = workspace.checkpoint(case)
    with pytest.raises((RuntimeError, ValueError)):
        ref.official_scores(model, tokenizer, ref.TEXTS[:2], ref.LABELS_3)
    with pytest.raises(ValueError, match="not supported|only works with|needs pooling_strategy|supports that"):
        Classifier.from_pretrained(folder, device="cpu")


# ============================================================================================== official loads uniclass
@pytest.mark.parametrize(
    "case_id",
    ["lstm-max-etf-pf", "scorer-weighted-dot-avg-pf", "ctp-average-noemb-etf", "seg-examples-pf-etf", "t5-avg-etf-pf",
     "bi", "fused-pf", "ed", "edcls-hopfield"],
)
def test_official_loads_uniclass_save(workspace: Workspace, tmp_path: Path, case_id: str) -> None:
    """``Classifier.save_pretrained`` writes a folder the official package loads and scores identically.

    Official ``GLiClassModel.from_pretrained`` + ``AutoTokenizer.from_pretrained`` on the uniclass-saved folder,
    official pipeline at batch size 1, must equal uniclass on the original checkpoint, and uniclass must load
    its own save unchanged.
    """
    case = CASES_BY_ID[case_id]
    clf = workspace.classifier(case)
    out = clf.save_pretrained(tmp_path / "saved")
    with ref.quiet():
        official = gliclass.GLiClassModel.from_pretrained(str(out))
    tokenizer = ref.load_tokenizer(out)
    reloaded = Classifier.from_pretrained(out, device="cpu")
    for call_name in ("L8", "per_text", "L3_examples", "per_text_single"):
        call = ref.CALLS[call_name]
        expected = uniclass_scores(clf, call_name)
        got = ref.official_scores(official, tokenizer, ref.TEXTS, call.labels, forward_kwargs=case.forward_kwargs,
                                  **call.kwargs())
        assert ref.max_abs_diff(expected, got) <= TOLERANCE, call_name
        assert ref.max_abs_diff(expected, uniclass_scores(reloaded, call_name)) <= 1e-6, call_name
