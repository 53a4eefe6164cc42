"""``uniclass-multilingual`` on the English protocol of the default model (``benchmarks/protocol_v4.json``).

The same test texts as ``benchmarks/v4_study.py``: every single-label set of protocol v4 (selection and
report-only), loaded by ``v4_study.load_set``, split by ``few_shot_split(examples, 8, 200, seed 0)``, of which the
200 test texts are scored zero-shot (the 8 support texts per label are not used). Metric: macro-F1 of argmax over
the set's label names (``uniclass_lab.selection_suite.evaluate_set``), then the mean over the selection sets, the
report-only sets and all of them. Scorers:

* ``uniclass-multilingual`` and ``uniclass-minilm`` (the bundled default, prior on), through ``Classifier``;
* ``e5 similarity``: multilingual-e5-small (the registry backbone), cosine of mean-pooled ``"query: <text>"`` and
  ``"query: This text is about <label>."`` (the baseline of ``recipes/multilingual_protocol.json``, e5's own
  convention);
* ``e5 similarity, no prefix``: the same backbone in the lab's ``EmbeddingBaseline`` as it is (text vs
  "This text is about {label}.");
* ``MiniLM similarity``: ``EmbeddingBaseline`` on all-MiniLM-L6-v2 (``selection_suite.minilm_baseline``).

Every (scorer, set) result is written to ``--out`` as soon as it exists, so a killed run resumes where it stopped::

    OMP_NUM_THREADS=2 python benchmarks/multilingual_english.py --out benchmarks/results/multilingual_english.json

``--variant NAME=DIR`` scores a delta folder written by ``recipes/train_multilingual.py --write-all`` under NAME
(only the variants run when ``--scorers`` is not given; the rows already in ``--out`` are kept).

Build the two v4 sets once first (``python benchmarks/v4_study.py sets --chatterbot DIR --cldr DIR``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uniclass_lab.baselines import EmbeddingBaseline  # research code: PYTHONPATH=lab
from uniclass_lab.selection_suite import evaluate_set, minilm_baseline
from v4_study import PROTOCOL, load_set  # next to this file

from uniclass.evaluation.runner import few_shot_split

SETS = [*PROTOCOL["selection"], *PROTOCOL["report_only"]]


class PrefixedEmbeddingBaseline(EmbeddingBaseline):
    """``EmbeddingBaseline`` with a string put before every text and every label prompt (e5's ``"query: "``)."""

    def __init__(self, model_path: str, prefix: str, max_length: int = 256):
        super().__init__(model_path, max_length)
        self.prefix = prefix

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return super().embed([self.prefix + text for text in texts], batch_size)


def scorers() -> dict[str, Callable[[], Any]]:
    from uniclass import Classifier
    from uniclass.modeling.registry_backbones import backbone_folder

    def e5(prefix: str) -> Callable[[], Any]:
        return lambda: PrefixedEmbeddingBaseline(str(backbone_folder("multilingual-e5-small")), prefix)

    return {
        "uniclass-multilingual": lambda: Classifier.from_pretrained("uniclass-multilingual", device="cpu"),
        "e5 similarity": e5("query: "),
        "e5 similarity, no prefix": e5(""),
        "uniclass-minilm": lambda: Classifier.from_pretrained("uniclass-minilm", device="cpu"),
        "MiniLM similarity": minilm_baseline,
    }


def _classifier(folder: str) -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(folder, device="cpu")


def test_split(name: str) -> list[Any]:
    _, test = few_shot_split(load_set(name), PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
    return test


def summarise(per_set: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def mean(names: list[str]) -> float | None:
        values = [per_set[n]["macro_f1"] for n in names if n in per_set]
        return round(float(np.mean(values)), 4) if len(values) == len(names) else None

    return {"selection_mean": mean(PROTOCOL["selection"]), "report_only_mean": mean(PROTOCOL["report_only"]),
            "mean": mean(SETS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multilingual_english.json"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scorers", default=None, help="comma-separated subset of the scorers (default all)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="also score the model folder DIR under NAME (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    protocol = "benchmarks/protocol_v4.json, single-label sets, few_shot_split(8, 200, seed 0) test texts"
    result.update({"protocol": protocol, "sets": SETS})
    scores = result.setdefault("scores", {})
    data = {name: test_split(name) for name in SETS}
    chosen = scorers()
    variants = dict(v.split("=", 1) for v in args.variant)
    for name, folder in variants.items():
        chosen[name] = lambda folder=folder: _classifier(folder)
    names = args.scorers.split(",") if args.scorers else list(variants) or list(chosen)
    for scorer_name in names:
        per_set = scores.setdefault(scorer_name, {}).setdefault("per_set", {})
        todo = [s for s in SETS if s not in per_set]
        if not todo:
            continue
        scorer = chosen[scorer_name]()
        for set_name in todo:
            start = time.perf_counter()
            per_set[set_name] = evaluate_set(scorer, data[set_name], multi_label=False)
            scores[scorer_name].update(summarise(per_set))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(f"{scorer_name}\t{set_name}\tmacro-F1 {per_set[set_name]['macro_f1']:.4f}\t"
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        del scorer
    for scorer_name in names:
        print(scorer_name, json.dumps({k: v for k, v in scores[scorer_name].items() if k != "per_set"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
