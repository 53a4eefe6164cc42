"""Few-shot: teach the default model a support-ticket task from two examples per label with `fit`, then save it.

With the default model, `fit` sets a label prototype in its embedding-similarity prior (seconds, no fine-tuning).

Run: python examples/few_shot.py [--out support-model]
"""

from __future__ import annotations

import argparse

from uniclass import Classifier

LABELS = ["billing", "delivery", "account access"]
TRAIN = [
    ("I was charged twice this month", "billing"),
    ("Why is there an extra fee on my invoice?", "billing"),
    ("My parcel never arrived", "delivery"),
    ("The courier left the box at the wrong door", "delivery"),
    ("I cannot log in since the update", "account access"),
    ("The password reset link does not work", "account access"),
]
NEW = ["The refund has not reached my card", "The package is stuck at the depot", "It says my account is locked"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="support-model", help="folder to save the fitted model in")
    args = parser.parse_args()
    clf = Classifier.from_pretrained()

    texts, truth = zip(*TRAIN)
    clf.fit(list(texts), list(truth), all_labels=LABELS)
    for text, answer in zip(NEW, clf.classify(NEW, LABELS, multi_label=False)):
        print(f"{text!r}: {answer[0]['label']}")

    # The prototypes are saved with the checkpoint and come back on load.
    clf.save_pretrained(args.out)
    reloaded = Classifier.from_pretrained(args.out)
    print(f"saved to {args.out}; reloaded: {reloaded.classify(NEW[0], LABELS, multi_label=False)[0]['label']}")


if __name__ == "__main__":
    main()
