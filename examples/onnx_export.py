"""Export a model to ONNX, then classify with ONNX Runtime only (no torch at inference).

Needs pip install "uniclass[export]" to export; the serving machine needs only "uniclass[onnx]".

Run: python examples/onnx_export.py [--model PATH_OR_HUB_ID] [--out model-onnx]
"""

from __future__ import annotations

import argparse

from uniclass import Classifier
from uniclass.exporters.onnx import export_onnx

TEXTS = ["I loved the battery life", "The screen cracked in a week"]
LABELS = ["positive", "negative"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder or hub id (default: the bundled model)")
    parser.add_argument("--out", default="model-onnx")
    args = parser.parse_args()

    # The export checks onnxruntime against torch on reference inputs and fails beyond 1e-4 on the logits.
    torch_clf = Classifier.from_pretrained(args.model)
    export_onnx(torch_clf, args.out)

    onnx_clf = Classifier.from_pretrained(args.out, backend="onnx", num_threads=1)
    onnx_scores, torch_scores = onnx_clf.scores(TEXTS, LABELS), torch_clf.scores(TEXTS, LABELS)
    difference = max(abs(a - b) for row_o, row_t in zip(onnx_scores, torch_scores) for a, b in zip(row_o, row_t))
    print(f"exported to {args.out}; max |onnx - torch| score difference: {difference:.1e}")
    print(onnx_clf.classify(TEXTS, LABELS, multi_label=False))


if __name__ == "__main__":
    main()
