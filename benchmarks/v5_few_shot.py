"""Few-shot protocol v5 (``benchmarks/protocol_v5_few_shot.md``): a conservative support-chosen rule for ``fit``.

Steps (each resumable; the model runs once per text, everything after is numpy on the cache):

    python benchmarks/v5_few_shot.py sets --chatterbot <unpacked chatterbot-corpus 1.3.3 wheel> \
        --cldr <dpkg -x of unicode-cldr-core + unicode-data> --ding <dpkg -x of trans-de-en>
    python benchmarks/v5_few_shot.py collect --threads 2           # model logits + MiniLM vectors -> runs/v5_cache
    python benchmarks/v5_few_shot.py evaluate --rule <name>        # selection sets only; one line in the log
    python benchmarks/v5_few_shot.py evaluate --rule <name> --report   # the final candidate, report-only sets once
    python benchmarks/v5_few_shot.py finetune --sets bbc_news,...  # fit without a prior (fine-tuning) vs zero-shot

The three report-only sets are built here from sources never used for few-shot in this project (the protocol
lists them); Ding (GPL) is read from a local ``dpkg -x`` and written only to the local cache, never committed.
Every rule evaluated is one line of ``benchmarks/results/v5_variants.log``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uniclass_lab.corpora.base import default_cache_dir
from uniclass_lab.corpora.multilingual import readable_subgroup
from uniclass_lab.eval_data import load_eval_data
from v4_study import _jsonl, chatterbot_topics, cldr_emoji_groups, model_logits, zero_shot_prior

from uniclass.data.formats import Example, load_examples
from uniclass.evaluation.runner import few_shot_split

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = json.loads((ROOT / "benchmarks" / "protocol_v5_few_shot.json").read_text())
VARIANT_LOG = ROOT / "benchmarks" / "results" / "v5_variants.log"
V5_SETS = ("cldr_emoji_subgroups", "chatterbot_dutch", "ding_subjects",
           "ding_subjects_b", "roget_b", "ding_subjects_c", "roget_c",  # protocols v5h and v5i
           "foldoc_b", "roget_d", "chatterbot_italian")  # protocol v5j


# ====================================================================== the new report-only sets
def cldr_emoji_subgroups(raw: Path) -> Path:
    """English CLDR emoji names -> emoji subgroup, subgroups with >= ``min_items`` named emoji."""
    out = default_cache_dir() / "v5" / "cldr_emoji_subgroups.jsonl"
    if out.is_file():
        return out
    spec = PROTOCOL["sets"]["cldr_emoji_subgroups"]
    names = dict(re.findall(r'<annotation cp="([^"]+)" type="tts">([^<]+)</annotation>',
                            (raw / "usr/share/unicode/cldr/common/annotations/en.xml").read_text(encoding="utf-8")))
    items, group, subgroup = [], None, None
    for line in (raw / "usr/share/unicode/emoji/emoji-test.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and group != "Component":
            emoji = "".join(chr(int(c, 16)) for c in line.split(";")[0].split())
            if emoji in names:
                items.append((names[emoji].strip(), readable_subgroup(str(subgroup))))
    counts: dict[str, int] = {}
    for _, label in items:
        counts[label] = counts.get(label, 0) + 1
    kept = sorted(label for label, n in counts.items() if n >= spec["min_items"])
    return _jsonl(out, [(t, y) for t, y in items if y in kept], kept)


def chatterbot_dutch(raw: Path) -> Path:
    """``chatterbot_corpus/data/dutch/<topic>.yml`` -> one item per conversation, English topic labels."""
    import yaml

    out = default_cache_dir() / "v5" / "chatterbot_dutch.jsonl"
    if out.is_file():
        return out
    topics = PROTOCOL["sets"]["chatterbot_dutch"]["topics"]
    items = []
    for stem, label in topics.items():
        data = yaml.safe_load((raw / "chatterbot_corpus/data/dutch" / f"{stem}.yml").read_text(encoding="utf-8"))
        for conversation in data["conversations"]:
            text = " ".join(str(line).strip() for line in conversation if str(line).strip())
            if text:
                items.append((text, label))
    return _jsonl(out, items, sorted(set(topics.values())))


def ding_text(english: str) -> str:
    """One English alternative of a Ding entry without its grammar and usage tags (``{n}``, ``[med.]``, ``/Abbr/``)."""
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|/[^/]*/", " ", english)
    return re.sub(r"\s+", " ", text).strip(" ;,")


def ding_subjects(raw: Path) -> Path:
    """Ding de-en: the first English alternative of each entry whose first alternative (either side) carries exactly
    one of the protocol's subject tags -> that subject. GPL: written to the local cache only."""
    out = default_cache_dir() / "v5" / "ding_subjects.jsonl"
    if out.is_file():
        return out
    subjects = PROTOCOL["sets"]["ding_subjects"]["subjects"]
    return _jsonl(out, ding_subject_items(raw, subjects), sorted(set(subjects.values())))


def ding_subject_items(raw: Path, subjects: dict[str, str]) -> list[tuple[str, str]]:
    """(English text, subject label) for each Ding entry whose first alternative carries exactly one of ``subjects``'
    tags (on either side)."""
    items = []
    for line in (raw / "usr/share/trans/de-en").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or " :: " not in line:
            continue
        german, english = line.split(" :: ", 1)
        first_de, first_en = german.split(" | ")[0], english.split(" | ")[0]
        tags = {t for t in re.findall(r"\[([^\]]+)\]", first_de + " " + first_en) if t in subjects}
        text = ding_text(first_en)
        if len(tags) == 1 and len(text) >= 3:
            items.append((text, subjects[tags.pop()]))
    return items


