"""What the default model's embedding-similarity prior costs: texts/s with and without it, same run, same texts.

    python benchmarks/prior_cost.py --texts 64 --labels 5 --threads 2

Texts are BBC News articles (``python -m uniclass_lab data fetch bbc_news``) cut to about ``--words`` words; labels are BBC's five
topics (or the first ``--labels`` of them). Each configuration is timed ``--repeats`` times, alternating, and the best
run is kept (the machine may be shared). The label-vector caches are warm (a server's steady state).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from uniclass import Classifier
from uniclass_lab.eval_data import load_eval_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--words", type=int, default=180, help="words per text (about 256 tokens)")
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    items = load_eval_data("bbc_news", args.texts, 0)
    texts = [" ".join(e.text.split()[: args.words]) for e in items]
    labels = list(items[0].all_labels)[: args.labels]
    models = {"v3 (with prior)": Classifier.from_pretrained(device="cpu"),
              "uni-encoder alone (prior=False)": Classifier.from_pretrained(device="cpu", prior=False)}
    best = {name: float("inf") for name in models}
    for clf in models.values():
        clf.scores(texts[:4], labels, batch_size=args.batch_size)  # warm-up, label caches
    for _ in range(args.repeats):
        for name, clf in models.items():
            start = time.perf_counter()
            clf.scores(texts, labels, batch_size=args.batch_size)
            best[name] = min(best[name], time.perf_counter() - start)
    result = {name: round(len(texts) / seconds, 2) for name, seconds in best.items()}
    ratio = result["v3 (with prior)"] / result["uni-encoder alone (prior=False)"]
    print(json.dumps({"texts_per_s": result, "ratio_with_prior": round(ratio, 3), "threads": args.threads,
                      "batch_size": args.batch_size, "texts": len(texts), "labels": len(labels), "words": args.words}))


if __name__ == "__main__":
    main()
