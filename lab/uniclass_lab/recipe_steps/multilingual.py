"""``uniclass-multilingual`` as code: a multilingual-e5-small bi-encoder with frozen backbones and a trained head.

Why this shape: on 2 CPU cores a 12-layer e5 training step is several seconds, so a uni-encoder would see a few
hundred steps in the time available; the bi-encoder of :mod:`uniclass.training.recipes.v3` with its projectors at
the exact identity *is* e5's cosine similarity before training, and its head trains on cached pooled vectors (one
forward pass per string). The backbones stay the registry's (``modeling.registry_backbones``), so the shipped
model is the head alone as a delta (a few MB).

Data (``uniclass.data.corpora.multilingual`` and the English training corpora), with roles fixed beforehand in
``recipes/multilingual_protocol.json``:

* CLDR emoji names of the training languages, for 70% of the emoji (hash of the codepoints), labelled with their
  English group (9) or subgroup (~95);
* chatterbot-corpus lines of the training languages, labelled with their English topic;
* VADER (English sentiment) and label distillation towards e5's vector of "This text is about {label}." over
  WordNet label names, as in v3;
* held out: every text of de, es, pt, ja, zh (report-only) and fr, ru, it (selection), and 30% of the emoji.

Everything slow (embedding strings) is cached under the run folder, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .bi_encoder import Head, Pooler, cached, softmax_loss  # noqa: F401  (cached: the recipe caches with it)

SEED = 0
BACKBONE = "multilingual-e5-small"
BACKBONE_ID = "intfloat/multilingual-e5-small"
PROTOCOL = Path(__file__).resolve().parents[3] / "recipes" / "multilingual_protocol.json"
MODEL_OPTIONS: dict[str, Any] = dict(
    pooling_strategy="avg", normalize_features=True, scorer_type="simple", logit_scale_init_value=10.0,
    hidden_size=768, projector_hidden_act="gelu", identity_projectors="exact",
)
# sizes fit an embedding budget of about 10k strings on 2 shared CPU cores (a 12-layer encoder)
CLDR_PER_LANGUAGE = 20
LABEL_VOCAB = 800
CHATTERBOT_PER_LANGUAGE = 150
EVAL_CLDR = 150
EVAL_CHATTERBOT = 200
VADER_ITEMS = 800
BASELINE_PROMPT = "query: This text is about {}."
LABEL_PROMPT = "This text is about {}."


def protocol() -> dict[str, Any]:
    return json.loads(PROTOCOL.read_text(encoding="utf-8"))


def heldout_key(key: str, share: float) -> bool:
    """The protocol's fixed split of emoji: a hash of the codepoints, not a seeded shuffle that a change could move."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF < share


# ------------------------------------------------------------------------------------------------ data
def split_items(cache: str | Path | None = None) -> tuple[list[dict], dict[str, dict[str, list[dict]]]]:
    """Training items (dicts with text, labels, true labels) and evaluation sets per language and set name."""
    from ..corpora.multilingual import chatterbot, cldr_emoji

    proto = protocol()
    excluded = set(proto["excluded_from_training"])
    evaluated = proto["report_only_languages"] + proto["selection_languages"]
    share = proto["cldr_heldout_key_share"]
    rng = random.Random(SEED)
    cldr = cldr_emoji(cache)
    groups = sorted({i.group for i in cldr})
    subgroups = sorted({i.label for i in cldr})
    train: list[dict] = []
    by_lang: dict[str, list] = defaultdict(list)
    for item in cldr:
        by_lang[item.lang].append(item)
    for lang, items in sorted(by_lang.items()):
        if lang in excluded:
            continue
        pool = [i for i in items if not heldout_key(i.key, share)]
        for i, item in enumerate(rng.sample(pool, min(CLDR_PER_LANGUAGE, len(pool)))):
            if i % 2:
                train.append({"text": item.text, "labels": groups, "true": [item.group]})
            else:
                train.append({"text": item.text, "labels": subgroups, "true": [item.label]})
    bot = chatterbot(cache)
    topics: dict[str, list[str]] = defaultdict(list)
    bot_by_lang: dict[str, list] = defaultdict(list)
    for item in bot:
        bot_by_lang[item.lang].append(item)
        if item.label not in topics[item.lang]:
            topics[item.lang].append(item.label)
    for lang, items in sorted(bot_by_lang.items()):
        if lang not in excluded and len(topics[lang]) >= 2:
            for item in rng.sample(items, min(CHATTERBOT_PER_LANGUAGE, len(items))):
                train.append({"text": item.text, "labels": sorted(topics[lang]), "true": [item.label]})
    sets: dict[str, dict[str, list[dict]]] = {}
    for lang in evaluated:
        held = [i for i in by_lang.get(lang, []) if heldout_key(i.key, share)]
        held = random.Random(f"{SEED}-{lang}").sample(held, min(EVAL_CLDR, len(held)))
        present = sorted({i.label for i in held})
        sets[lang] = {
            "cldr_group": [{"text": i.text, "labels": groups, "true": [i.group]} for i in held],
            "cldr_subgroup": [{"text": i.text, "labels": present, "true": [i.label]} for i in held],
        }
        lines = bot_by_lang.get(lang, [])
        lines = random.Random(f"{SEED}-{lang}-bot").sample(lines, min(EVAL_CHATTERBOT, len(lines)))
        if len(topics[lang]) >= 2:
            sets[lang]["chatterbot_topic"] = [{"text": i.text, "labels": sorted(topics[lang]), "true": [i.label]} for i in lines]
    return train, sets


