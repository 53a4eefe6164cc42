"""How a few-shot label prototype should be standardised by the prior's reference (issue 12 item 4, RESULTS §10.2).

The shipped prior standardises each label's cosine against a reference corpus, ``(t.v - mu.v) / sqrt(v^T C v)``
(times ``reference_scale``), with ``v`` the label's vector; that was designed for (and its scale fitted on) label
*prompt* vectors. ``fit`` replaces the vector by a prototype (the unit mean of the prompt vector and the examples'
vectors), which lies among the text vectors. Variants, all with the prototype ``q`` as the vector the text is
compared with and the shipped weight (``p``: the label's prompt vector):

* ``own`` (shipped until this study): ``(t.q - mu.q) / sigma(q)``;
* ``prompt`` (a): the prompt's offset and factor, ``(t.q - mu.p) / sigma(p)``;
* ``raw`` (b): not standardised, ``t.q`` (the previous prior's scale: weight * centred cosine); shipped since;
* ``sigma-prompt`` (c): ``(t.q - mu.q) / sigma(p)``; ``mu-prompt``: ``(t.q - mu.p) / sigma(q)``;
* ``raw-mean-factor``: ``t.q`` times the mean factor of the set's prompt vectors (``raw`` on the standardised
  scale, so that prototype and prompt labels would be on one scale when mixed).

The GLiClass model's logits come from ``benchmarks/few_shot_prior.py``'s cache (``runs/few_shot_prior``, same split);
the embeddings are computed once per set through the library (``EmbeddingPrior``: its ``text_vectors``,
``prompt_vectors``, ``set_prototypes`` as ``fit`` sets them) and cached under ``runs/prototype_standardisation``.
The zero-shot row and the shipped variant (``SHIPPED``) are checked against ``EmbeddingPrior.logits`` (the
library's computation; the cache holds the library's logits, so delete it after changing the library). Single-label argmax
macro-F1; centring per text does not change argmax, so it is left out. Report only (not a selection criterion):
the same with prototypes for every other label (the others keep their standardised prompt vectors), the case
where the two scales meet. Reproduce (after few_shot_prior.py):

    python -m benchmarks.prototype_standardisation --model src/uniclass/models/uniclass-minilm

Writes ``benchmarks/results/prototype_standardisation.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.few_shot_prior import REPORT_ONLY, SELECTION, macro_f1, with_prototypes
from uniclass.backends.embedding import EmbeddingPrior, PriorSpec
from uniclass.evaluation.runner import few_shot_split
from uniclass_lab.eval_data import load_eval_data

SHIPPED = "raw"  # what EmbeddingPrior.logits does with a prototype
VARIANTS = ("own", "prompt", "raw", "sigma-prompt", "mu-prompt", "raw-mean-factor")
PROMPT_WEIGHTS = (0.0, 1.0, 2.0, 4.0)


def vectors(name: str, args: argparse.Namespace, prior: EmbeddingPrior) -> dict[str, np.ndarray]:
    """Test text vectors, prompt vectors, prototypes per prompt weight (cached), the model logits, gold labels."""
    examples = load_eval_data(name)
    train, test = few_shot_split(examples, args.shots, args.test, args.seed)
    labels = list(test[0].all_labels)
    tag = f"{name}-s{args.seed}-k{args.shots}-t{args.test}"
    path = args.cache / f"{tag}.npz"
    if path.is_file():
        data = dict(np.load(path))
    else:
        texts = [e.text for e in test]
        prior.clear_prototypes()
        data = {"texts": prior.text_vectors(texts), "prompts": prior.prompt_vectors(labels),
                "library_zero": np.stack(prior.logits(texts, [labels] * len(texts)))}
        for pw in PROMPT_WEIGHTS:
            with_prototypes(prior, train, labels, pw)
            data[f"proto{pw:g}"] = prior.label_vectors(labels)
            if pw == 1.0:
                data["library_proto"] = np.stack(prior.logits(texts, [labels] * len(texts)))
        prior.clear_prototypes()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **data)
    data["model"] = np.load(args.model_cache / tag / "v2_zero.npy")
    return data | {"labels": labels, "test": test}


def prior_scores(data: dict, variant: str, prior: EmbeddingPrior, pw: float) -> np.ndarray:
    """``[N, L]`` weight * (standardised) cosine of each test text with each label's prototype (uncentred)."""
    t, p, q = data["texts"].astype(np.float64), data["prompts"], data[f"proto{pw:g}"]
    bias_p, factor_p = prior.label_offsets(p)
    bias_q, factor_q = prior.label_offsets(q)
    cos = t @ q.astype(np.float64).T
    scaled = {"own": (cos - bias_q) * factor_q, "prompt": (cos - bias_p) * factor_p, "raw": cos,
              "sigma-prompt": (cos - bias_q) * factor_p, "mu-prompt": (cos - bias_p) * factor_q,
              "raw-mean-factor": cos * factor_p.mean()}[variant]
    return prior.spec.weight * scaled


