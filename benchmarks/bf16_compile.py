"""Does ``torch.compile`` (inductor, freezing on) help the bf16 forward, with or without the oneDNN-fused layers?

One process, the bundled model's GLiClass network (``prior=False``), ``--texts`` synthetic ~256-token texts x 8
labels, one batch, ``--threads`` threads. Four classifiers: plain bf16 (``apply_precision(fuse=False)``), plain +
compile, fused bf16 (``precision="bf16"``), fused + compile; each compiled one is compiled once with
``dynamic=True`` (the compile time is printed), then every mode is timed in ``--rounds`` interleaved rounds and the
per-round texts/s are printed and written to ``--out``. RESULTS.md §8.2 quotes it. Reproduce::

    python benchmarks/bf16_compile.py --rounds 3 --out benchmarks/results/bf16_compile.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from uniclass import Classifier
from uniclass.backends.precision import apply_precision
from uniclass_lab.bench.common import run_header
from uniclass_lab.bench.workloads import LABELS_8, synthetic_texts


def load(fused: bool) -> Classifier:
    if fused:
        return Classifier.from_pretrained(device="cpu", prior=False, precision="bf16")
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    apply_precision(clf.backend.model, "bf16", fuse=False)
    clf.backend.precision = "bf16"
    return clf


def compiled(clf: Classifier, texts: list[str], labels: list[str]) -> float:
    """Compile the forward (freezing on: weights are constants, oneDNN prepacking); return the first call's seconds."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    clf.backend.compile = True
    start = time.perf_counter()
    clf.scores(texts, labels)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bf16_compile.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {"plain bf16": load(False), "plain bf16 + compile": load(False),
              "fused bf16": load(True), "fused bf16 + compile": load(True)}
    texts, labels = synthetic_texts(models["fused bf16"].tokenizer, 256, args.texts), list(LABELS_8)
    with torch.inference_mode():
        reference = np.array(models["plain bf16"].scores(texts, labels))
        compile_s = {name: compiled(clf, texts, labels) for name, clf in models.items() if name.endswith("compile")}
        max_diff = {name: float(np.abs(np.array(clf.scores(texts, labels)) - reference).max())
                    for name, clf in models.items()}
        rounds = []
        for _ in range(args.rounds):
            row = {}
            for name, clf in models.items():
                start = time.perf_counter()
                clf.scores(texts, labels)
                row[name] = len(texts) / (time.perf_counter() - start)
            rounds.append(row)
            print(json.dumps({k: round(v, 1) for k, v in row.items()}), flush=True)
    payload = {"header": run_header(args.threads), "command": " ".join(["python", *sys.argv]), "texts": len(texts),
               "compile_seconds": compile_s, "max_abs_diff_vs_plain_bf16": max_diff, "rounds": rounds}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({"compile_seconds": compile_s, "max_abs_diff_vs_plain_bf16": max_diff}))


if __name__ == "__main__":
    main()
