"""``uniclass-multilingual`` with labels written in the text's language, on the held-out languages.

Roles and sets are fixed in ``recipes/multilingual_protocol.json`` (``native_labels``), written before any result:

* ``cldr_territory_continent`` / ``cldr_territory_subregion``: CLDR's own localized country names -> the localized
  names of their UN macro-region (5) and subregion (22), in each held-out language
  (``uniclass_lab.corpora.multilingual.cldr_territories``);
* ``chatterbot_topic_native``: the protocol's ``chatterbot_topic`` lines, labelled with the topic names the corpus
  gives in its own files (``categories``), for the languages that localize every topic (ja, it);
* ``*_en``: the two territory sets with the English region names, on the same texts (the label language alone).

Scored with the shipped head over cached e5 vectors (``uniclass_lab.recipe_steps.multilingual``, as
``recipes/train_multilingual.py`` scores it; checked against ``Classifier.predict`` on the first items of every set)
and the protocol's baseline, e5 similarity with ``"query: "`` prefixes. A killed run resumes from ``--run``::

    OMP_NUM_THREADS=2 python benchmarks/multilingual_native.py --run /work/runs/ml23b \\
        --out benchmarks/results/multilingual_native.json

``--model DIR`` scores another delta folder (a variant) instead of the bundled one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from uniclass_lab.corpora.multilingual import chatterbot_categories, cldr_territories  # research code: PYTHONPATH=lab
from uniclass_lab.recipe_steps import multilingual as ml


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def native_sets(languages: list[str]) -> dict[str, dict[str, list[dict]]]:
    """Items (text, labels, true) per language and set name."""
    _, protocol_sets = ml.split_items()
    categories = chatterbot_categories()
    by_lang: dict[str, list] = {}
    for item in cldr_territories(languages=languages):
        by_lang.setdefault(item.lang, []).append(item)
    sets: dict[str, dict[str, list[dict]]] = {}
    for lang in languages:
        items = by_lang.get(lang, [])
        named: dict[str, list[dict]] = {}
        for field in ("continent", "subregion"):
            for suffix, attr in (("", field), ("_en", f"{field}_en")):
                labels = sorted({getattr(i, attr) for i in items})
                named[f"cldr_territory_{field}{suffix}"] = [
                    {"text": i.text, "labels": labels, "true": [getattr(i, attr)]} for i in items]
        if lang in categories and "chatterbot_topic" in protocol_sets.get(lang, {}):
            native = categories[lang]
            named["chatterbot_topic_native"] = [
                {"text": i["text"], "labels": sorted(native[x] for x in i["labels"]), "true": [native[i["true"][0]]]}
                for i in protocol_sets[lang]["chatterbot_topic"]]
        sets[lang] = named
    return sets


def check_against_library(clf: Any, head: Any, vectors: dict[str, Any], items: list[dict], key: str) -> None:
    """The cached-vector scores must be the library's logits (same argmax), or the figures would not be the model's."""
    for item, (text, labels, _) in zip(items[:3], vectors["items"][:3], strict=True):  # vectorise keeps the order
        library = clf.predict([item["text"]], item["labels"], multi_label=False)[0].logits
        with torch.no_grad():
            mine = ml.head_scorer(head)(vectors["text_vecs"][text], vectors["label_vecs"][labels]).numpy()
        diff = float(np.abs(np.asarray(library) - mine).max())
        if diff > 1e-2:
            raise SystemExit(f"{key}: cached vectors do not reproduce Classifier.predict (max logit diff {diff:.3g})")


def summary(per: dict[str, dict[str, float]], names: list[str], languages: list[str]) -> float | None:
    means = [float(np.mean([per[lang][n] for n in names if n in per[lang]])) for lang in languages
             if any(n in per.get(lang, {}) for n in names)]
    return round(float(np.mean(means)), 4) if means else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="vector cache folder (outside git)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multilingual_native.json"))
    parser.add_argument("--model", default="uniclass-multilingual", help="registry name or delta folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from uniclass import Classifier
    from uniclass.modeling.registry_backbones import backbone_folder

    proto = ml.protocol()
    report, selection = proto["report_only_languages"], proto["selection_languages"]
    pooler = ml.MemoPooler(ml.Pooler(backbone_folder(ml.BACKBONE)), args.run / "cache" / "strings.pt")
    clf = Classifier.from_pretrained(args.model, device="cpu")
    head = ml.Head(clf.model.model).eval()
    scores: dict[str, dict[str, dict[str, float]]] = {"e5 similarity (baseline)": {}, args.model: {}}
    for lang, named in native_sets(report + selection).items():
        for name, items in named.items():
            model_vectors = ml.vectorise(pooler, items)
            base_vectors = ml.vectorise(pooler, items, text_prefix="query: ", label_template=ml.BASELINE_PROMPT)
            check_against_library(clf, head, model_vectors, items, f"{lang}.{name}")
            scores[args.model].setdefault(lang, {})[name] = round(ml.evaluate(model_vectors, ml.head_scorer(head)), 4)
            baseline = round(ml.evaluate(base_vectors, ml.cosine), 4)
            scores["e5 similarity (baseline)"].setdefault(lang, {})[name] = baseline
            log(f"{lang}.{name} ({len(items)} texts, {len(items[0]['labels'])} labels): model "
                f"{scores[args.model][lang][name]}, e5 {scores['e5 similarity (baseline)'][lang][name]}")
    native = ["cldr_territory_continent", "cldr_territory_subregion", "chatterbot_topic_native"]
    english = ["cldr_territory_continent_en", "cldr_territory_subregion_en"]
    result = {"protocol": proto["native_labels"], "model": args.model, "scores": {}}
    for scorer, per in scores.items():
        result["scores"][scorer] = {
            "per_language": per,
            "native_labels": {"report_only_mean": summary(per, native, report),
                              "selection_mean": summary(per, native, selection)},
            "territories_english_labels": {"report_only_mean": summary(per, english, report),
                                           "selection_mean": summary(per, english, selection)},
        }
        log(f"{scorer}: {json.dumps({k: v for k, v in result['scores'][scorer].items() if k != 'per_language'})}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