def run_set(name: str, args: argparse.Namespace, prior: EmbeddingPrior) -> dict[str, float]:
    data = vectors(name, args, prior)
    labels, test, model = data["labels"], data["test"], data["model"]
    t = data["texts"].astype(np.float64)
    bias_p, factor_p = prior.label_offsets(data["prompts"])
    zero = prior.spec.weight * (t @ data["prompts"].astype(np.float64).T - bias_p) * factor_p
    shipped = prior_scores(data, SHIPPED, prior, 1.0)
    for mine, library in ((zero, data["library_zero"]), (shipped, data["library_proto"])):  # the library (float32 dot products)
        centred = mine - mine.mean(axis=1, keepdims=True)
        assert np.abs(centred - library).max() < 1e-4, np.abs(centred - library).max()
    row = {"prior alone, zero-shot": macro_f1(zero, labels, test), "fused zero-shot": macro_f1(model + zero, labels, test)}
    for variant in VARIANTS:
        for pw in PROMPT_WEIGHTS:
            extra = prior_scores(data, variant, prior, pw)
            suffix = "" if pw == 1.0 else f" pw={pw:g}"
            row[f"prototypes alone [{variant}]{suffix}"] = macro_f1(extra, labels, test)
            row[f"fused + prototypes [{variant}]{suffix}"] = macro_f1(model + extra, labels, test)
    half = np.arange(len(labels)) % 2 == 0  # report only: prototypes for every other label, the rest zero-shot
    for variant in VARIANTS:
        mixed = np.where(half[None, :], prior_scores(data, variant, prior, 1.0), zero)
        row[f"half the labels with prototypes: fused [{variant}]"] = macro_f1(model + mixed, labels, test)
    factor_q = prior.label_offsets(data["proto1"])[1]
    bias_q = prior.label_offsets(data["proto1"])[0]
    row["diag: mean factor prompt / prototype"] = float(factor_p.mean() / factor_q.mean())
    row["diag: mean mu.v prompt"] = float(bias_p.mean())
    row["diag: mean mu.v prototype"] = float(bias_q.mean())
    print(f"  {name}: " + ", ".join(f"{v} {row[f'fused + prototypes [{v}]']:.3f}" for v in VARIANTS), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint folder with prior.json")
    parser.add_argument("--sets", default=",".join(SELECTION + REPORT_ONLY))
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-cache", type=Path, default=Path("runs/few_shot_prior"))
    parser.add_argument("--cache", type=Path, default=Path("runs/prototype_standardisation"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "prototype_standardisation.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = PriorSpec.load(args.model)
    if spec is None or spec.reference is None:
        raise SystemExit(f"{args.model} has no prior.json with a reference")
    prior = EmbeddingPrior.load(spec, args.model)
    rows = {name: run_set(name, args, prior) for name in args.sets.split(",")}
    selection = [n for n in rows if n in SELECTION]
    keys = list(next(iter(rows.values())))
    means = {"selection mean": {k: float(np.mean([rows[n][k] for n in selection])) for k in keys},
             "mean of all": {k: float(np.mean([r[k] for r in rows.values()])) for k in keys}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    setup = {"model": str(args.model), "shots": args.shots, "test": args.test, "seed": args.seed, "prior": spec.to_dict(),
             "command": " ".join(sys.argv)}
    args.out.write_text(json.dumps({"setup": setup, "rows": rows, "means": means}, indent=2) + "\n")
    columns = list(rows) + list(means)
    table = rows | means
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{table[c][key]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
