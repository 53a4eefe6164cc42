"""Fit a learned calibrator (``modeling.calibrator``) on labelled texts, with the model frozen.

``Classifier.calibrate(..., method="learned")`` calls :func:`fit_learned_calibrator`. The recipe is the official
one (gliclass 0.1.21, ``gliclass/calibration.py``):

1. run the frozen model once over the texts and keep, per window, the text vector, the label vectors and the
   uncalibrated logits (plus the embedding prior, if the checkpoint has one: the calibrator calibrates the logits
   the scores come from);
2. split the texts into a fitting part and a held-out part (``held_out``, seeded);
3. fit one global inverse temperature ``beta_0`` (and, with ``use_bias``, a bias ``b_0``: Platt scaling) on the
   fitting part: the calibrator starts there (its output layer is zeroed), so it only learns departures from it;
4. train the MLP with AdamW on the binary NLL of ``sigmoid(beta * z + b)`` per pair (the cross-entropy of the
   softmax for single-label texts), plus a prior ``prior_weight * (log beta - log beta_0)^2`` that keeps
   per-pair values near the global fit; keep the weights with the best held-out NLL (early stopping);
5. report ECE, Brier score and NLL on the held-out texts for the raw model, temperature scaling fitted on the
   fitting part, and the learned calibrator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from ..calibration import fit_temperature
from ..engine import window_vectors
from ..evaluation.metrics import probability_metrics
from ..modeling.calibrator import LearnedCalibrator
from ..processing import Segment, WindowPolicy, normalize_request

if TYPE_CHECKING:  # pragma: no cover
    from ..classifier import Classifier

MIN_BASE_BETA = 0.05  # near beta = 0 the sigmoid parameterisation has no gradient (official floor)


@dataclass
class Window:
    """One window of one text: what the calibrator reads and what it should predict."""

    item: int
    text: torch.Tensor  # [D]
    labels: torch.Tensor  # [n, D]
    logits: torch.Tensor  # [n] uncalibrated (prior included)
    targets: torch.Tensor  # [n] 0/1
    single_label: bool


def fit_learned_calibrator(
    clf: Classifier,
    texts: Sequence[str],
    truth: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    multi_label: bool = True,
    batch_size: int = 32,
    held_out: float = 0.2,
    seed: int = 0,
    hidden_size: int = 256,
    beta_max: float = 3.0,
    dropout: float = 0.1,
    use_bias: bool = False,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    prior_weight: float = 0.01,
    patience: int = 3,
) -> dict[str, Any]:
    """Fit and attach a learned calibrator to ``clf``'s model; return the held-out report (see module docstring)."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be in (0, 1), got {held_out!r}")
    if len(texts) < 4:
        raise ValueError(f"calibrate(method='learned') needs at least 4 labelled texts, got {len(texts)}")
    if not callable(getattr(clf.backend, "run_representations", None)):
        raise ValueError("calibrate(method='learned') needs the torch backend (the calibrator is trained with torch)")
    request, segments, window_logits = collect_windows(clf, texts, labels, multi_label, batch_size)
    windows = make_windows(segments, window_logits, truth, single_label=not multi_label)
    fit_items, held_items = split_items(len(texts), held_out, seed)
    fit_windows = [w for w in windows if w.item in fit_items]
    held_windows = [w for w in windows if w.item in held_items]

    base_beta, base_bias = fit_global_scaling(fit_windows, fit_bias=use_bias)
    model = clf.model
    calibrator = LearnedCalibrator(model.config.encoder_hidden_size, hidden_size, beta_max, dropout, use_bias)
    train_calibrator(
        calibrator,
        fit_windows,
        held_windows,
        base_beta,
        base_bias,
        epochs=epochs,
        lr=learning_rate,
        prior_weight=prior_weight,
        patience=patience,
        seed=seed,
    )
    attached = model.add_calibrator(hidden_size=hidden_size, beta_max=beta_max, dropout=dropout, use_bias=use_bias)
    attached.load_state_dict(calibrator.state_dict())
    attached.eval()
    clf.calibration = None  # the learned calibrator replaces a fitted temperature

    report = held_out_report(clf, request, segments, window_logits, truth, labels, fit_items, held_items, multi_label)
    report.update(
        global_beta=base_beta, global_bias=base_bias, fit_texts=len(fit_items), held_out_texts=len(held_items)
    )
    return report