def load_set(name: str) -> list[Example]:
    if name in V5_SETS:
        return load_examples(default_cache_dir() / "v5" / f"{name}.jsonl")
    if name in ("chatterbot_topics", "cldr_emoji_groups"):
        return load_examples(default_cache_dir() / "v4" / f"{name}.jsonl")
    return load_eval_data(name)


# ====================================================================== collect
def collect(args: argparse.Namespace) -> None:
    import torch

    from uniclass import Classifier

    torch.set_num_threads(args.threads)
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    fused = Classifier.from_pretrained(device="cpu")
    prior = fused.prior
    args.cache.mkdir(parents=True, exist_ok=True)
    names = args.sets.split(",") if args.sets else [*PROTOCOL["selection"], *PROTOCOL["report_only"]]
    for name in names:
        path = args.cache / f"{name}.npz"
        if path.is_file():
            continue
        start = time.perf_counter()
        examples = load_set(name)
        labels = list(examples[0].all_labels)
        if any(list(e.all_labels) != labels for e in examples):
            raise SystemExit(f"{name}: items with different label lists")
        support, test = few_shot_split(examples, PROTOCOL["shots"], PROTOCOL["test"], PROTOCOL["seed"])
        gold = np.array([[1.0 if label in e.true_labels else 0.0 for label in labels] for e in test])
        sgold = np.array([labels.index(e.true_labels[0]) for e in support], dtype=int)
        texts, stexts = [e.text for e in test], [e.text for e in support]
        u_test, u_sup = model_logits(clf, texts, labels), model_logits(clf, stexts, labels)
        x_test, x_sup = prior.embedder.embed(texts), prior.embedder.embed(stexts)
        prompts = prior.prompt_vectors(labels)
        bias, factor = prior.label_offsets(prompts)
        # the check: these arrays give the library's fused zero-shot logits exactly
        check = np.array([p.logits for p in fused.predict(texts[:4], labels, multi_label=False)])
        mine = u_test[:4] + zero_shot_prior(x_test[:4], prompts, bias, factor, prior.spec.weight)
        err = float(np.abs(check - mine).max())
        if err > 1e-3:
            raise SystemExit(f"{name}: cached arrays do not reproduce the library's logits (max diff {err})")
        np.savez(path, labels=np.array(labels), gold=gold, sgold=sgold, u_test=u_test, u_sup=u_sup,
                 x_test=x_test, x_sup=x_sup, prompts=prompts, bias=bias, factor=factor,
                 support_texts=np.array(stexts), test_texts=np.array(texts))
        print(f"{name}: {len(stexts)} support, {len(texts)} test, {len(labels)} labels, "
              f"{time.perf_counter() - start:.0f} s (check max diff {err:.1e})", flush=True)


def log_variant(kind: str, name: str, summary: dict[str, Any]) -> None:
    with VARIANT_LOG.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, "variant": name, **summary}, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["sets", "collect", "evaluate", "finetune", "attached", "refined", "setfit"])
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v5_cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default=None, help="collect / finetune: these sets only (comma-separated)")
    parser.add_argument("--chatterbot", type=Path, help="the unpacked chatterbot-corpus 1.3.3 wheel (step sets)")
    parser.add_argument("--cldr", type=Path, help="unicode-cldr-core + unicode-data, dpkg -x into one folder")
    parser.add_argument("--ding", type=Path, help="trans-de-en, dpkg -x (GPL: local evaluation only)")
    parser.add_argument("--report", action="store_true", help="evaluate: score the report-only sets too (once)")
    parser.add_argument("--rule", default="support k-fold shrinkage", help="evaluate: the rule, by name")
    parser.add_argument("--steps", type=int, default=0, help="finetune: max training steps (0: fit's default)")
    parser.add_argument("--learning-rate", type=float, default=0.0, help="finetune: 0 = fit's default (1e-4)")
    parser.add_argument("--single-label", action="store_true",
                        help="finetune: fit(multi_label=False), softmax cross-entropy (protocol v5c)")
    parser.add_argument("--amended", action="store_true",
                        help="refined: protocol v5e's amendment (lambda chosen on the support set, fresh folds)")
    parser.add_argument("--min-steps", type=int, default=0,
                        help="finetune: epochs raised so that training makes at least this many steps (protocol v5k)")
    parser.add_argument("--full", action="store_true", help="finetune: fit(lora=False), every weight (protocol v5k)")
    parser.add_argument("--wise", type=float, default=0.0,
                        help="finetune: also score the weights interpolated with the zero-shot ones (protocol v5k)")
    parser.add_argument("--threshold-report", action="store_true",
                        help="finetune: also the gold-returned rate and labels per text at classify's defaults (v5l)")
    parser.add_argument("--keep-logits", action="store_true",
                        help="finetune: also save the fine-tuned model's test logits (NAME.npy; protocol v5d)")
    args = parser.parse_args(argv)
    if args.step == "sets":
        print(chatterbot_topics(args.chatterbot), cldr_emoji_groups(args.cldr))
        print(cldr_emoji_subgroups(args.cldr), chatterbot_dutch(args.chatterbot), ding_subjects(args.ding))
    elif args.step == "collect":
        collect(args)
    else:  # the rules, on collect's cache: evaluate, finetune, attached, refined, setfit
        import v5_rules

        getattr(v5_rules, args.step)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
