"""Default model v4 study: confidence (calibration), few-shot signal weighting, on protocol v4's sets.

The sets and their roles are fixed in ``benchmarks/protocol_v4.md`` / ``protocol_v4.json`` (written before any
result). Two steps:

    python benchmarks/v4_study.py collect --cache runs/v4_cache          # model logits + MiniLM vectors, cached
    python benchmarks/v4_study.py calibration --cache runs/v4_cache      # -> benchmarks/results/v4_calibration.json
    python benchmarks/v4_study.py few-shot --cache runs/v4_cache         # -> benchmarks/results/v4_few_shot.json

``collect`` runs the bundled default model once per text with ``prior=False`` (its logits ``u``) and its prior's
MiniLM embedder once per text (unit vectors ``x``) and per label (prompt vectors ``p`` with the reference offsets),
on 8 support texts per label and 200 test texts (``few_shot_split``, seed 0); every variant after that is numpy on
the cache. The fused zero-shot logits ``u + 80 * centred standardised cosine`` are checked against
``Classifier.from_pretrained()`` (prior on) on the first test texts of every set. Every variant evaluated is appended
to ``benchmarks/results/v4_variants.log`` (one line each).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from uniclass.evaluation.runner import few_shot_split
from uniclass_lab.corpora.base import default_cache_dir  # research code: PYTHONPATH=lab or pip install -e lab/
from uniclass_lab.eval_data import load_eval_data
from uniclass.data.formats import Example, load_examples

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = json.loads((ROOT / "benchmarks" / "protocol_v4.json").read_text())
VARIANT_LOG = ROOT / "benchmarks" / "results" / "v4_variants.log"

CHATTERBOT_TOPICS = {
    "ai": "artificial intelligence", "coding": "programming", "computers": "computers", "emotion": "emotions",
    "food": "food", "greetings": "greetings", "health": "health", "history": "history", "humor": "humor",
    "literature": "literature", "money": "money", "movies": "movies", "politics": "politics",
    "psychology": "psychology", "science": "science", "sports": "sports", "tech_support": "tech support",
    "trivia": "trivia",
}


# ====================================================================== the two new sets (protocol v4)
def _jsonl(path: Path, items: list[tuple[str, str]], labels: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for text, label in items:
            out.write(json.dumps({"text": text, "all_labels": labels, "true_labels": [label]}, ensure_ascii=False) + "\n")
    return path


def chatterbot_topics(raw: Path) -> Path:
    """``chatterbot_corpus/data/english/<topic>.yml`` -> one item per conversation (``raw``: the unpacked wheel)."""
    import yaml

    out = default_cache_dir() / "v4" / "chatterbot_topics.jsonl"
    if out.is_file():
        return out
    items = []
    for stem, label in CHATTERBOT_TOPICS.items():
        data = yaml.safe_load((raw / "chatterbot_corpus" / "data" / "english" / f"{stem}.yml").read_text(encoding="utf-8"))
        for conversation in data["conversations"]:
            text = " ".join(str(line).strip() for line in conversation if str(line).strip())
            if text:
                items.append((text, label))
    return _jsonl(out, items, sorted(set(CHATTERBOT_TOPICS.values())))


def cldr_emoji_groups(raw: Path) -> Path:
    """English CLDR emoji names -> emoji group (``raw``: unicode-cldr-core and unicode-data extracted with dpkg -x)."""
    import re

    out = default_cache_dir() / "v4" / "cldr_emoji_groups.jsonl"
    if out.is_file():
        return out
    names = dict(re.findall(r'<annotation cp="([^"]+)" type="tts">([^<]+)</annotation>',
                            (raw / "usr/share/unicode/cldr/common/annotations/en.xml").read_text(encoding="utf-8")))
    items, group = [], None
    for line in (raw / "usr/share/unicode/emoji/emoji-test.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip().lower().replace("&", "and")
        elif "; fully-qualified" in line and group != "component":
            codes = line.split(";")[0].split()
            emoji = "".join(chr(int(c, 16)) for c in codes)
            if emoji in names:
                items.append((names[emoji].strip(), group))
    return _jsonl(out, items, sorted({label for _, label in items}))


def load_set(name: str) -> list[Example]:
    if name in ("chatterbot_topics", "cldr_emoji_groups"):
        return load_examples(default_cache_dir() / "v4" / f"{name}.jsonl")
    return load_eval_data(name)


# ====================================================================== collect
def embed_terms(prior: Any, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    prompts = prior.prompt_vectors(labels)
    bias, factor = prior.label_offsets(prompts)
    return prompts, bias, factor


def model_logits(clf: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    return np.array([p.logits for p in clf.predict(texts, labels, multi_label=False, batch_size=16)], dtype=np.float64)


def collect(args: argparse.Namespace) -> None:
    import torch

    from uniclass import Classifier

    torch.set_num_threads(args.threads)
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    fused = Classifier.from_pretrained(device="cpu")
    prior = fused.prior
    args.cache.mkdir(parents=True, exist_ok=True)
    names = args.sets.split(",") if args.sets else [*PROTOCOL["selection"], *PROTOCOL["report_only"], "gcide_multi"]
    for name in names:
        path = args.cache / f"{name}.npz"
        if path.is_file():
            continue
        start = time.perf_counter()
        examples = load_set(name)
        labels = list(examples[0].all_labels)
        if name == "gcide_multi":
            order = np.random.default_rng(PROTOCOL["seed"]).permutation(len(examples))
            half = len(order) // 2
            test = [examples[i] for i in order[: min(half, PROTOCOL["test"])]] + \
                   [examples[i] for i in order[half : half + PROTOCOL["test"]]]
            support: list[Example] = []
            part = np.array([0] * min(half, PROTOCOL["test"]) + [1] * (len(test) - min(half, PROTOCOL["test"])))
        else:
            support, test = few_shot_split(examples, PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
            part = np.zeros(len(test), dtype=int)
        if any(list(e.all_labels) != labels for e in examples):
            raise SystemExit(f"{name}: items with different label lists")
        gold = np.array([[1.0 if label in e.true_labels else 0.0 for label in labels] for e in test])
        sgold = np.array([labels.index(e.true_labels[0]) for e in support], dtype=int)
        texts, stexts = [e.text for e in test], [e.text for e in support]
        u_test = model_logits(clf, texts, labels)
        u_sup = model_logits(clf, stexts, labels) if stexts else np.zeros((0, len(labels)))
        x_test = prior.embedder.embed(texts)
        x_sup = prior.embedder.embed(stexts) if stexts else np.zeros((0, prior.embedder.dim), np.float32)
        prompts, bias, factor = embed_terms(prior, labels)
        # the check: these arrays give the library's fused logits (prior on) exactly
        check = np.array([p.logits for p in fused.predict(texts[:4], labels, multi_label=False)])
        mine = u_test[:4] + zero_shot_prior(x_test[:4], prompts, bias, factor, prior.spec.weight)
        err = float(np.abs(check - mine).max())
        if err > 1e-3:
            raise SystemExit(f"{name}: cached arrays do not reproduce the library's logits (max diff {err})")
        np.savez(path, labels=np.array(labels), gold=gold, part=part, sgold=sgold, u_test=u_test, u_sup=u_sup,
                 x_test=x_test, x_sup=x_sup, prompts=prompts, bias=bias, factor=factor)
        print(f"{name}: {len(stexts)} support, {len(texts)} test, {len(labels)} labels, "
              f"{time.perf_counter() - start:.0f} s (check max diff {err:.1e})", flush=True)


def zero_shot_prior(x: np.ndarray, prompts: np.ndarray, bias: np.ndarray, factor: np.ndarray, weight: float) -> np.ndarray:
    cos = (x.astype(np.float64) @ prompts.astype(np.float64).T - bias[None]) * factor[None]
    return weight * (cos - cos.mean(axis=1, keepdims=True))


def load_cache(cache: Path, name: str) -> dict[str, Any]:
    data = dict(np.load(cache / f"{name}.npz"))
    data["labels"] = [str(x) for x in data["labels"]]
    return data


def log_variant(kind: str, name: str, summary: dict[str, Any]) -> None:
    with VARIANT_LOG.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, "variant": name, **summary}, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["sets", "collect", "calibration", "few-shot"])
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v4_cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default=None, help="collect: these sets only (comma-separated; default all)")
    parser.add_argument("--chatterbot", type=Path, help="the unpacked chatterbot-corpus 1.3.3 wheel (step sets)")
    parser.add_argument("--report", action="store_true", help="few-shot: score the report-only sets too (final run)")
    parser.add_argument("--rule", default="loo accuracy, ties to (1, 0, 80)", help="few-shot: the rule's name in the log")
    parser.add_argument("--cldr", type=Path, help="unicode-cldr-core + unicode-data, dpkg -x into one folder (step sets)")
    args = parser.parse_args(argv)
    if args.step == "sets":
        print(chatterbot_topics(args.chatterbot), cldr_emoji_groups(args.cldr))
    elif args.step == "collect":
        collect(args)
    elif args.step == "calibration":
        from v4_calibration import run as run_calibration  # noqa: PLC0415 (next to this file)

        run_calibration(args)
    else:
        from v4_few_shot import run as run_few_shot  # noqa: PLC0415

        run_few_shot(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
