"""Build tiny random checkpoints with the official ``gliclass`` package and compute its reference scores.

Shared by the parity tests. Everything here runs offline: the backbones are tiny random ``transformers``
configs, the tokenizers come from ``tests/fixtures/parity`` (they already contain ``<<LABEL>>``/``<<SEP>>``).

Recipe (the one used for the committed parity fixtures): build ``gliclass.GLiClassModelConfig`` around a
tiny backbone config, instantiate ``gliclass.GLiClassModel`` (no ``from_pretrained``), redraw every parameter
from a seeded normal distribution so that scores spread out, and save it with the official
``save_pretrained`` next to the tokenizer.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    DebertaV2Config,
    ModernBertConfig,
    MPNetConfig,
    PretrainedConfig,
    T5Config,
)
from transformers.utils import logging as hf_logging

FIXTURES = Path(__file__).parent / "fixtures" / "parity"
BERT_TOKENIZER_DIR = FIXTURES / "uni_bert_default"  # WordPiece, <<LABEL>>=387, <<SEP>>=388, len 389
DEBERTA_TOKENIZER_DIR = FIXTURES / "uni_deberta_default"  # Unigram, <<LABEL>>=355, <<SEP>>=356, len 357
LABEL_TOKENIZER_DIR = "label_tokenizer"

# ---------------------------------------------------------------------------------------------- inputs
LONG_TEXT = (
    "Scientists warn that rising global temperatures will increase the frequency of droughts, floods and "
    "wildfires across every continent. The government announced a new policy on renewable energy, solar panels "
    "and wind farms, while critics argue that the plan is too slow and far too expensive for ordinary families. "
    "Farmers, doctors and teachers all say the weather has changed their daily work: harvests are smaller, heat "
    "waves send more patients to hospital, and schools close during storms. Economists expect housing prices and "
    "insurance costs to rise in coastal cities, and the stock market has already reacted to the news with sharp "
    "swings in energy shares. Meanwhile, students organised marches in Paris, Rome and Tokyo to demand faster "
    "action on climate change, and several companies promised to cut their emissions before the end of the "
    "decade. Local councils are now planting trees, repairing dams and building shelters, but many residents "
    "still wonder whether these measures will arrive in time to protect their homes and their children."
)
TEXTS: list[str] = [
    "I absolutely loved this phone; the battery lasts two days and the camera is superb.",
    "",
    LONG_TEXT,
    "Café in Zürich serves naïve crème brûlée — très bien! 😊",
    "ok",
    "How do I reset my password if I no longer have access to my email account?",
]
LABELS_1 = ["positive sentiment"]
LABELS_3 = ["sports", "finance", "technology"]
LABELS_8 = [
    "sports",
    "business and finance",
    "science",
    "health care",
    "customer complaint",
    "travel & food",
    "politics",
    "question",
]
# one label list per text, of different lengths (1 to 8 labels)
PER_TEXT_LABELS: list[list[str]] = [
    LABELS_3,
    LABELS_1,
    LABELS_8,
    ["food", "travel"],
    ["yes", "no", "maybe", "other", "unknown"],
    LABELS_8[:7],
]
PROMPT = "Classify the topic of this text:"
EXAMPLES = [
    {"text": "The striker scored twice in the derby.", "labels": ["sports"]},
    {"text": "Shares of the chip maker jumped 8% after earnings.", "labels": ["finance", "technology"]},
]

PER_TEXT_PROMPTS = ["Classify the topic of this text:", "", "What is this about?", "Topic:", "", "Intent:"]
PER_TEXT_EXAMPLES: list[list[dict[str, Any]] | None] = [EXAMPLES, None, [EXAMPLES[0]], None, [EXAMPLES[1]], EXAMPLES]
# 8 labels that are each a single word piece in the fixture BERT tokenizer: a bi-encoder's official label batch
# then has no padding, so label-padding-sensitive poolings (avg, max, last...) can be compared directly.
EQUAL_LENGTH_LABELS = ["finance", "technology", "science", "politics", "health", "travel", "music", "weather"]


@dataclass(frozen=True)
class Call:
    """One classification request: the labels and the options given to both implementations."""

    labels: Any
    prompt: Any = None
    examples: Any = None
    multi_label: bool = True

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``Classifier.scores`` and of ``official_scores`` alike."""
        return {"prompt": self.prompt, "examples": self.examples, "multi_label": self.multi_label}


