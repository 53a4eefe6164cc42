"""The study behind the bi-encoder candidate, once called v3 (benchmarks/RESULTS.md §7): a frozen-MiniLM bi-encoder head trained on cached vectors.

Everything runs on mean-pooled MiniLM vectors cached under runs/bi_encoder-study/emb (the backbone is frozen, so one forward
pass per string suffices); the head is the bi-encoder's own projectors, so what is measured here is what the model
computes. Eval sets are scored in full (not the 600-text subsets of ``python -m uniclass_lab.selection_suite_cli``). Commands (C is
the corpus cache, ~/.cache/uniclass; ``python -m uniclass_lab data fetch NAME`` fills it)::

    python benchmarks/bi_encoder_head_study.py embed vader 128 C/vader.jsonl          # also wordnet_topics, gcide_train,
    python benchmarks/bi_encoder_head_study.py embed bbc_news 256 C/bbc_news.jsonl    # snli, wordnet 40000; eval sets at 256:
    python benchmarks/bi_encoder_head_study.py embed rotten_tomatoes 256 C/rotten_tomatoes.jsonl 3000   # bbc_news, foldoc,
    python benchmarks/bi_encoder_head_study.py templ bbc_news rotten_tomatoes ...     # gcide_eval, roget, debates_party,
    python benchmarks/bi_encoder_head_study.py neg vader wordnet_topics gcide_train bbc_news ...   # amazon_food 1000, ...
    python benchmarks/bi_encoder_head_study.py labvocab
    python benchmarks/bi_encoder_head_study.py train --mix vader:1 --negation 0.5 --distill 3 --lr 1e-4 --steps 600 \
        --loss softmax --eval bbc_news,rotten_tomatoes,foldoc,gcide_eval,roget,debates_party --eval-every 300

``train`` prints the embedding baseline (when every eval set has its templ vectors), the untrained model, and every
``--eval-every`` steps each set's macro-F1, plus ``SET~neg``: a negation probe (for every text and label, is "X"
scored above "not X" exactly when X is true; balanced accuracy).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

EMB = Path("runs/bi_encoder-study/emb")
_POOLER = {}


def embed(strings, max_length, batch=128):
    """Mean-pooled MiniLM vectors (the bi-encoder's pooled states before its projectors)."""
    from uniclass_lab.recipe_steps.bi_encoder import Pooler, backbone_path

    if "p" not in _POOLER:
        _POOLER["p"] = Pooler(backbone_path())
    return _POOLER["p"](list(strings), max_length, batch)


def cmd_embed(name, max_length, path, limit=None):
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if limit and len(lines) > limit:
        lines = random.Random(0).sample(lines, limit)
    items = [json.loads(l) for l in lines]
    texts = sorted({it["text"] for it in items})
    labels = sorted({l for it in items for l in it["all_labels"]})
    print(name, len(items), "items", len(texts), "texts", len(labels), "labels", flush=True)
    tv = embed(texts, max_length)
    lv = embed(labels, 64)
    tix = {t: i for i, t in enumerate(texts)}
    lix = {l: i for i, l in enumerate(labels)}
    compact = [(tix[it["text"]], [lix[l] for l in it["all_labels"]], [lix[l] for l in it["true_labels"]]) for it in items]
    EMB.mkdir(parents=True, exist_ok=True)
    torch.save({"texts": texts, "labels": labels, "text_vecs": tv, "label_vecs": lv, "items": compact}, EMB / f"{name}.pt")


def cmd_add(kind, names):
    """templ: 'This text is about {label}.' vectors (the embedding baseline); neg: 'not {label}' vectors."""
    fmt, key = {"templ": ("This text is about {}.", "templ_vecs"), "neg": ("not {}", "neg_vecs")}[kind]
    for name in names:
        d = torch.load(EMB / f"{name}.pt", weights_only=False)
        d[key] = embed([fmt.format(l) for l in d["labels"]], 64)
        torch.save(d, EMB / f"{name}.pt")


def cmd_labvocab():
    vocab = set()
    from uniclass_lab.corpora import fetch
    for line in fetch("wordnet").read_text(encoding="utf-8").splitlines():
        vocab.update(json.loads(line)["all_labels"])
    vocab = sorted(vocab)
    random.Random(0).shuffle(vocab)
    vocab = vocab[:6000]
    for n in ("wordnet_topics", "vader", "gcide_train"):
        if (EMB / f"{n}.pt").is_file():
            vocab += torch.load(EMB / f"{n}.pt", weights_only=False)["labels"]
    vocab = sorted(set(vocab))
    torch.save({"labels": vocab, "raw": embed(vocab, 64), "templ": embed([f"This text is about {l}." for l in vocab], 64),
                "neg": embed([f"not {l}" for l in vocab], 64)}, EMB / "labvocab.pt")


def load(name):
    d = torch.load(EMB / f"{name}.pt", weights_only=False)
    return d


def macro_f1(y, p, n):
    f = []
    for c in range(n):
        tp = np.sum((p == c) & (y == c)); fp = np.sum((p == c) & (y != c)); fn = np.sum((p != c) & (y == c))
        if tp + fn == 0:
            continue
        f.append(0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


class Head(torch.nn.Module):
    """The real bi-encoder head modules, applied to pooled vectors."""
    def __init__(self, clf):
        super().__init__()
        m = clf.model.model
        self.text_projector, self.classes_projector, self.biencoder_projector = m.text_projector, m.classes_projector, m.biencoder_projector
        self.dropout, self.scorer, self.logit_scale = m.dropout, m.scorer, m.logit_scale

    def text(self, v):
        return F.normalize(self.dropout(self.text_projector(v)), dim=-1, eps=1e-8)

    def label(self, v):
        return F.normalize(self.classes_projector(self.biencoder_projector(v)), dim=-1, eps=1e-8)

    def logits(self, t, l):  # t [B,D], l [B,K,D]
        return torch.einsum("bd,bkd->bk", t, l) * self.logit_scale


def baseline(sets):
    out = {}
    for name, d in sets.items():
        items = d["items"]; all_labels = items[0][1]
        t = F.normalize(d["text_vecs"][[i for i, _, _ in items]], dim=-1)
        l = F.normalize(d["templ_vecs"][all_labels], dim=-1)
        pred = (t @ l.T).argmax(1).numpy()
        y = np.array([all_labels.index(tr[0]) for _, _, tr in items])
        out[name] = macro_f1(y, pred, len(all_labels))
    return out


def eval_sets(head, sets, limit=None):
    head.eval()
    out = {}
    with torch.no_grad():
        for name, d in sets.items():
            items = d["items"][:limit] if limit else d["items"]
            t = head.text(d["text_vecs"][[i for i, _, _ in items]])
            all_labels = items[0][1]
            l = head.label(d["label_vecs"][all_labels])
            s = t @ l.T
            pred = s.argmax(1).numpy()
            y = np.array([all_labels.index(tr[0]) for _, _, tr in items])
            out[name] = macro_f1(y, pred, len(all_labels))
            if "neg_vecs" in d:  # negation probe: X vs "not X" for every label, balanced accuracy
                ln = head.label(d["neg_vecs"][all_labels])
                yes = (s > t @ ln.T).numpy()
                truth = np.zeros_like(yes); truth[np.arange(len(y)), y] = True
                out[name + "~neg"] = 0.5 * (yes[truth == 1].mean() + (~yes[truth == 0]).mean())
    head.train()
    return out


def cmd_train(argv):
    p = argparse.ArgumentParser(prog="bi_encoder_head_study.py train")
    p.add_argument("--mix", default="snli:1,vader:2,wordnet:1,wordnet_topics:3")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--l2sp", type=float, default=0.0)
    p.add_argument("--neg", type=int, default=0, help="extra in-batch negative labels per item")
    p.add_argument("--eval", default="bbc_news,rotten_tomatoes,foldoc")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default=None)
    p.add_argument("--loss", default="bce")
    p.add_argument("--distill", type=float, default=0.0, help="weight of label(raw) -> MiniLM('This text is about {label}.')")
    p.add_argument("--task", type=float, default=1.0, help="weight of the task loss")
    p.add_argument("--negation", type=float, default=0.0, help="share of items turned into 'X' vs 'not X'")
    p.add_argument("--scale-lr", type=float, default=None)
    a = p.parse_args(argv)
    from uniclass import Classifier
    from uniclass_lab.recipe_steps.bi_encoder import MODEL_OPTIONS, backbone_path
    torch.manual_seed(a.seed)
    clf = Classifier.from_backbone(backbone_path(), "bi-encoder", **MODEL_OPTIONS)
    head = Head(clf)
    init = {k: v.detach().clone() for k, v in head.named_parameters()}
    evals = {n: load(n) for n in a.eval.split(",") if n}
    comps = []
    for spec in a.mix.split(","):
        name, w = spec.split(":")
        comps.append((load(name), float(w)))
    weights = np.array([len(d["items"]) * w for d, w in comps]); weights /= weights.sum()
    scale_params = [head.logit_scale]
    others = [p_ for n, p_ in head.named_parameters() if n != "logit_scale"]
    opt = torch.optim.AdamW([{"params": others, "lr": a.lr, "weight_decay": 0.0},
                             {"params": scale_params, "lr": a.scale_lr or a.lr, "weight_decay": 0.0}])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / (0.05 * a.steps + 1)) * max(0.0, (a.steps - s) / a.steps))
    rng = np.random.default_rng(a.seed)
    labv = load("labvocab") if a.distill else None
    if all("templ_vecs" in d for d in evals.values()):
        b = baseline(evals); print("baseline", {k: round(v, 4) for k, v in b.items()}, round(float(np.mean(list(b.values()))), 4), flush=True)
    print("init", {k: round(v, 4) for k, v in eval_sets(head, evals).items()}, flush=True)
    log = []
    t0 = time.time()
    for step in range(1, a.steps + 1):
        comp_ids = rng.choice(len(comps), size=a.batch, p=weights)
        tv, lv_rows, tg_rows = [], [], []
        for c in comp_ids:
            d = comps[c][0]
            ti, al, tr = d["items"][rng.integers(len(d["items"]))]
            tv.append(d["text_vecs"][ti])
            trs = set(tr)
            if a.negation and "neg_vecs" in d and rng.random() < a.negation:
                lab = al[rng.integers(len(al))]
                pair = [d["label_vecs"][lab], d["neg_vecs"][lab]]
                order = [0, 1] if rng.random() < 0.5 else [1, 0]
                lv_rows.append(torch.stack([pair[o] for o in order]))
                truth = [1.0, 0.0] if lab in trs else [0.0, 1.0]
                tg_rows.append(torch.tensor([truth[o] for o in order]))
                continue
            lv_rows.append(d["label_vecs"][al])
            tg_rows.append(torch.tensor([1.0 if x in trs else 0.0 for x in al]))
        if a.neg:
            pool = torch.cat(lv_rows)
            for r in range(len(lv_rows)):
                extra = pool[torch.from_numpy(rng.integers(len(pool), size=a.neg))]
                lv_rows[r] = torch.cat([lv_rows[r], extra]); tg_rows[r] = torch.cat([tg_rows[r], torch.zeros(a.neg)])
        K = max(len(x) for x in lv_rows)
        L = torch.zeros(a.batch, K, 384); T = torch.zeros(a.batch, K); M = torch.zeros(a.batch, K)
        for r, (x, y) in enumerate(zip(lv_rows, tg_rows)):
            L[r, :len(x)] = x; T[r, :len(y)] = y; M[r, :len(y)] = 1
        t = head.text(torch.stack(tv))
        l = head.label(L.view(-1, 384)).view(a.batch, K, -1)
        logits = head.logits(t, l)
        if a.loss == "bce":
            loss = (F.binary_cross_entropy_with_logits(logits, T, reduction="none") * M).sum() / M.sum()
        else:  # softmax over each item's labels; several positives: -log(sum of their probabilities)
            masked = logits.masked_fill(M == 0, -1e4)
            pos = masked.masked_fill(T == 0, -1e4)
            loss = (torch.logsumexp(masked, 1) - torch.logsumexp(pos, 1)).mean()
        loss = a.task * loss
        if a.distill:
            idx = torch.from_numpy(rng.integers(len(labv["labels"]), size=256))
            pred = head.label(labv["raw"][idx])
            loss = loss + a.distill * (1 - (pred * F.normalize(labv["templ"][idx], dim=-1)).sum(-1)).mean()
        if a.l2sp:
            loss = loss + a.l2sp * sum(((p_ - init[n]) ** 2).sum() for n, p_ in head.named_parameters() if n != "logit_scale")
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if step % a.eval_every == 0 or step == a.steps:
            ev = eval_sets(head, evals)
            row = {"step": step, "loss": round(loss.item(), 4), "scale": round(head.logit_scale.item(), 2),
                   **{k: round(v, 4) for k, v in ev.items()}, "mean": round(float(np.mean([v for k, v in ev.items() if "~" not in k])), 4), "s": round(time.time() - t0)}
            log.append(row); print(row, flush=True)
    if a.save:
        torch.save(head.state_dict(), a.save)


def main():
    cmd, *rest = sys.argv[1:] or ["--help"]
    torch.set_num_threads(2)
    if cmd == "embed":
        cmd_embed(rest[0], int(rest[1]), rest[2], int(rest[3]) if len(rest) > 3 else None)
    elif cmd in ("templ", "neg"):
        cmd_add(cmd, rest)
    elif cmd == "labvocab":
        cmd_labvocab()
    elif cmd == "train":
        torch.set_num_threads(1)
        cmd_train(rest)
    else:
        print(__doc__)


if __name__ == "__main__":
    main()
