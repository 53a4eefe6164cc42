"""Zero-shot protocol v6 (``benchmarks/protocol_v6_zero_shot.md``): an e5 similarity term for the English default.

Steps (each resumable; every encoder runs once per text, everything after is numpy on the cache):

    python benchmarks/v5_few_shot.py sets ...                       # builds the report-only sets once (see there)
    python benchmarks/v6_zero_shot.py collect --threads 2           # u, the MiniLM prior term, e5 cosines -> runs/v6_cache
    python benchmarks/v6_zero_shot.py evaluate                      # the 9 variants on the selection sets, logged
    python benchmarks/v6_zero_shot.py evaluate --only A:40 --report # the chosen variant, report-only sets once

Macro-F1 of argmax over each set's label names on the 200 test texts of ``few_shot_split(8, 200, seed 0)`` (the
texts of ``v4_study.py`` and ``v5_few_shot.py``). The cached ``u + prior`` is checked against
``Classifier.from_pretrained()`` on the first 4 texts of every set. Every variant scored is one line of
``benchmarks/results/v6_variants.log``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multilingual_english import PrefixedEmbeddingBaseline  # next to this file
from uniclass_lab.baselines import LABEL_PROMPT  # research code: PYTHONPATH=lab
from v4_study import embed_terms, model_logits, zero_shot_prior
from v5_few_shot import load_set

from uniclass.evaluation.metrics import single_label_report
from uniclass.evaluation.runner import few_shot_split

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = json.loads((ROOT / "benchmarks" / "protocol_v6_zero_shot.json").read_text())
VARIANT_LOG = ROOT / "benchmarks" / "results" / "v6_variants.log"


def collect(args: argparse.Namespace) -> None:
    import torch

    from uniclass import Classifier
    from uniclass.modeling.registry_backbones import backbone_folder

    torch.set_num_threads(args.threads)
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    fused = Classifier.from_pretrained(device="cpu")
    prior = fused.prior
    e5 = PROTOCOL["e5"]
    e5_model = PrefixedEmbeddingBaseline(str(backbone_folder("multilingual-e5-small")), e5["prefix"], e5["max_length"])
    args.cache.mkdir(parents=True, exist_ok=True)
    for name in [*PROTOCOL["selection"], *PROTOCOL["report_only"]]:
        path = args.cache / f"{name}.npz"
        if path.is_file():
            continue
        start = time.perf_counter()
        examples = load_set(name)
        labels = list(examples[0].all_labels)
        _, test = few_shot_split(examples, PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
        texts = [e.text for e in test]
        gold = np.array([labels.index(e.true_labels[0]) for e in test], dtype=int)
        u = model_logits(clf, texts, labels)
        x = prior.embedder.embed(texts)
        prompts, bias, factor = embed_terms(prior, labels)
        prior_term = zero_shot_prior(x, prompts, bias, factor, prior.spec.weight)
        check = np.array([p.logits for p in fused.predict(texts[:4], labels, multi_label=False)])
        err = float(np.abs(check - (u[:4] + prior_term[:4])).max())
        if err > 1e-3:
            raise SystemExit(f"{name}: cached arrays do not reproduce the library's logits (max diff {err})")
        minilm_cos = x.astype(np.float64) @ prior.embedder.embed([LABEL_PROMPT.format(lab) for lab in labels]).T
        e5_cos = e5_model.embed(texts).astype(np.float64) @ e5_model.embed(
            [e5["template"].format(lab) for lab in labels]
        ).astype(np.float64).T
        np.savez(path, labels=np.array(labels), gold=gold, u=u, prior=prior_term, minilm_cos=minilm_cos, e5_cos=e5_cos)
        print(f"{name}: {len(texts)} texts, {len(labels)} labels, {time.perf_counter() - start:.0f} s "
              f"(check max diff {err:.1e})", flush=True)


def centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=1, keepdims=True)


def variants() -> dict[str, Any]:
    """Every variant of the protocol, ``"A:w"`` / ``"B:w"`` -> a function of the cached arrays."""
    out: dict[str, Any] = {}
    for w in PROTOCOL["families"]["A_default_plus_e5"]["w"]:
        out[f"A:{w}"] = lambda d, w=w: d["u"] + d["prior"] + w * centred(d["e5_cos"])
    for w in PROTOCOL["families"]["B_e5_replaces_minilm_prior"]["w"]:
        out[f"B:{w}"] = lambda d, w=w: d["u"] + w * centred(d["e5_cos"])
    return out


REFERENCES = {
    "uniclass-minilm (today's default)": lambda d: d["u"] + d["prior"],
    "uni-encoder alone": lambda d: d["u"],
    "e5 similarity": lambda d: d["e5_cos"],
    "MiniLM similarity": lambda d: d["minilm_cos"],
}


def macro_f1(data: dict[str, Any], logits: np.ndarray) -> float:
    labels = [str(x) for x in data["labels"]]
    gold = [labels[i] for i in data["gold"]]
    predicted = [labels[i] for i in np.argmax(logits, axis=1)]
    return float(single_label_report(gold, predicted, sorted(labels))["macro_f1"])


def evaluate(args: argparse.Namespace) -> None:
    sets = PROTOCOL["report_only"] if args.report else PROTOCOL["selection"]
    data = {name: dict(np.load(args.cache / f"{name}.npz")) for name in sets}
    chosen = variants()
    if args.only:
        chosen = {name: chosen[name] for name in args.only.split(",")}
    rows: dict[str, dict[str, float]] = {}
    for name, score in {**REFERENCES, **chosen}.items():
        rows[name] = {s: round(macro_f1(d, score(d)), 4) for s, d in data.items()}
        rows[name]["mean"] = round(float(np.mean([rows[name][s] for s in sets])), 4)
        if name in chosen:
            with VARIANT_LOG.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"variant": name, "report": args.report, **rows[name]}) + "\n")
    write_table(rows, sets, args.report, args.out)


def write_table(rows: dict[str, dict[str, float]], sets: list[str], report: bool, out: Path | None) -> None:
    """Print one line per scorer (macro-F1 per set and the mean), and write them as JSON to ``out`` if given."""
    width = max(len(n) for n in rows)
    print(f"{'':{width}}  " + "  ".join(f"{s[:10]:>10}" for s in [*sets, "mean"]))
    for name, row in rows.items():
        print(f"{name:{width}}  " + "  ".join(f"{row[s]:10.4f}" for s in [*sets, "mean"]))
    if out:
        out.write_text(json.dumps({"report": report, "sets": sets, "rows": rows}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["collect", "evaluate"])
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v6_cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=None, help="evaluate: these variants only (comma-separated, e.g. A:40)")
    parser.add_argument("--report", action="store_true", help="evaluate: the report-only sets (once, after the choice)")
    parser.add_argument("--out", type=Path, default=None, help="evaluate: write the table as JSON here")
    args = parser.parse_args(argv)
    collect(args) if args.step == "collect" else evaluate(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
