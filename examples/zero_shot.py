"""Zero-shot classification with the bundled default model: multi-label, single-label, per-label thresholds.

Run: python examples/zero_shot.py [--model PATH_OR_HUB_ID]
"""

from __future__ import annotations

import argparse

from uniclass import Classifier

REVIEWS = [
    "I loved the battery life",
    "The screen cracked in a week",
    "Terrible service, I want a refund",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder or hub id (default: the bundled model)")
    args = parser.parse_args()
    clf = Classifier.from_pretrained(args.model)

    # Single-label: a softmax over the labels, the best one per text.
    for text, answer in zip(REVIEWS, clf.classify(REVIEWS, ["positive", "negative"], multi_label=False)):
        print(f"{text!r}: {answer[0]['label']} ({answer[0]['score']:.2f})")

    # Multi-label: every label whose own score reaches its threshold (0.5 unless given per label). Asking more of
    # "negative" drops it where the model is less sure of it than of "complaint".
    labels = ["positive", "negative", "complaint"]
    default = clf.classify(REVIEWS, labels)
    strict = clf.classify(REVIEWS, labels, threshold={"negative": 0.6})
    for text, loose_answer, strict_answer in zip(REVIEWS, default, strict):
        print(f"{text!r}: {[item['label'] for item in loose_answer]} -> {[item['label'] for item in strict_answer]}")


if __name__ == "__main__":
    main()
