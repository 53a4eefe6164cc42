"""Variant 3 of ``uniclass-multilingual``: the head logit plus ``w`` times e5's own cosine similarity.

The bi-encoder's single pass already computes e5's mean-pooled vectors of the text and of each label (before its
projectors); their cosine is e5 similarity as the pass is (no ``"query: "`` prefix, no label prompt). Score =
head logit + ``w`` * that cosine, ``w`` from the fixed grid of ``recipes/multilingual_protocol.json``
(``variants.e5_term``; ``inf`` = the cosine alone). Nothing is trained.

Phase 1 scores the grid on the selection sets only and chooses ``w`` by the protocol's rule (the mean of three
group means: English v4 selection sets, fr/ru/it with English labels, fr/ru/it with native labels). Phase 2
scores the report-only sets once, for ``w = 0`` (the shipped head) and the chosen ``w``.

Everything is computed over cached pooled vectors (numpy-cheap): the multilingual sets from the run of
``recipes/train_multilingual.py`` (``--run``), the native-label sets from the run of
``benchmarks/multilingual_native.py`` (``--native-run``), the English test texts of ``benchmarks/v4_study.py``
embedded here (cached under ``--english-run``). The head's cached-vector logits are checked against
``Classifier.predict`` on the first items of every set::

    OMP_NUM_THREADS=2 python benchmarks/multilingual_e5_term.py --run /work/runs/multiling23 \\
        --native-run /work/runs/ml23b --english-run /work/runs/ml23c \\
        --out benchmarks/results/multilingual_e5_term.json
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
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multilingual_english import test_split  # next to this file
from multilingual_native import native_sets
from uniclass_lab.recipe_steps import multilingual as ml  # research code: PYTHONPATH=lab
from v4_study import PROTOCOL as V4

from uniclass.evaluation.metrics import single_label_report

NATIVE = ["cldr_territory_continent", "cldr_territory_subregion", "chatterbot_topic_native"]
ENGLISH_TEXT_WINDOW = 512  # the model's own window (the backbone's 512 positions)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def grid() -> list[float]:
    return [math.inf if w == "inf" else float(w) for w in ml.protocol()["variants"]["e5_term"]["grid"]]


def score_matrices(head: Any, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``[texts, labels]`` head logits and raw cosines of a set, computed once (every ``w`` reuses them)."""
    with torch.no_grad():
        logits = (head.text(data["text_vecs"]) @ head.label(data["label_vecs"]).T) * head.inner.logit_scale
        cosine = F.normalize(data["text_vecs"], dim=-1) @ F.normalize(data["label_vecs"], dim=-1).T
        return logits.numpy(), cosine.numpy()


def combined(matrices: tuple[np.ndarray, np.ndarray], w: float) -> np.ndarray:
    """Head logit + w * raw cosine (the cosine alone for ``w = inf``)."""
    logits, cosine = matrices
    return cosine if math.isinf(w) else logits + w * cosine


def predictions(data: dict[str, Any], scores: np.ndarray) -> tuple[list[int], list[int]]:
    """Gold and argmax label indices of a set's items (argmax over each item's own labels)."""
    gold, pred = [], []
    for text, labels, true in data["items"]:
        pred.append(labels[int(np.argmax(scores[text, labels]))])
        gold.append(true[0])
    return gold, pred


def english_vectors(pooler: Any, name: str, *, prefixed: bool = False) -> dict[str, Any]:
    """Pooled vectors of a v4 set's test texts (the model's window) and its label names, as ``ml.vectorise``;
    ``prefixed``: as e5 similarity reads them (``"query: "`` + text, ``ml.BASELINE_PROMPT`` for labels)."""
    examples = test_split(name)
    items = [{"text": e.text, "labels": list(e.all_labels), "true": [e.all_labels[int(np.argmax(e.targets))]]}
             for e in examples]
    texts = sorted({i["text"] for i in items})
    labels = sorted({x for i in items for x in i["labels"]})
    ti, li = {t: k for k, t in enumerate(texts)}, {x: k for k, x in enumerate(labels)}
    text_prefix, template = ("query: ", ml.BASELINE_PROMPT) if prefixed else ("", "{}")
    return {"text_vecs": pooler([text_prefix + t for t in texts], ENGLISH_TEXT_WINDOW, 16),
            "label_vecs": pooler([template.format(x) for x in labels], 64),
            "items": [(ti[i["text"]], [li[x] for x in i["labels"]], [li[x] for x in i["true"]]) for i in items],
            "raw_items": items, "labels": labels}