def label_vocabulary(pooler: Any, *, prefixed: bool = False) -> dict[str, torch.Tensor]:
    """Raw and prompted vectors of ``LABEL_VOCAB`` seeded WordNet label names (v3's distillation set, smaller).

    ``prefixed``: the inputs ("raw") are the names as a prefixed pass reads them (``BASELINE_PROMPT``); the targets
    ("prompted") stay the same.
    """
    from ..corpora import fetch

    names: set[str] = set()
    for line in fetch("wordnet").read_text(encoding="utf-8").splitlines():
        names.update(json.loads(line)["all_labels"])
    vocab = sorted(names)
    random.Random(SEED).shuffle(vocab)
    vocab = sorted(vocab[:LABEL_VOCAB])
    inputs = [BASELINE_PROMPT.format(x) for x in vocab] if prefixed else vocab
    return {"raw": pooler(inputs, 64), "prompted": pooler([LABEL_PROMPT.format(x) for x in vocab], 64)}


ENGLISH_TOPIC_CORPORA = ("gcide_train", "wordnet")  # training corpora of the default model
ENGLISH_TOPIC_ITEMS = 1000  # per corpus


def english_topic_items() -> list[dict]:
    """``ENGLISH_TOPIC_ITEMS`` seeded items of each English topic/domain training corpus (the English-mix variant)."""
    from ..corpora import fetch

    items: list[dict] = []
    for name in ENGLISH_TOPIC_CORPORA:
        rows = [json.loads(line) for line in fetch(name).read_text(encoding="utf-8").splitlines()]
        random.Random(f"{SEED}-{name}").shuffle(rows)
        items += [{"text": r["text"], "labels": r["all_labels"], "true": r["true_labels"]}
                  for r in rows[:ENGLISH_TOPIC_ITEMS]]
    return items


def english_items() -> list[dict]:
    from ..corpora import fetch

    items = [json.loads(line) for line in fetch("vader").read_text(encoding="utf-8").splitlines()]
    random.Random(SEED).shuffle(items)
    return [{"text": i["text"], "labels": i["all_labels"], "true": i["true_labels"]} for i in items[:VADER_ITEMS]]


class MemoPooler:
    """A pooler that embeds each distinct string once and keeps the vectors on disk (a killed run resumes)."""

    def __init__(self, pooler: Pooler, path: Path):
        self.pooler, self.path = pooler, path
        self.memo: dict[tuple[str, int], torch.Tensor] = torch.load(path) if path.is_file() else {}

    def __call__(self, strings: list[str], max_length: int, batch: int = 64) -> torch.Tensor:
        todo = sorted({s for s in strings if (s, max_length) not in self.memo})
        for start in range(0, len(todo), 512):  # saved every 512 strings
            chunk = todo[start : start + 512]
            for text, vector in zip(chunk, self.pooler(chunk, max_length, batch), strict=True):
                self.memo[(text, max_length)] = vector.clone()
            self.save()
        return torch.stack([self.memo[(s, max_length)] for s in strings]) if strings else torch.zeros(0)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(self.memo, tmp)
        tmp.rename(self.path)


