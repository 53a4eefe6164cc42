"""Protocol v7 (``benchmarks/protocol_v7_distillation.md``): distil ``u + prior + 160 · e5`` into one uni-encoder pass.

Steps (each resumable; run in order)::

    python benchmarks/v7_distill.py build                  # runs/v7/items.jsonl: texts and label sets
    python benchmarks/v7_distill.py teacher --threads 2    # runs/v7/targets/*.jsonl: the teacher's soft targets
    python benchmarks/v7_distill.py train --threads 2      # runs/v7/train: one epoch, checkpoints every 100 steps
    python benchmarks/v7_distill.py export                 # runs/v7/student: last checkpoint + derived calibration
    python benchmarks/v7_distill.py evaluate               # selection sets, against protocol v6's cached references
    python benchmarks/v7_distill.py evaluate --report      # report-only sets, once, after the decision

The references (today's default, the uni-encoder alone, e5 and MiniLM similarity, the teacher A·160) come from
``runs/v6_cache`` (``v6_zero_shot.py collect``); the student is scored on the same texts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multilingual_english import PrefixedEmbeddingBaseline  # next to this file
from uniclass_lab.corpora import default_cache_dir  # research code: PYTHONPATH=lab
from v4_study import embed_terms, zero_shot_prior
from v6_zero_shot import PROTOCOL as V6
from v6_zero_shot import REFERENCES, centred, macro_f1, variants, write_table

from uniclass.evaluation.runner import few_shot_split

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "v7"
VARIANT_LOG = ROOT / "benchmarks" / "results" / "v7_variants.log"

SEED = 13
WORDNET_ITEMS = 20_000
MIN_LABEL_COUNT = 20
LABELS_PER_ITEM = 12
E5_WEIGHT = 160.0
SHIFT, TEMPERATURE = -5.0, 5.2988  # today's multi-label calibration (src/uniclass/models/uniclass-minilm)
SLOPE, RELATIVE, RELATIVE_TEMPERATURE = 2.0, 0.5, 4.96
CHUNK = 1000
LORA_R, LORA_ALPHA = 32, 64  # protocol v7's amendment


# ====================================================================== build
def build(args: argparse.Namespace) -> None:
    cache = default_cache_dir()
    wordnet = [json.loads(line) for line in (cache / "wordnet.jsonl").open(encoding="utf-8")]
    vader = [json.loads(line) for line in (cache / "vader.jsonl").open(encoding="utf-8")]
    counts = Counter(label for item in wordnet for label in item["all_labels"])
    topical = sorted(label for label, n in counts.items() if n >= MIN_LABEL_COUNT)
    sentiment = sorted({label for item in vader for label in item["all_labels"]})
    vocabulary = set(topical) | set(sentiment)
    rng = random.Random(SEED)
    items = []
    for item in rng.sample(wordnet, WORDNET_ITEMS) + vader:
        own = [label for label in item["all_labels"] if label in vocabulary]
        extra = [label for label in rng.sample(topical, LABELS_PER_ITEM + len(own)) if label not in own]
        labels = own + extra[: max(0, LABELS_PER_ITEM - len(own))]
        rng.shuffle(labels)
        items.append({"text": item["text"], "labels": labels})
    rng.shuffle(items)
    RUN.mkdir(parents=True, exist_ok=True)
    with (RUN / "items.jsonl").open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item) + "\n")
    used = sorted({label for item in items for label in item["labels"]})
    (RUN / "vocabulary.json").write_text(json.dumps(used))
    print(f"{len(items)} items, {len(used)} labels ({len(topical)} topical with >= {MIN_LABEL_COUNT} uses, "
          f"{len(sentiment)} sentiment)")


# ====================================================================== teacher
def label_terms(prior: Any, e5_model: Any, vocabulary: list[str]) -> dict[str, np.ndarray]:
    path = RUN / "label_terms.npz"
    if path.is_file():
        return dict(np.load(path))
    prompts, bias, factor = embed_terms(prior, vocabulary)
    e5_labels = e5_model.embed([V6["e5"]["template"].format(label) for label in vocabulary])
    terms = {"prompts": prompts, "bias": bias, "factor": factor, "e5": e5_labels}
    np.savez(path, **terms)
    return terms


def teacher(args: argparse.Namespace) -> None:
    import torch

    from uniclass import Classifier
    from uniclass.modeling.registry_backbones import backbone_folder

    torch.set_num_threads(args.threads)
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    fused = Classifier.from_pretrained(device="cpu")
    prior = fused.prior
    e5_model = PrefixedEmbeddingBaseline(str(backbone_folder("multilingual-e5-small")), V6["e5"]["prefix"],
                                         V6["e5"]["max_length"])
    vocabulary = json.loads((RUN / "vocabulary.json").read_text())
    index = {label: i for i, label in enumerate(vocabulary)}
    start = time.perf_counter()
    terms = label_terms(prior, e5_model, vocabulary)
    print(f"label terms: {len(vocabulary)} labels, {time.perf_counter() - start:.0f} s", flush=True)
    items = [json.loads(line) for line in (RUN / "items.jsonl").open(encoding="utf-8")]
    (RUN / "targets").mkdir(exist_ok=True)
    for first in range(0, len(items), CHUNK):
        path = RUN / "targets" / f"{first // CHUNK:03d}.jsonl"
        if path.is_file():
            continue
        start = time.perf_counter()
        chunk = items[first : first + CHUNK]
        texts = [item["text"] for item in chunk]
        label_lists = [item["labels"] for item in chunk]
        u = [np.asarray(p.logits, dtype=np.float64) for p in clf.predict(texts, label_lists, multi_label=False)]
        x = prior.embedder.embed(texts).astype(np.float64)
        e5_text = e5_model.embed(texts).astype(np.float64)
        rows = []
        teacher_logits = []
        for i, labels in enumerate(label_lists):
            cols = [index[label] for label in labels]
            prior_term = zero_shot_prior(x[i : i + 1], terms["prompts"][cols], terms["bias"][cols],
                                         terms["factor"][cols], prior.spec.weight)[0]
            e5_cos = e5_text[i] @ terms["e5"][cols].astype(np.float64).T
            t = u[i] + prior_term + E5_WEIGHT * centred(e5_cos[None])[0]
            teacher_logits.append(u[i] + prior_term)
            targets = 1.0 / (1.0 + np.exp(-(t - SHIFT) / TEMPERATURE))
            rows.append({"text": texts[i], "all_labels": labels,
                         "true_labels": {label: round(float(p), 5) for label, p in zip(labels, targets)}})
        if first == 0:  # u + prior must be the library's fused logits
            check = [np.asarray(p.logits) for p in fused.predict(texts[:4], label_lists[:4], multi_label=False)]
            err = max(float(np.abs(c - t).max()) for c, t in zip(check, teacher_logits[:4]))
            if err > 1e-3:
                raise SystemExit(f"u + prior does not reproduce the library's logits (max diff {err})")
            print(f"check: u + prior vs Classifier.from_pretrained() max diff {err:.1e}", flush=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
        tmp.rename(path)
        print(f"chunk {first // CHUNK}: {len(chunk)} items, {time.perf_counter() - start:.0f} s", flush=True)


# ====================================================================== train / export
def training_file() -> Path:
    parts = sorted((RUN / "targets").glob("*.jsonl"))
    items = sum(1 for _ in (RUN / "items.jsonl").open(encoding="utf-8"))
    if sum(1 for p in parts for _ in p.open(encoding="utf-8")) != items:
        raise SystemExit("the teacher's targets are incomplete: run the teacher step to the end first")
    path = RUN / "train.jsonl"
    if not path.is_file():
        path.write_text("".join(p.read_text(encoding="utf-8") for p in parts), encoding="utf-8")
    return path


def train(args: argparse.Namespace) -> None:
    import torch

    from uniclass import Classifier
    from uniclass.training import Trainer, TrainingArguments
    from uniclass.training.core import find_checkpoints

    torch.set_num_threads(args.threads)
    data = training_file()
    steps = math.ceil(sum(1 for _ in data.open(encoding="utf-8")) / 32)
    out = RUN / "train"
    torch.manual_seed(SEED)
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    clf.model.float()
    targs = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=32, learning_rate=2e-4,
        head_learning_rate=3e-4, use_lora=True, lora_r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
        warmup_steps=0.05, lr_scheduler_type="linear", weight_decay=0.01, max_length=128, shuffle_labels=True,
        seed=SEED, save_steps=100, save_total_limit=2, logging_steps=20, use_cpu=True, disable_tqdm=True,
        report_to=[],
    )
    checkpoints = find_checkpoints(out, "trainer_state.json")
    trainer = Trainer(clf, targs, train_data=data)
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)


def export(args: argparse.Namespace) -> None:
    from safetensors.torch import load_file

    from uniclass import Classifier
    from uniclass.training.core import find_checkpoints

    last = Path(args.checkpoint) if args.checkpoint else find_checkpoints(RUN / "train", "trainer_state.json")[-1]
    clf = Classifier.from_pretrained(device="cpu", prior=False)
    clf.model.float()
    # checkpoints hold the peft-wrapped model: rebuild it, load them, merge the LoRA update into the weights
    clf.enable_lora(r=LORA_R, alpha=LORA_ALPHA, dropout=0.0)
    clf.model.load_state_dict_checked(load_file(str(last / "model.safetensors")))
    clf.merge_lora()
    # The trained logit s stands for (t - SHIFT) / TEMPERATURE. Scaling logit_scale by TEMPERATURE (the logit is
    # logit_scale x cosine) makes it t - SHIFT: the teacher's units, so fit's blend weights keep their meaning and
    # today's calibration applies with shift 0 (an equivalent rewrite, not a fit).
    scale = next(p for name, p in clf.model.named_parameters() if name.endswith("logit_scale"))
    scale.data *= TEMPERATURE
    target = Path(args.target) if args.target else RUN / "student"
    clf.save_pretrained(target)
    calibration = {"shift": 0.0, "temperature": TEMPERATURE, "label_count_slope": SLOPE, "relative": RELATIVE,
                   "relative_temperature": RELATIVE_TEMPERATURE, "thresholds": None}
    (target / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    state = json.loads((last / "trainer_state.json").read_text())
    print(f"exported {last.name} (step {state.get('global_step')}) to {target}")


# ====================================================================== evaluate
def evaluate(args: argparse.Namespace) -> None:
    import torch
    from v5_few_shot import load_set

    from uniclass import Classifier

    torch.set_num_threads(args.threads)
    student = Classifier.from_pretrained(RUN / "student", device="cpu")
    sets = V6["report_only"] if args.report else V6["selection"]
    teacher_score = variants()[f"A:{int(E5_WEIGHT)}"]
    rows: dict[str, dict[str, float]] = {}
    for name in sets:
        data = dict(np.load(args.cache / f"{name}.npz"))
        labels = [str(x) for x in data["labels"]]
        _, test = few_shot_split(load_set(name), V6["shots"], V6["test"], V6["seed"])
        texts = [e.text for e in test]
        if [labels[i] for i in data["gold"]] != [e.true_labels[0] for e in test]:
            raise SystemExit(f"{name}: the texts differ from protocol v6's cache")
        s = np.array([p.logits for p in student.predict(texts, labels, multi_label=False, batch_size=16)])
        scorers = {**REFERENCES, "teacher (A:160)": teacher_score, "student": lambda d, s=s: s}
        for scorer, score in scorers.items():
            rows.setdefault(scorer, {})[name] = round(macro_f1(data, score(data)), 4)
        today = rows[next(iter(REFERENCES))][name]
        print(f"{name}: student {rows['student'][name]:.4f}  today {today:.4f}", flush=True)
    for row in rows.values():
        row["mean"] = round(float(np.mean([row[s] for s in sets])), 4)
    with VARIANT_LOG.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"variant": "student, one epoch", "report": args.report, **rows["student"]}) + "\n")
    write_table(rows, sets, args.report, args.out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["build", "teacher", "train", "export", "evaluate"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "v6_cache")
    parser.add_argument("--report", action="store_true", help="evaluate: the report-only sets (once, after the choice)")
    parser.add_argument("--out", type=Path, default=None, help="evaluate: write the table as JSON here")
    parser.add_argument("--checkpoint", default=None, help="export: this checkpoint (default: the last one)")
    parser.add_argument("--target", default=None, help="export: write here (default: runs/v7/student)")
    args = parser.parse_args(argv)
    {"build": build, "teacher": teacher, "train": train, "export": export, "evaluate": evaluate}[args.step](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