def english_macro_f1(data: dict[str, Any], scores: np.ndarray) -> float:
    """The English protocol's macro-F1 (``single_label_report`` over the set's labels, as ``evaluate_set``)."""
    gold, pred = predictions(data, scores)
    names = data["labels"]
    report = single_label_report([names[g] for g in gold], [names[p] for p in pred], sorted(set(names)))
    return float(report["macro_f1"])


def check(clf: Any, head: Any, vectors: dict[str, Any], items: list[dict], key: str) -> None:
    """Cached-vector logits (head + w * cosine, w the loaded model's own) must be ``Classifier.predict``'s."""
    weight = clf.config.backbone_similarity_weight
    matrices = score_matrices(head, vectors)
    for item, (text, labels, _) in zip(items[:3], vectors["items"][:3], strict=True):
        library = np.asarray(clf.predict([item["text"]], item["labels"], multi_label=False)[0].logits)
        mine = combined(matrices, weight)[text, labels]
        diff = float(np.abs(library - mine).max())
        if diff > 1e-2:
            raise SystemExit(f"{key}: cached vectors do not reproduce Classifier.predict (max logit diff {diff:.3g})")


def group_mean(per: dict[str, dict[str, float]], names: list[str] | None, languages: list[str]) -> float:
    means = [float(np.mean([v for n, v in per[lang].items() if names is None or n in names]))
             for lang in languages if per.get(lang)]
    return float(np.mean(means))


def load_sets(args: argparse.Namespace, languages: list[str], english: list[str], *,
              prefixed: bool = False) -> dict[str, dict[str, Any]]:
    """Vectors per group: ``english`` {set: (data, items)}, ``ml`` {lang.set: ...}, ``native`` {lang.set: ...};
    ``prefixed``: the strings as e5 similarity reads them (the baseline's vectors, cached by the training run as
    ``base_*``), with the same item indices as the bare ones."""
    from uniclass.modeling.registry_backbones import backbone_folder

    backbone = ml.Pooler(backbone_folder(ml.BACKBONE))
    groups: dict[str, dict[str, Any]] = {"english": {}, "ml": {}, "native": {}}
    convention = {"text_prefix": "query: ", "label_template": ml.BASELINE_PROMPT} if prefixed else {}
    cache_name = "base" if prefixed else "eval"
    _, sets = ml.split_items()
    pooler = ml.MemoPooler(backbone, args.run / "cache" / "strings.pt")
    for lang in languages:
        for name, items in sets[lang].items():
            groups["ml"][f"{lang}.{name}"] = (ml.cached(args.run / "cache" / f"{cache_name}_{lang}.{name}.pt",
                                                        lambda items=items: ml.vectorise(pooler, items, **convention)),
                                              items)
    native_pooler = ml.MemoPooler(backbone, args.native_run / "cache" / "strings.pt")
    for lang, named in native_sets(languages).items():
        for name, items in named.items():
            if name in NATIVE:
                groups["native"][f"{lang}.{name}"] = (ml.vectorise(native_pooler, items, **convention), items)
    english_pooler = ml.MemoPooler(backbone, args.english_run / "cache" / "strings.pt")
    for name in english:
        data = english_vectors(english_pooler, name, prefixed=prefixed)
        groups["english"][name] = (data, data["raw_items"])
        log(f"vectors English {name}{' (prefixed)' if prefixed else ''}")
    return groups


def score_groups(groups: dict[str, dict[str, Any]], matrices: dict[str, Any], w: float) -> dict[str, Any]:
    out: dict[str, dict[str, dict[str, float]]] = {"english": {}, "ml": {}, "native": {}}
    for name, (data, _) in groups["english"].items():
        out["english"].setdefault("en", {})[name] = round(english_macro_f1(data, combined(matrices[name], w)), 4)
    for group in ("ml", "native"):
        for key, (data, _) in groups[group].items():
            lang, name = key.split(".", 1)
            gold, pred = predictions(data, combined(matrices[f"{group}:{key}"], w))
            out[group].setdefault(lang, {})[name] = round(ml.macro_f1(gold, pred), 4)
    return out