def vectorise(pooler: Pooler, items: list[dict], *, text_prefix: str = "", label_template: str = "{}") -> dict[str, Any]:
    """Pooled vectors of the items' texts and labels, and the items as index triples (as v3's ``corpus_vectors``)."""
    texts = sorted({i["text"] for i in items})
    labels = sorted({x for i in items for x in i["labels"]})
    ti = {t: k for k, t in enumerate(texts)}
    li = {x: k for k, x in enumerate(labels)}
    return {
        "text_vecs": pooler([text_prefix + t for t in texts], 96),
        "label_vecs": pooler([label_template.format(x) for x in labels], 64),
        "neg_vecs": pooler([f"not {x}" for x in labels], 64),
        "items": [(ti[i["text"]], [li[x] for x in i["labels"]], [li[x] for x in i["true"]]) for i in items],
    }


def macro_f1(gold: list[int], pred: list[int]) -> float:
    """Macro-F1 over the classes that occur in ``gold`` or ``pred``."""
    classes = set(gold) | set(pred)
    scores = []
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def evaluate(data: dict[str, Any], score: Any) -> float:
    """Macro-F1 of argmax over each item's labels; ``score(text_vec [d], label_vecs [k, d]) -> [k]``."""
    gold, pred = [], []
    with torch.no_grad():
        for text, labels, true in data["items"]:
            row = score(data["text_vecs"][text], data["label_vecs"][labels])
            pred.append(labels[int(row.argmax())])
            gold.append(true[0])
    return macro_f1(gold, pred)


def cosine(text: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.normalize(labels, dim=-1) @ F.normalize(text, dim=-1)


def head_scorer(head: Head) -> Any:
    return lambda text, labels: head.logits(head.text(text[None]), head.label(labels)[None])[0]


def summarise(scores: dict[str, dict[str, float]], languages: list[str]) -> float:
    means = [float(np.mean(list(scores[lang].values()))) for lang in languages if scores.get(lang)]
    return float(np.mean(means)) if means else float("nan")


# ------------------------------------------------------------------------------------------------ training
def item_batch(data: dict[str, Any], rng: np.random.Generator, size: int) -> tuple[torch.Tensor, ...]:
    """``size`` random items as text vectors, padded label indices, targets and mask (labels stay indices, so a
    label shared by many items is projected once per step)."""
    picks = [data["items"][rng.integers(len(data["items"]))] for _ in range(size)]
    width = max(len(labels) for _, labels, _ in picks)
    index = torch.zeros(size, width, dtype=torch.long)
    target = torch.zeros(size, width)
    mask = torch.zeros(size, width, dtype=torch.bool)
    for row, (_, labels, true) in enumerate(picks):
        index[row, : len(labels)] = torch.tensor(labels)
        target[row, : len(labels)] = torch.tensor([1.0 if x in true else 0.0 for x in labels])
        mask[row, : len(labels)] = True
    return data["text_vecs"][[text for text, _, _ in picks]], index, target, mask


def batch_logits(head: Head, data: dict[str, Any], texts: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    unique, inverse = torch.unique(index, return_inverse=True)
    labels = head.label(data["label_vecs"][unique])[inverse]  # [B, W, d]
    return head.logits(head.text(texts), labels)


def train_mixture(head: Head, tasks: list[tuple[dict[str, Any], float]], vocab: dict[str, torch.Tensor], *,
                  steps: int, batch: int, lr: float, distill: float, distill_batch: int, log: Any = print) -> None:
    """AdamW on the head: each step draws a batch from one task (by weight), softmax loss, plus label distillation."""
    params = [p for n, p in head.inner.named_parameters() if not n.startswith(("encoder_model.", "label_encoder."))]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = 0.05 * steps + 1
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, s / warmup) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(SEED)
    weights = np.array([w for _, w in tasks], dtype=float)
    head.train()
    for step in range(1, steps + 1):
        task = tasks[rng.choice(len(tasks), p=weights / weights.sum())][0]
        texts, index, target, mask = item_batch(task, rng, batch)
        loss = softmax_loss(batch_logits(head, task, texts, index), target, mask)
        if distill:
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