CALLS: dict[str, Call] = {
    "L1": Call(LABELS_1),
    "L3": Call(LABELS_3),
    "L8": Call(LABELS_8),
    "per_text": Call(PER_TEXT_LABELS),
    "L8_prompt": Call(LABELS_8, prompt=PROMPT),
    "L3_examples": Call(LABELS_3, examples=EXAMPLES),
    "per_text_prompts_examples": Call(PER_TEXT_LABELS, prompt=PER_TEXT_PROMPTS, examples=PER_TEXT_EXAMPLES),
    "L8_single": Call(LABELS_8, multi_label=False),
    "per_text_single": Call(PER_TEXT_LABELS, prompt=PROMPT, multi_label=False),
    "EQ8": Call(EQUAL_LENGTH_LABELS),
    "EQ8_prompt_single": Call(EQUAL_LENGTH_LABELS, prompt=PROMPT, multi_label=False),
}


# ---------------------------------------------------------------------------------------------- tokenizers
@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence transformers' warnings about the GLiClass config.json and the official package's prints."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)


def load_tokenizer(path: str | Path) -> Any:
    with quiet():
        return AutoTokenizer.from_pretrained(str(path))


def bert_tokenizer() -> Any:
    return load_tokenizer(BERT_TOKENIZER_DIR)


def deberta_tokenizer() -> Any:
    return load_tokenizer(DEBERTA_TOKENIZER_DIR)


def bert_tokenizer_with_example_token() -> Any:
    """The BERT tokenizer plus ``<<EXAMPLE>>`` (id 389), for segment embeddings with examples."""
    tokenizer = bert_tokenizer()
    tokenizer.add_tokens(["<<EXAMPLE>>"], special_tokens=True)
    return tokenizer


# ---------------------------------------------------------------------------------------------- backbones
_DEBERTA_V3 = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "relative_attention": True,
    "position_buckets": 64,
    "max_relative_positions": -1,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": ["p2c", "c2p"],
    "position_biased_input": False,
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-7,
    "pad_token_id": 0,
}


def encoder_config(kind: str, vocab_size: int, hidden_size: int = 32, **overrides: Any) -> PretrainedConfig:
    """A tiny random backbone config: ``bert``, ``deberta``, ``modernbert``, ``mpnet``, ``t5`` or ``t5-encdec``.

    Every config uses ``pad_token_id=0`` (the pad id of both fixture tokenizers) and allows 1024 positions.
    """
    common = {"vocab_size": vocab_size, "pad_token_id": 0}
    if kind == "bert":
        config: PretrainedConfig = BertConfig(
            hidden_size=hidden_size,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=1024,
            **common,
        )
    elif kind == "deberta":
        config = DebertaV2Config(**{**_DEBERTA_V3, "hidden_size": hidden_size, **common})
    elif kind == "modernbert":
        # local_attention 64 < long text length, so the sliding-window layers really slide
        config = ModernBertConfig(
            hidden_size=hidden_size,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=1024,
            local_attention=64,
            global_attn_every_n_layers=2,
            bos_token_id=2,
            eos_token_id=3,
            cls_token_id=2,
            sep_token_id=3,
            attn_implementation="eager",
            **common,
        )
    elif kind == "mpnet":
        config = MPNetConfig(
            hidden_size=hidden_size,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=1026,
            bos_token_id=2,
            eos_token_id=3,
            **common,
        )
    elif kind in ("t5", "t5-encdec"):
        config = T5Config(
            d_model=hidden_size,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=2,
            relative_attention_num_buckets=16,
            decoder_start_token_id=0,
            eos_token_id=3,
            is_encoder_decoder=kind == "t5-encdec",
            **common,
        )
    else:
        raise ValueError(f"unknown backbone kind {kind!r}")
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