def all_matrices(head: Any, groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {name: score_matrices(head, data) for name, (data, _) in groups["english"].items()}
    for group in ("ml", "native"):
        out.update({f"{group}:{key}": score_matrices(head, data) for key, (data, _) in groups[group].items()})
    return out


def means(per: dict[str, dict[str, dict[str, float]]], languages: list[str]) -> dict[str, float]:
    english = group_mean(per["english"], None, ["en"])
    multilingual = group_mean(per["ml"], None, languages)
    native = group_mean(per["native"], NATIVE, languages)
    return {"english": round(english, 4), "english_labels": round(multilingual, 4), "native_labels": round(native, 4),
            "mean": round(float(np.mean([english, multilingual, native])), 4)}


def fit_calibration(head: Any, run: Path, w: float, out: Path) -> dict[str, float]:
    """Shift and temperature for multi-label scores, fitted on the head's training items (not on evaluation sets).

    The e5 term adds ``w`` x a cosine of about 0.8 to every logit, so without a shift every label of every text
    sits far above 0.5. ``fit_shift_temperature`` over every label of every training item (the true ones and the
    others) puts 0.5 where a label becomes more likely true than not on that mixture. Measured only: the shipped
    model carries no calibration (on this mixture most items have ~95 candidate labels, which puts 0.5 too high).
    """
    from uniclass.calibration import Calibration, fit_shift_temperature

    logits, targets = [], []
    for name in ("train_multilingual.pt", "train_vader.pt"):
        data = torch.load(run / "cache" / name, weights_only=False)
        scores = combined(score_matrices(head, data), w)
        for text, labels, true in data["items"]:
            logits += [float(scores[text, label]) for label in labels]
            targets += [1.0 if label in true else 0.0 for label in labels]
    shift, temperature = fit_shift_temperature(np.asarray(logits), np.asarray(targets))
    Calibration(temperature=round(temperature, 4), shift=round(shift, 4)).save(out)
    return {"shift": round(shift, 4), "temperature": round(temperature, 4), "pairs": len(logits)}


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """The cached-vector folders every multilingual study reads, and its thread count."""
    parser.add_argument("--run", type=Path, required=True, help="run folder of recipes/train_multilingual.py")
    parser.add_argument("--native-run", type=Path, required=True, help="run folder of multilingual_native.py")
    parser.add_argument("--english-run", type=Path, required=True, help="cache folder for the English vectors")
    parser.add_argument("--threads", type=int, default=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cache_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multilingual_e5_term.json"))
    parser.add_argument("--calibrate", type=Path, default=None, metavar="DIR",
                        help="only fit a calibration.json for the model's own w on the training items, into DIR")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from uniclass import Classifier

    proto = ml.protocol()
    clf = Classifier.from_pretrained("uniclass-multilingual", device="cpu")
    head = ml.Head(clf.model.model).eval()
    if args.calibrate:
        log(f"calibration {fit_calibration(head, args.run, clf.config.backbone_similarity_weight, args.calibrate)}")
        return 0
    result: dict[str, Any] = {"protocol": proto["variants"]["e5_term"], "selection": {}, "report_only": {}}

    selection = proto["selection_languages"]
    groups = load_sets(args, selection, list(V4["selection"]))
    for group in groups.values():
        for key, (data, items) in group.items():
            check(clf, head, data, items, key)
    matrices = all_matrices(head, groups)
    for w in grid():
        per = score_groups(groups, matrices, w)
        result["selection"][str(w)] = {"means": means(per, selection), "per_set": per}
        log(f"w={w}: selection {result['selection'][str(w)]['means']}")
    # the protocol's rule: highest mean of the three group means, ties to the smaller w (grid order)
    chosen = max(grid(), key=lambda w: (result["selection"][str(w)]["means"]["mean"], -w))
    result["chosen_w"] = str(chosen)
    log(f"chosen w = {chosen}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    report = proto["report_only_languages"]
    groups = load_sets(args, report, list(V4["report_only"]))
    for group in groups.values():
        for key, (data, items) in group.items():
            check(clf, head, data, items, key)
    matrices = all_matrices(head, groups)
    for w in sorted({0.0, chosen}):
        per = score_groups(groups, matrices, w)
        result["report_only"][str(w)] = {"means": means(per, report), "per_set": per}
        log(f"w={w}: report-only {result['report_only'][str(w)]['means']}")
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