# ============================================================================================ collecting
def collect_windows(
    clf: Classifier, texts: Sequence[str], labels: Sequence[str], multi_label: bool, batch_size: int
) -> tuple[Any, list[Segment], list[np.ndarray]]:
    """Run the frozen model once: the request, its windows (with vectors) and each window's logits + prior."""
    engine = clf.engine
    request = normalize_request(list(texts), list(labels), multi_label=multi_label)
    policy = WindowPolicy(clf.max_length, "truncate", min(64, clf.max_length // 4), True)
    plans = engine.plan(request, policy)
    segments = [segment for plan in plans for segment in plan.segments]
    logits = engine.run(segments, batch_size, None, clf.max_batch_tokens, representations=True)
    return request, segments, engine.window_logits_with_prior(request, segments, logits)


def make_windows(
    segments: list[Segment], logits: list[np.ndarray], truth: Sequence[Sequence[str]], *, single_label: bool
) -> list[Window]:
    out = []
    for segment, values in zip(segments, logits, strict=True):
        gold = set(truth[segment.item])
        text, label_vectors = window_vectors(segment)
        out.append(
            Window(
                item=segment.item,
                text=torch.from_numpy(np.asarray(text, dtype=np.float32)),
                labels=torch.from_numpy(np.asarray(label_vectors, dtype=np.float32)),
                logits=torch.from_numpy(np.asarray(values, dtype=np.float32)),
                targets=torch.tensor([1.0 if label in gold else 0.0 for label in segment.labels]),
                single_label=single_label,
            )
        )
    return out


def split_items(n: int, held_out: float, seed: int) -> tuple[set[int], set[int]]:
    """Seeded split of text indices into (fitting, held-out); each part gets at least one text."""
    order = np.random.default_rng(seed).permutation(n)
    n_held = min(max(1, round(n * held_out)), n - 1)
    return set(order[n_held:].tolist()), set(order[:n_held].tolist())


def collate(windows: Sequence[Window]) -> dict[str, torch.Tensor]:
    width = max(len(w.logits) for w in windows)
    dim = windows[0].text.shape[-1]
    batch = {
        "text": torch.stack([w.text for w in windows]),
        "labels": torch.zeros(len(windows), width, dim),
        "logits": torch.zeros(len(windows), width),
        "targets": torch.zeros(len(windows), width),
        "mask": torch.zeros(len(windows), width, dtype=torch.bool),
        "single_label": torch.tensor([w.single_label for w in windows]),
    }
    for row, w in enumerate(windows):
        n = len(w.logits)
        batch["labels"][row, :n], batch["logits"][row, :n], batch["targets"][row, :n] = w.labels, w.logits, w.targets
        batch["mask"][row, :n] = True
    return batch


# ============================================================================================ the loss
def window_nll(
    calibrated: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, single_label: torch.Tensor
) -> torch.Tensor:
    """Per window: the mean binary NLL over its labels, or for single-label windows the softmax cross-entropy."""
    maskf = mask.float()
    count = maskf.sum(dim=-1).clamp_min(1.0)
    binary = (F.binary_cross_entropy_with_logits(calibrated, targets, reduction="none") * maskf).sum(dim=-1) / count
    log_probs = torch.log_softmax(calibrated.masked_fill(~mask, float("-inf")), dim=-1).masked_fill(~mask, 0.0)
    cross_entropy = -(log_probs * targets).sum(dim=-1)
    return torch.where(single_label, cross_entropy, binary)


def calibration_loss(
    beta: torch.Tensor,
    bias: torch.Tensor,
    batch: dict[str, torch.Tensor],
    base_beta: float,
    base_bias: float,
    prior_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, nll)``: the NLL plus the prior pulling ``(log beta, b)`` towards the global fit, averaged per window."""
    mask = batch["mask"]
    nll = window_nll(beta * batch["logits"] + bias, batch["targets"], mask, batch["single_label"])
    prior = (beta.clamp_min(1e-6).log() - math.log(base_beta)) ** 2 + (bias - base_bias) ** 2
    prior = (prior * mask.float()).sum(dim=-1) / mask.float().sum(dim=-1).clamp_min(1.0)
    return (nll + prior_weight * prior).mean(), nll.mean()


def fit_global_scaling(
    windows: Sequence[Window], *, fit_bias: bool = False, max_iter: int = 100
) -> tuple[float, float]:
    """The one ``(beta_0, b_0)`` with the lowest NLL over ``windows`` (temperature scaling; Platt with ``fit_bias``)."""
    batch = collate(windows)
    log_beta = torch.zeros((), requires_grad=True)
    bias = torch.zeros((), requires_grad=fit_bias)
    params = [log_beta, bias] if fit_bias else [log_beta]
    optimizer = torch.optim.LBFGS(params, lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        nll = window_nll(
            log_beta.exp() * batch["logits"] + bias, batch["targets"], batch["mask"], batch["single_label"]
        ).mean()
        nll.backward()
        return nll

    optimizer.step(closure)
    return float(log_beta.detach().exp()), float(bias.detach())


# ============================================================================================ training
def train_calibrator(
    calibrator: LearnedCalibrator,
    train: Sequence[Window],
    held: Sequence[Window],
    base_beta: float,
    base_bias: float = 0.0,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    prior_weight: float = 0.01,
    patience: int = 3,
    seed: int = 0,
) -> LearnedCalibrator:
    """AdamW from the global fit; keeps the weights with the best held-out NLL.

    Stops after ``patience`` epochs without improvement.
    """
    base_beta = max(base_beta, MIN_BASE_BETA)
    base_bias = base_bias if calibrator.use_bias else 0.0
    calibrator.reset_to_global_scaling(base_beta, base_bias)
    optimizer = torch.optim.AdamW(calibrator.parameters(), lr=lr, weight_decay=weight_decay)
    held_batches = [collate(held[i : i + 256]) for i in range(0, len(held), 256)]
    rng = random.Random(seed)
    torch.manual_seed(seed)  # dropout masks

    def held_out_nll() -> float:
        calibrator.eval()
        total = 0.0
        with torch.no_grad():
            for batch in held_batches:
                beta, bias = calibrator(batch["text"], batch["labels"], batch["logits"], batch["mask"])
                total += calibration_loss(beta, bias, batch, base_beta, base_bias, prior_weight)[1].item() * len(
                    batch["text"]
                )
        return total / max(len(held), 1)

    best = held_out_nll()
    best_state = {k: v.detach().clone() for k, v in calibrator.state_dict().items()}
    bad_epochs = 0
    for _ in range(epochs):
        calibrator.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = collate([train[i] for i in order[start : start + batch_size]])
            beta, bias = calibrator(batch["text"], batch["labels"], batch["logits"], batch["mask"])
            loss, _ = calibration_loss(beta, bias, batch, base_beta, base_bias, prior_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        nll = held_out_nll()
        if nll < best - 1e-5:
            best, bad_epochs = nll, 0
            best_state = {k: v.detach().clone() for k, v in calibrator.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    calibrator.load_state_dict(best_state)
    return calibrator.eval()


# ============================================================================================ the report
def held_out_report(
    clf: Classifier,
    request: Any,
    segments: list[Segment],
    window_logits: list[np.ndarray],
    truth: Sequence[Sequence[str]],
    labels: Sequence[str],
    fit_items: set[int],
    held_items: set[int],
    multi_label: bool,
) -> dict[str, Any]:
    """ECE / Brier / NLL on the held-out texts: raw model, temperature (fitted on the fitting texts), learned."""
    engine = clf.engine
    raw = np.stack(engine.item_logits(request, segments, window_logits, "max"))
    calibrated = np.stack(
        engine.item_logits(request, segments, engine.apply_calibrator(segments, window_logits), "max")
    )
    targets = np.array([[1.0 if label in set(gold) else 0.0 for label in labels] for gold in truth])
    fit, held = sorted(fit_items), sorted(held_items)
    temperature = fit_temperature(raw[fit], targets[fit], multi_label=multi_label)
    variants = {"before": raw[held], "temperature": raw[held] / temperature, "learned": calibrated[held]}
    report: dict[str, Any] = {"temperature": temperature}
    for name, logits in variants.items():
        for metric, value in probability_metrics(logits, targets[held], multi_label=multi_label).items():
            report[f"{metric}_{name}"] = value
    for metric in ("ece", "brier", "nll"):
        report[f"{metric}_after"] = report[f"{metric}_learned"]
    return report