# ---------------------------------------------------------------------------------------------- checkpoints
def randomize_(model: torch.nn.Module, seed: int, std: float, std_by_prefix: dict[str, float] | None = None) -> None:
    """Redraw every parameter from N(0, std) with a fixed seed (shared tensors are drawn once).

    ``std_by_prefix`` gives another std to parameters whose name starts with a prefix (e.g. a smaller one for
    wide scorer MLPs, whose logits would otherwise saturate every sigmoid).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            if name.endswith("logit_scale"):
                continue  # keep logit_scale_init_value: a random ~0.1 multiplier would squash bi-encoder scores
            scale = next((v for k, v in (std_by_prefix or {}).items() if name.startswith(k)), std)
            param.copy_(torch.randn(param.shape, generator=generator) * scale)


def build_official_checkpoint(
    folder: Path,
    tokenizer: Any,
    backbone: PretrainedConfig,
    *,
    label_backbone: PretrainedConfig | None = None,
    label_tokenizer: Any = None,
    seed: int = 0,
    std: float = 0.3,
    std_by_prefix: dict[str, float] | None = None,
    **options: Any,
) -> tuple[Any, Path]:
    """Create, randomize and save an official ``gliclass.GLiClassModel``; return ``(model, folder)``.

    ``options`` are ``GLiClassModelConfig`` keyword arguments (``pooling_strategy``, ``scorer_type`` ...).
    Bi-encoders get ``label_backbone`` and their label tokenizer in ``folder/label_tokenizer``;
    ``label_model_name`` is that absolute path so the official pipeline finds it.
    """
    import gliclass

    folder.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "encoder_config": copy.deepcopy(backbone),
        "class_token_index": tokenizer.convert_tokens_to_ids("<<LABEL>>"),
        "text_token_index": tokenizer.convert_tokens_to_ids("<<SEP>>"),
        "problem_type": "multi_label_classification",
        # the official uni-encoder looks for an adapter_config.json under this path; like the fixtures, a
        # relative path that does not exist (loading must not need it)
        "encoder_model": f"backbones/tiny-{backbone.model_type}",
    }
    if "<<EXAMPLE>>" in tokenizer.get_vocab():
        kwargs["example_token_index"] = tokenizer.convert_tokens_to_ids("<<EXAMPLE>>")
    if label_backbone is not None:
        label_dir = folder / LABEL_TOKENIZER_DIR
        (label_tokenizer or tokenizer).save_pretrained(str(label_dir))
        kwargs["label_model_config"] = copy.deepcopy(label_backbone)
        kwargs["label_model_name"] = str(label_dir.resolve())
    kwargs.update(options)
    with quiet():
        config = gliclass.GLiClassModelConfig(**kwargs)
        model = gliclass.GLiClassModel(config)
    randomize_(model, seed, std, std_by_prefix)
    model.eval()
    with quiet():
        model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return model, folder


# ---------------------------------------------------------------------------------------------- reference scores
@contextlib.contextmanager
def forward_defaults(model: Any, **extra: Any) -> Iterator[None]:
    """Temporarily add keyword arguments to every ``model(...)`` call the official pipeline makes.

    Used for ``encoder_layer_id``: the official uni-encoder reads ``outputs.hidden_states[encoder_layer_id]`` but
    forwards ``output_hidden_states=None``, which transformers 5 treats as "off" (even when the backbone config
    says True), so the official pipeline raises ``TypeError: 'NoneType' object is not subscriptable``. Passing
    ``output_hidden_states=True`` is what the official forward needs to run; it does not change the logits.
    """
    if not extra:
        yield
        return
    original = model.forward
    model.forward = functools.partial(original, **extra)
    try:
        yield
    finally:
        del model.forward  # back to the class method


def official_pipeline(model: Any, tokenizer: Any) -> Any:
    import gliclass

    with quiet():
        return gliclass.ZeroShotClassificationPipeline(
            model, tokenizer, max_length=1024, classification_type="multi-label", device="cpu", progress_bar=False
        )


def official_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]],
    *,
    multi_label: bool = True,
    forward_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> list[list[float]]:
    """Official scores at batch size 1, per text in label order.

    Multi-label: with ``threshold=0.0`` the official result lists every label (sigmoid >= 0) in label order.
    Single-label: the official result keeps only the best label, so the softmax over all labels is read from
    ``return_hierarchical=True`` (which fills in the score of every label).
    ``forward_kwargs`` are added to every official model call (see ``forward_defaults``).
    """
    pipe = official_pipeline(model, tokenizer)
    per_text = [list(labels)] * len(texts) if isinstance(labels[0], str) else [list(x) for x in labels]
    call = {"threshold": 0.0, "batch_size": kwargs.pop("batch_size", 1), **kwargs}
    if not multi_label:
        call.update(classification_type="single-label", return_hierarchical=True)
    with quiet(), forward_defaults(model, **(forward_kwargs or {})):
        results = pipe(list(texts), labels, **call)
    out = []
    for result, text_labels in zip(results, per_text, strict=True):
        if multi_label:
            assert [item["label"] for item in result] == text_labels, "official result is not every label in order"
            out.append([float(item["score"]) for item in result])
        else:
            assert list(result) == text_labels, "official hierarchical result is not every label in order"
            out.append([float(result[label]) for label in text_labels])
    return out


def official_scores_label_by_label(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]],
    *,
    multi_label: bool = True,
    forward_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> list[list[float]]:
    """Official multi-label scores with each (text, label) pair in its own call (batch size 1, one label).

    For models whose label vector does not depend on the other labels (bi-encoders with a label-wise scorer),
    this is the official score of every label "as if encoded alone", free of the official label padding.
    """
    assert multi_label, "a softmax over labels cannot be computed one label at a time"
    per_text = [list(labels)] * len(texts) if isinstance(labels[0], str) else [list(x) for x in labels]
    prompts, examples = kwargs.pop("prompt", None), kwargs.pop("examples", None)
    out = []
    for i, (text, text_labels) in enumerate(zip(texts, per_text, strict=True)):
        prompt = prompts[i] if isinstance(prompts, list) else prompts
        text_examples = examples[i] if examples and all(e is None or isinstance(e, list) for e in examples) else examples
        out.append(
            [
                official_scores(
                    model, tokenizer, [text], [label], forward_kwargs=forward_kwargs, prompt=prompt,
                    examples=text_examples, **kwargs,
                )[0][0]
                for label in text_labels
            ]
        )
    return out


def max_abs_diff(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    assert len(a) == len(b), (len(a), len(b))
    worst = 0.0
    for row_a, row_b in zip(a, b, strict=True):
        assert len(row_a) == len(row_b), (row_a, row_b)
        for x, y in zip(row_a, row_b, strict=True):
            assert math.isfinite(x) and math.isfinite(y), (x, y)
            worst = max(worst, abs(x - y))
    return worst


def assert_informative(scores_by_call: dict[str, Sequence[Sequence[float]]], what: str) -> None:
    """Fail when reference scores are degenerate, so that matching them would prove little.

    Every call must give scores that are not all equal (std > 1e-4, ten times the parity tolerance); over all
    calls, a quarter of the scores must be unsaturated (strictly inside (1e-3, 1 - 1e-3)), and some call must
    show scores varying over the labels of a text and over texts for the same label (std > 1e-3).
    """
    flat_all: list[float] = []
    over_labels = over_texts = 0.0
    for name, scores in scores_by_call.items():
        flat = [s for row in scores for s in row]
        assert _std(flat) > 1e-4, f"{what}/{name}: all scores are equal"
        flat_all += flat
        over_labels = max([over_labels] + [_std(row) for row in scores if len(row) > 1])
        width = min(len(row) for row in scores)
        if len(scores) > 1:
            over_texts = max([over_texts] + [_std([row[j] for row in scores]) for j in range(width)])
    inside = sum(1e-3 < s < 1 - 1e-3 for s in flat_all)
    assert inside >= len(flat_all) // 4, f"{what}: too few unsaturated scores ({inside}/{len(flat_all)})"
    assert over_labels > 1e-3, f"{what}: scores do not vary over labels"
    assert over_texts > 1e-3, f"{what}: scores do not vary over texts"


def _std(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


logging.getLogger("gliclass").setLevel(logging.ERROR)
