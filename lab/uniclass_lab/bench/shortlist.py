"""Large label sets (issue 14): retriever recall, shortlisting throughput and accuracy against full scoring.

    python -m uniclass_lab.bench.shortlist recall    # recall@k of the two retrievers (model's own encoder, MiniLM)
    python -m uniclass_lab.bench.shortlist speed     # texts/s at 1..10,000 labels, 256-token texts: full vs shortlist
    python -m uniclass_lab.bench.shortlist accuracy  # macro-F1 full vs shortlist: FOLDOC (all domains), WordNet topics

Label sets and texts come from the cached corpora of :mod:`uniclass_lab.corpora` (fetched on first use):

* ``foldoc_all``: FOLDOC definitions with *every* first domain tag as a label (120 labels: the 122 tags but "jargon",
  a register, not a subject; the 15 frequent ones keep the readable names of ``FOLDOC_DOMAINS``, and the tags
  "communications" and "telecommunications" both become "telecommunications");
* ``wordnet_topics_all``: WordNet glosses -> topic domain, all 414 domains of the corpus as the candidates;
* speed label sets of 1,000 and 10,000 labels: WordNet hypernym labels (``wordnet`` corpus), most frequent first.

Results: ``benchmarks/results/shortlist/<what>.json`` and ``.md``; the numbers are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import functools
import gzip
import json
import random
import sys
import time
from typing import Any

import numpy as np

from .common import markdown_table, measure, quiet_transformers, run_header, set_threads, setup_lines, write_results

OUT = "benchmarks/results/shortlist"
RECALL_KS = (1, 2, 4, 8, 16, 24, 32, 48, 64)


# ====================================================================== data
def foldoc_all(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """(texts, true labels, all labels): ``n`` FOLDOC definitions drawn at random, labels = every domain but jargon."""
    from ..corpora import FOLDOC_DOMAINS, fetch
    from ..corpora.foldoc import parse_foldoc_entry, read_dictd_index

    fetch("foldoc")
    from ..corpora import default_cache_dir

    raw = default_cache_dir() / "raw" / "foldoc" / "root/usr/share/dictd"
    data = gzip.decompress((raw / "foldoc.dict.dz").read_bytes())
    items = []
    for offset, length in sorted({(o, ln) for _, o, ln in read_dictd_index(raw / "foldoc.index")}):
        parsed = parse_foldoc_entry(data[offset : offset + length].decode("utf-8", errors="replace"))
        if parsed and parsed[0] != "jargon":
            items.append((parsed[1], FOLDOC_DOMAINS.get(parsed[0], parsed[0])))
    labels = sorted({label for _, label in items})
    random.Random(seed).shuffle(items)
    return [t for t, _ in items[:n]], [y for _, y in items[:n]], labels


def wordnet_topics_all(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """(texts, first true label, all 414 topic labels): WordNet glosses drawn at random."""
    rows = _jsonl("wordnet_topics")
    labels = sorted({label for r in rows for label in r["true_labels"]})
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    return [r["text"] for r in rows], [r["true_labels"][0] for r in rows], labels


def wordnet_labels(n: int) -> list[str]:
    """``n`` WordNet hypernym labels, most frequent first (ties by name): the 1,000/10,000-label speed sets."""
    counts = collections.Counter(label for r in _jsonl("wordnet") for label in r["true_labels"])
    ranked = sorted(counts, key=lambda label: (-counts[label], label))
    if n > len(ranked):
        raise ValueError(f"only {len(ranked)} WordNet labels, asked for {n}")
    return ranked[:n]


def _jsonl(name: str) -> list[dict[str, Any]]:
    from ..corpora import fetch

    with open(fetch(name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


DATASETS = {"foldoc_all": foldoc_all, "wordnet_topics_all": wordnet_topics_all}


# ====================================================================== recall
def run_recall(args: argparse.Namespace) -> dict[str, Any]:
    """recall@k of each retriever on each data set, and the seconds each spends encoding the texts."""
    from uniclass.classifier import Classifier
    from uniclass.shortlist import LabelIndex, TextEncoder, minilm_encoder, model_encoder, recall_at_k

    clf = Classifier.from_pretrained(args.model, device="cpu")
    results: dict[str, Any] = {}
    for tokens in args.text_tokens:
        encoders: dict[str, TextEncoder] = {
            "model": model_encoder(clf.model, clf.tokenizer, max_length=tokens),
            "model+prompt": model_encoder(clf.model, clf.tokenizer, max_length=tokens),
            "minilm": minilm_encoder(max_length=tokens),
        }
        encoders["model+prompt"].label_prompt = "This text is about {}."
        for data_name in args.datasets:
            texts, truth, labels = DATASETS[data_name](args.texts, args.seed)
            for name, encoder in encoders.items():
                index = LabelIndex.build(labels, encoder)
                start = time.perf_counter()
                vectors = encoder.encode_texts(texts)
                seconds = time.perf_counter() - start
                ranks = index.ranks(vectors, [[y] for y in truth])
                key = f"{data_name}/{name}/{tokens}"
                results[key] = {"data": data_name, "retriever": name, "text_tokens": tokens, "labels": len(labels),
                                "texts": len(texts), "precision": encoder.precision, "encode_s": round(seconds, 3),
                                "recall": recall_at_k(ranks, list(RECALL_KS))}
                print(key, json.dumps(results[key]["recall"]), f"{seconds:.1f}s", file=sys.stderr)
    header = run_header(args.threads, texts=args.texts, seed=args.seed, model=args.model or "bundled default")
    rows = [[r["data"], r["labels"], r["retriever"], r["text_tokens"], r["precision"],
             *[f"{r['recall'][k]:.3f}" for k in RECALL_KS]] for r in results.values()]
    md = setup_lines(header) + "\n" + markdown_table(
        ["data", "labels", "retriever", "text tokens", "precision", *[f"R@{k}" for k in RECALL_KS]], rows) + "\n"
    payload = {**header, "results": results}
    payload["files"] = {k: str(v) for k, v in write_results(args.out, args.name or "recall", payload, md).items()}
    return payload


def _k(value: str, n_labels: int) -> int:
    from uniclass.shortlist import default_k

    return min(n_labels, default_k(n_labels) if value == "auto" else int(value))


# ====================================================================== speed
def run_speed(args: argparse.Namespace) -> dict[str, Any]:
    """texts/s of full scoring and of shortlisting per label count, on 256-token synthetic texts, one process."""
    from uniclass.classifier import Classifier
    from .workloads import synthetic_texts, token_count

    clf = Classifier.from_pretrained(args.model, device="cpu")
    texts = synthetic_texts(clf.tokenizer, 256, args.speed_texts, seed=args.seed)
    pool = wordnet_labels(max(args.label_counts))
    rows: dict[str, Any] = {}
    one_label = lambda: clf.scores(texts, pool[:1], batch_size=args.batch_size)  # noqa: E731
    for n in sorted(args.label_counts):
        labels = pool[:n]
        # The 1-label baseline is timed again next to every row: on a shared machine the load drifts, and the
        # ratios (the targets) are only meaningful between timings taken close together.
        base = measure(one_label, items=len(texts), repeats=args.repeats).per_second
        full_texts = texts if n <= 128 else texts[: (args.full_texts_10k if n >= 10000 else max(args.full_texts_10k, 4))]
        full = measure(functools.partial(clf.scores, full_texts, labels, batch_size=args.batch_size), items=len(full_texts),
                       repeats=args.repeats if n <= 128 else 1, warmup=1 if n <= 128 else 0)
        row = {"labels": n, "one_label_per_s": round(base, 4), "full": {**full.as_dict(), "ratio_to_1_label": full.per_second / base}}
        k = _k(args.shortlist, n)
        if k < n:
            start = time.perf_counter()
            clf.label_index(labels)  # built once (the cost a registered label set pays once)
            row["index_build_s"] = round(time.perf_counter() - start, 3)
            short = measure(functools.partial(clf.scores, texts, labels, shortlist=k, batch_size=args.batch_size),
                            items=len(texts), repeats=args.repeats)
            base_after = measure(one_label, items=len(texts), repeats=args.repeats).per_second
            row["one_label_after_per_s"] = round(base_after, 4)
            mean_base = (base + base_after) / 2
            row["shortlist"] = {**short.as_dict(), "k": k, "ratio_to_1_label": short.per_second / mean_base}
        rows[str(n)] = row
        print(json.dumps({"labels": n, "one_label_per_s": round(base, 2), "full_per_s": round(full.per_second, 2),
                          "shortlist": row.get("shortlist", {}).get("items_per_s"),
                          "ratio": row.get("shortlist", {}).get("ratio_to_1_label")}), file=sys.stderr)
    retriever = clf._retriever(clf._default_retriever())
    header = run_header(args.threads, batch_size=args.batch_size, texts=len(texts), model=args.model or "bundled default",
                        text_tokens=[token_count(clf.tokenizer, t) for t in texts[:3]], max_length=clf.max_length,
                        retriever=retriever.name, retriever_text_tokens=retriever.max_length,
                        retriever_precision=retriever.precision, shortlist=args.shortlist,
                        label_source="WordNet hypernym labels (wordnet corpus), most frequent first")
    table = [[r["labels"], f"{r['one_label_per_s']:.2f}", f"{r['full']['items_per_s']:.2f}", r["full"]["items"], f"{r['full']['ratio_to_1_label']:.2f}",
              r.get("shortlist", {}).get("k", "-"),
              f"{r['shortlist']['items_per_s']:.2f}" if "shortlist" in r else "-",
              f"{r['shortlist']['ratio_to_1_label']:.2f}" if "shortlist" in r else "-"] for r in rows.values()]
    md = setup_lines(header) + "\n" + markdown_table(
        ["labels", "1-label texts/s (same minute)", "full texts/s", "full: texts timed", "full / 1-label", "k", "shortlist texts/s", "shortlist / 1-label"],
        table) + "\n"
    payload = {**header, "results": rows}
    payload["files"] = {k: str(v) for k, v in write_results(args.out, args.name or "speed", payload, md).items()}
    return payload


# ====================================================================== accuracy
def run_accuracy(args: argparse.Namespace) -> dict[str, Any]:
    """Single-label macro-F1 of full scoring and of shortlisting (default k, fitted k, fixed k) on the same texts."""
    from uniclass.classifier import Classifier
    from uniclass.evaluation.metrics import single_label_report

    clf = Classifier.from_pretrained(args.model, device="cpu")
    results: dict[str, Any] = {}
    for data_name in args.datasets:
        texts, truth, labels = DATASETS[data_name](args.texts * 2, args.seed)
        dev_texts, dev_truth, texts, truth = texts[: args.texts], truth[: args.texts], texts[args.texts :], truth[args.texts :]
        fitted = clf.fit_shortlist(dev_texts, dev_truth, labels, recall=0.98)  # k on a disjoint sample
        start = time.perf_counter()
        full = clf.predict(texts, labels, multi_label=False, batch_size=args.batch_size)
        full_s = time.perf_counter() - start
        full_top = [p.labels[int(np.argmax(p.scores))] for p in full]
        out = {"labels": len(labels), "texts": len(texts), "fit_texts": len(dev_texts), "fitted_k": fitted.k,
               "fit_recall_curve": fitted.recall_curve, "full": _report(single_label_report(truth, full_top, labels), full_s)}
        ks = {"auto (default k)": _k("auto", len(labels)), f"fitted k (recall 0.98 on {len(dev_texts)} other texts)": fitted.k}
        for extra in args.extra_k:
            ks[f"k={extra}"] = extra
        for name, k in ks.items():
            start = time.perf_counter()
            short = clf.predict(texts, labels, multi_label=False, batch_size=args.batch_size, shortlist=k)
            seconds = time.perf_counter() - start
            top = [p.labels[int(np.argmax(p.scores))] for p in short]
            full_scores = [dict(zip(p.labels, p.scores, strict=True)) for p in full]
            out[name] = {"k": k, **_report(single_label_report(truth, top, labels), seconds),
                         "agreement_with_full": float(np.mean([a == b for a, b in zip(top, full_top, strict=True)])),
                         "true_label_shortlisted": float(np.mean([y in p.labels for y, p in zip(truth, short, strict=True)])),
                         "full_top_shortlisted": float(np.mean([y in p.labels for y, p in zip(full_top, short, strict=True)])),
                         "mean_abs_top_score_diff": float(np.mean([abs(max(p.scores) - f[p.labels[int(np.argmax(p.scores))]])
                                                                   for p, f in zip(short, full_scores, strict=True)]))}
        results[data_name] = out
        print(data_name, json.dumps(out), file=sys.stderr)  # each set's full numbers as soon as they exist
    retriever = clf._retriever(clf._default_retriever())
    header = run_header(args.threads, batch_size=args.batch_size, texts=args.texts, seed=args.seed,
                        model=args.model or "bundled default", max_length=clf.max_length, retriever=retriever.name,
                        retriever_text_tokens=retriever.max_length, retriever_precision=retriever.precision,
                        mode="single-label (softmax over the scored labels)")
    table = []
    for data_name, out in results.items():
        for name, r in out.items():
            if isinstance(r, dict) and "macro_f1" in r:
                table.append([data_name, out["labels"], name, r.get("k", out["labels"]), f"{r['macro_f1']:.4f}",
                              f"{r['accuracy']:.4f}", f"{r['macro_f1'] - out['full']['macro_f1']:+.4f}",
                              f"{r.get('agreement_with_full', 1.0):.3f}", f"{r.get('true_label_shortlisted', 1.0):.3f}",
                              f"{r.get('full_top_shortlisted', 1.0):.3f}", f"{r['seconds']:.1f}"])
    md = setup_lines(header) + "\n" + markdown_table(
        ["data", "labels", "scoring", "k", "macro-F1", "accuracy", "Δ macro-F1", "same top label as full",
         "true label shortlisted", "full's top shortlisted", "seconds"], table) + "\n"
    payload = {**header, "results": results}
    payload["files"] = {k: str(v) for k, v in write_results(args.out, args.name or "accuracy", payload, md).items()}
    return payload


def _report(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {"macro_f1": report["macro_f1"], "accuracy": report["accuracy"], "seconds": round(seconds, 2)}


# ====================================================================== command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uniclass_lab.bench.shortlist", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["recall", "speed", "accuracy"])
    parser.add_argument("--model", default=None, help="uni-encoder checkpoint (default: the bundled model)")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--name", default=None,
                        help="results file stem (default: the command, e.g. accuracy -> accuracy.json/.md); "
                             "lets a run on another data set sit next to the committed one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=400, help="texts per data set (recall, accuracy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--text-tokens", type=int, nargs="+", default=[64], help="recall: retriever text lengths")
    parser.add_argument("--shortlist", default="auto", help="accuracy/speed: k or auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--speed-texts", type=int, default=32, help="speed: texts per call")
    parser.add_argument("--full-texts-10k", type=int, default=2, help="speed: texts for full scoring at 10,000 labels")
    parser.add_argument("--label-counts", type=int, nargs="+", default=[1, 8, 128, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra-k", type=int, nargs="*", default=[32, 64], help="accuracy: fixed k to compare too")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    quiet_transformers()
    payload = {"recall": run_recall, "speed": run_speed, "accuracy": run_accuracy}[args.what](args)
    print(json.dumps({k: v for k, v in payload.items() if k == "files"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
