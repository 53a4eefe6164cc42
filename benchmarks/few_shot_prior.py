"""Few-shot (8 examples per label) on the protocol sets: fit and label prototypes against the cheap alternatives.

Issue 12 item 4. For each set one seeded split (``split``: 8 training texts per label, then up to ``--test`` test
texts from the rest, the same for every row) and these rows, single-label argmax macro-F1:

* ``embedding zero-shot``: the checkpoint's prior alone (``EmbeddingPrior.logits``: its template, ensemble and
  reference standardisation as ``prior.json`` says; with the first prior, plain cosine to "This text is about
  {label}.");
* ``prototype baseline``: the prior alone with label prototypes (the L2-normalised mean of the prompt vector and the
  8 example vectors, set as ``fit`` sets them); ``prototypes pw=K``: the prompt counted K times;
* ``v2 zero-shot`` / ``v2 + fit``: the model alone (``prior=False``), before and after ``Classifier.fit``;
* ``fused zero-shot``: model logits + the prior's logits (what ``Classifier.from_pretrained(model)`` gives);
* ``fused + prototypes``: the same with prototypes (what ``fit(finetune=False)``, the default, gives);
* ``fused + prototypes + fit``: fitted model logits + the prior's logits with prototypes (``fit(finetune=True)``).

The prior's logits come from the library itself (``EmbeddingPrior.load`` with the checkpoint's ``prior.json``,
prototypes set with ``training.fit.prototype_examples`` and ``EmbeddingPrior.set_prototypes`` as ``fit`` does) and
are added to the model's logits as ``Engine.with_prior`` adds them; the calibration (a shift and a temperature)
does not change argmax. Only the GLiClass model's logits are cached (under ``--cache``, ``runs/``, ignored): each
model runs once per set with ``prior=False`` and an interrupted run resumes. Reproduce:

    python benchmarks/few_shot_prior.py --model src/uniclass/models/uniclass-minilm --test 300 --recipes ''

Writes ``benchmarks/results/few_shot_prior.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uniclass.backends.embedding import EmbeddingPrior, PriorSpec
from uniclass_lab.bench.common import repo_relative_paths
from uniclass.evaluation.runner import few_shot_split as split  # the same seeded split in every few-shot study
from uniclass.data.formats import Example
from uniclass.evaluation.metrics import single_label_report
from uniclass.training.fit import prototype_examples

SELECTION = ("bbc_news", "rotten_tomatoes", "foldoc", "gcide_eval", "roget", "debates_party")
REPORT_ONLY = ("political_statements", "amazon_food")
PROMPT_WEIGHTS = (0.0, 1.0, 2.0, 4.0)


def macro_f1(scores: np.ndarray, labels: list[str], test: list[Example]) -> float:
    gold = [e.true_labels[0] for e in test]
    predicted = [labels[int(i)] for i in scores.argmax(axis=1)]
    return float(single_label_report(gold, predicted, sorted(labels))["macro_f1"])


def cached(path: Path, compute: Any) -> np.ndarray:
    if path.is_file():
        return np.load(path)
    value = np.asarray(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


def model_logits(clf: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    predictions = clf.predict(texts, labels, multi_label=False, batch_size=16)
    return np.array([p.logits for p in predictions], dtype=np.float64)


def prior_logits(prior: EmbeddingPrior, texts: list[str], labels: list[str]) -> np.ndarray:
    """``[N, L]``: the prior's logits for every text against the same labels (the library's own computation)."""
    return np.stack(prior.logits(texts, [labels] * len(texts)))


def with_prototypes(prior: EmbeddingPrior, train: list[Example], labels: list[str], prompt_weight: float) -> EmbeddingPrior:
    """``prior`` with one prototype per label from its training texts, exactly as ``fit(finetune=False)`` sets them."""
    prior.clear_prototypes()
    examples = prototype_examples([e.text for e in train], [e.true_labels[:1] for e in train], labels)
    prior.set_prototypes(examples, prompt_weight=prompt_weight)
    return prior


def fit_logits(args: argparse.Namespace, recipe: dict[str, Any], train: list[Example], test: list[Example], labels: list[str]) -> np.ndarray:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(args.model, device="cpu", max_length=256, prior=False)
    recipe = dict(recipe)
    cap = recipe.pop("step_cap")  # transformers' max_steps overrides the epochs, so cap only the large sets
    recipe["max_steps"] = min(cap, math.ceil(len(train) / recipe["batch_size"]) * math.ceil(recipe["epochs"]))
    start = time.perf_counter()
    clf.fit([e.text for e in train], [e.true_labels[0] for e in train], all_labels=labels, multi_label=False,
            seed=args.seed, **recipe)
    print(f"    fit {recipe} in {time.perf_counter() - start:.0f} s", flush=True)
    return model_logits(clf, [e.text for e in test], labels)


RECIPES: dict[str, dict[str, Any]] = {
    # LoRA r=8 (merged), batch 8, softmax loss; at most 60 steps so that 8 sets fit 2 shared CPU cores
    # (roget: 320 texts = 40 steps per epoch, so it sees 1.5 epochs; the small sets see all 5).
    "lora-5e-4": {"epochs": 5, "learning_rate": 5e-4, "batch_size": 8, "lora": True, "step_cap": 60},
    "lora-1e-4": {"epochs": 5, "learning_rate": 1e-4, "batch_size": 8, "lora": True, "step_cap": 60},
}

def run_set(name: str, args: argparse.Namespace, prior: EmbeddingPrior, clf: Any) -> dict[str, float]:
    from uniclass_lab.eval_data import load_eval_data

    examples = load_eval_data(name)
    train, test = split(examples, args.shots, args.test, args.seed)
    labels = list(test[0].all_labels)
    cache = args.cache / f"{name}-s{args.seed}-k{args.shots}-t{args.test}"
    texts = [e.text for e in test]
    start = time.perf_counter()
    zero = cached(cache / "v2_zero.npy", lambda: model_logits(clf, texts, labels))
    print(f"  {name}: {len(train)} train, {len(test)} test, {len(labels)} labels, zero-shot in {time.perf_counter() - start:.0f} s", flush=True)
    prior.clear_prototypes()
    plain = prior_logits(prior, texts, labels)
    row = {"embedding zero-shot": macro_f1(plain, labels, test), "v2 zero-shot": macro_f1(zero, labels, test),
           "fused zero-shot": macro_f1(zero + plain, labels, test)}
    proto = {pw: prior_logits(with_prototypes(prior, train, labels, pw), texts, labels) for pw in PROMPT_WEIGHTS}
    prior.clear_prototypes()
    for pw, extra in proto.items():
        suffix = "" if pw == 1.0 else f" pw={pw:g}"
        row["prototype baseline" if pw == 1.0 else f"prototypes pw={pw:g}"] = macro_f1(extra, labels, test)
        row["fused + prototypes" + suffix] = macro_f1(zero + extra, labels, test)
    for recipe in args.recipes:
        fitted = cached(cache / f"fit_{recipe}.npy", lambda r=recipe: fit_logits(args, RECIPES[r], train, test, labels))
        row[f"v2 + fit [{recipe}]"] = macro_f1(fitted, labels, test)
        row[f"fused + fit [{recipe}]"] = macro_f1(fitted + plain, labels, test)
        for pw, extra in proto.items():
            suffix = "" if pw == 1.0 else f" pw={pw:g}"
            row[f"fused + prototypes + fit [{recipe}]{suffix}"] = macro_f1(fitted + extra, labels, test)
    return row


def main() -> None:
    from uniclass import Classifier

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint folder with prior.json")
    parser.add_argument("--sets", default=",".join(SELECTION + REPORT_ONLY))
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", default=",".join(RECIPES), help="fit recipes (names in RECIPES), '' for none")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("runs/few_shot_prior"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "few_shot_prior.json")
    args = parser.parse_args()
    args.recipes = [r for r in args.recipes.split(",") if r]
    torch.set_num_threads(args.threads)
    spec = PriorSpec.load(args.model)
    if spec is None:
        raise SystemExit(f"{args.model} has no prior.json")
    prior = EmbeddingPrior.load(spec, args.model)
    clf = Classifier.from_pretrained(args.model, device="cpu", max_length=256, prior=False)
    rows = {name: run_set(name, args, prior, clf) for name in args.sets.split(",")}
    selection = [n for n in rows if n in SELECTION]
    means = {"selection mean": {k: float(np.mean([rows[n][k] for n in selection])) for k in rows[selection[0]]}} if selection else {}
    if len(rows) > len(selection):
        means["mean of all"] = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    setup = repo_relative_paths(vars(args) | {"out": str(args.out), "cache": str(args.cache), "prior": spec.to_dict(),
                                              "fit_recipes": {r: RECIPES[r] for r in args.recipes}, "command": " ".join(sys.argv)})
    args.out.write_text(json.dumps({"setup": setup, "rows": rows, "means": means}, indent=2, default=str) + "\n")
    columns = list(rows) + list(means)
    table = rows | means
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for key in next(iter(rows.values())):
        print(f"| {key} | " + " | ".join(f"{table[c][key]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
