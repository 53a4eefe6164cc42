"""Diagnose label bias of a GLiClass model on the dev sets (the analysis behind RESULTS.md §2).

For each dev set: how often each label is predicted vs how often it is true (single-label argmax), and the
macro-F1 after subtracting the logits of a content-free input ("contextual calibration", Zhao et al. 2021),
which removes a per-label bias that does not depend on the text.

    python benchmarks/label_bias.py --model src/uniclass/models/uniclass-minilm --limit 300
"""

from __future__ import annotations

import argparse
import collections
import json
import warnings

import numpy as np

from uniclass import Classifier
from uniclass.evaluation.metrics import single_label_report
from uniclass_lab.corpora import DEV_SETS
from uniclass_lab.eval_data import load_eval_data

CONTENT_FREE = "N/A"


def macro_f1(gold: list[str], predicted: list[str], labels: list[str]) -> float:
    return single_label_report(gold, predicted, labels)["macro_f1"]


def analyse(clf: Classifier, name: str, limit: int, max_length: int) -> dict:
    data = load_eval_data(name, limit, seed=0)
    labels = list(data[0].all_labels)
    gold = [example.true_labels[0] for example in data]
    logits = np.array([p.logits for p in clf.predict([e.text for e in data], labels, multi_label=False,
                                                     max_length=max_length)])
    bias = np.array(clf.predict([CONTENT_FREE], labels, multi_label=False)[0].logits)
    predicted = [labels[i] for i in logits.argmax(1)]
    debiased = [labels[i] for i in (logits - bias).argmax(1)]
    return {
        "set": name,
        "macro_f1": macro_f1(gold, predicted, labels),
        "macro_f1_content_free": macro_f1(gold, debiased, labels),
        "predicted_counts": dict(collections.Counter(predicted).most_common()),
        "true_counts": dict(collections.Counter(gold).most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the bundled model)")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*did not fit.*")
    clf = Classifier.from_pretrained(args.model)
    for name in DEV_SETS:
        print(json.dumps(analyse(clf, name, args.limit, args.max_length)), flush=True)


if __name__ == "__main__":
    main()
