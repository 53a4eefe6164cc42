"""Cost per text of uniclass-multilingual against uniclass-minilm, fp32 and bf16, in one run (same machine, same load).

    OMP_NUM_THREADS=2 python recipes/throughput_multilingual.py --texts 64 --rounds 3

Texts are built-in short sentences in six languages (about 15-25 tokens), 8 English labels, ``classify`` in
batches of 16 after one warm-up batch; rounds alternate between the models so that a change in machine load
hits both. Prints one JSON line per (model, precision) with texts/s and ms per text (median over rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

SENTENCES = [
    "The striker scored twice in the second half.", "Die Zentralbank hat die Zinsen erneut erhöht.",
    "El nuevo teléfono tiene una batería que dura dos días.", "O governo anunciou novas regras para o orçamento.",
    "このレストランのラーメンはとても美味しかった。", "这部电影的结局让我非常感动。",
    "My laptop will not start after the update.", "Le médecin m'a conseillé de dormir davantage.",
]
LABELS = ["sports", "economy", "technology", "politics", "food", "movies", "health", "travel"]


def measure(name: str, precision: str, texts: list[str]) -> float:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(name, device="cpu", precision=precision)
    clf.classify(texts[:16], LABELS, batch_size=16)  # warm-up (and the label cache of the bi-encoder)
    start = time.perf_counter()
    clf.classify(texts, LABELS, batch_size=16)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["uniclass-minilm", "uniclass-multilingual"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    texts = [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(args.texts)]
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for precision in args.precisions:
            for model in args.models:
                rates.setdefault((model, precision), []).append(measure(model, precision, texts))
    for (model, precision), values in rates.items():
        rate = statistics.median(values)
        print(json.dumps({"model": model, "precision": precision, "texts_per_s": round(rate, 2),
                          "ms_per_text": round(1000 / rate, 1), "rounds": [round(v, 2) for v in values],
                          "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
