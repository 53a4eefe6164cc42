"""The learned calibrator of GLiClass 0.1.21: a per-(text, label) inverse temperature and bias.

A frozen model gives, for every pair, a logit ``z``, the text vector and the label vector its scorer compares.
From those the calibrator's MLP predicts an inverse temperature ``beta`` in ``(0, beta_max)`` and, with
``use_bias``, a bias ``b``; the calibrated logit is ``beta * z + b``. Multi-label scores are
``sigmoid(beta * z + b)``; single-label texts take the softmax of the calibrated logits over their labels.

Why per pair: a single temperature shrinks every score alike, but a model is over-confident on some pairs
(unfamiliar labels, long texts) and right on others. The MLP sees the pair's vectors and how the logit sits
among the text's other logits, so it can shrink where the model is unreliable and sharpen where it is
reliable. Without the bias ``beta > 0`` never flips the sign of a logit, so multi-label decisions at 0.5 and
single-label argmax decisions are unchanged.

The module and its weights have the official names (``calibrator.text_norm``, ``calibrator.label_norm``,
``calibrator.mlp.{0,3,6}``) and the config keys are the official ones (``use_calibrator``,
``calibrator_hidden_size``, ``calibrator_beta_max``, ``calibrator_dropout``, ``calibrator_use_bias``), so a
checkpoint saved by the official package loads here and one saved here loads there.

One difference in where it runs: the official model applies the calibrator inside its forward pass; uniclass
applies it in ``engine.Engine.assemble``, on the model's logits plus the checkpoint's embedding prior (if any),
once per window. For an official checkpoint (no prior, one window per text) both are the same computation.

Example:
    >>> import torch
    >>> calibrator = LearnedCalibrator(representation_size=8, hidden_size=16)
    >>> beta, bias = calibrator(torch.randn(2, 8), torch.randn(2, 3, 8), torch.randn(2, 3), torch.ones(2, 3))
    >>> beta.shape, bool(torch.allclose(beta, torch.ones(2, 3)))   # a fresh calibrator is the identity
    (torch.Size([2, 3]), True)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

NUM_LOGIT_FEATURES = 6


def logit_features(logits: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
    """Per-pair confidence features ``[B, K, 6]`` (0 on padded labels), as the official calibrator computes them.

    ``[z, |z|, z - max(z), z - mean(z), mean binary entropy of the text's labels, log(number of labels)]``,
    max and mean over the text's real labels.
    """
    mask = label_mask.bool()
    maskf = mask.to(logits.dtype)
    # Padded slots may hold -inf or -1e3 (bi-encoders); 0 * inf would turn the row's means into NaN. The
    # official features multiply padded values by 0 too, so zeroing them first changes no real pair.
    logits = logits.masked_fill(~mask, 0.0)
    num_labels = maskf.sum(dim=-1, keepdim=True).clamp_min(1.0)

    max_logit = logits.masked_fill(~mask, float("-inf")).amax(dim=-1, keepdim=True)
    max_logit = torch.where(mask.any(dim=-1, keepdim=True), max_logit, torch.zeros_like(max_logit))
    mean_logit = (logits * maskf).sum(dim=-1, keepdim=True) / num_labels

    probs = torch.sigmoid(logits)
    entropy = -(probs * F.logsigmoid(logits) + (1 - probs) * F.logsigmoid(-logits))
    mean_entropy = (entropy * maskf).sum(dim=-1, keepdim=True) / num_labels

    features = [
        logits,
        logits.abs(),
        logits - max_logit,
        logits - mean_logit,
        mean_entropy.expand_as(logits),
        num_labels.log().expand_as(logits),
    ]
    return torch.stack(features, dim=-1) * maskf.unsqueeze(-1)


class LearnedCalibrator(nn.Module):
    """MLP over (text vector, label vector, logit features) -> ``(beta, bias)`` per pair.

    Args:
        representation_size: width of the text and label vectors (the encoder's hidden size).
        hidden_size: width of the MLP's two hidden layers.
        beta_max: upper bound of the inverse temperature (``beta = beta_max * sigmoid(.)``).
        dropout: dropout between the MLP layers (training only).
        use_bias: also predict an additive logit bias.
    """

    def __init__(
        self,
        representation_size: int,
        hidden_size: int = 256,
        beta_max: float = 3.0,
        dropout: float = 0.1,
        use_bias: bool = False,
    ):
        super().__init__()
        self.beta_max = float(beta_max)
        self.use_bias = bool(use_bias)
        self.text_norm = nn.LayerNorm(representation_size)
        self.label_norm = nn.LayerNorm(representation_size)
        self.mlp = nn.Sequential(
            nn.Linear(4 * representation_size + NUM_LOGIT_FEATURES, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, 2 if use_bias else 1),
        )
        self.reset_to_global_scaling(1.0)

    def reset_to_global_scaling(self, base_beta: float, base_bias: float = 0.0) -> None:
        """Zero the output layer so that ``(beta, bias) == (base_beta, base_bias)`` for every pair.

        Fitting starts here: from the global temperature (or Platt) fit, so the MLP only learns departures from it.
        """
        ratio = min(max(base_beta / self.beta_max, 1e-4), 1 - 1e-4)
        output = self._linear(-1)
        with torch.no_grad():
            output.weight.zero_()
            output.bias[0] = math.log(ratio / (1 - ratio))
            if self.use_bias:
                output.bias[1] = base_bias

    def _linear(self, index: int) -> nn.Linear:
        """The MLP's first or last layer, typed (``nn.Sequential`` indexing returns a plain ``nn.Module``)."""
        layer = self.mlp[index]
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"calibrator MLP layer {index} is {type(layer).__name__}, not Linear")
        return layer

    def forward(
        self, text_repr: torch.Tensor, label_repr: torch.Tensor, logits: torch.Tensor, label_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(beta, bias)``, each ``[B, K]``: 1 and 0 on padded labels.

        Args:
            text_repr: ``[B, D]`` text vectors; ``label_repr``: ``[B, K', D]`` label vectors (``K' >= K``).
            logits: ``[B, K]`` uncalibrated logits; ``label_mask``: ``[B, K]``, 1 for real labels.
        """
        dtype = self._linear(0).weight.dtype
        num_labels = logits.shape[-1]
        label_repr = label_repr[:, :num_labels]
        label_mask = label_mask[:, :num_labels].bool()

        text = self.text_norm(text_repr.to(dtype)).unsqueeze(1).expand_as(label_repr)
        label = self.label_norm(label_repr.to(dtype))
        stats = logit_features(logits.float(), label_mask).to(dtype)
        features = torch.cat([text, label, text * label, (text - label).abs(), stats], dim=-1)

        output = self.mlp(features).float()
        beta = self.beta_max * torch.sigmoid(output[..., 0])
        bias = output[..., 1] if self.use_bias else torch.zeros_like(beta)
        return beta.masked_fill(~label_mask, 1.0), bias.masked_fill(~label_mask, 0.0)


def build_calibrator(config: Any) -> LearnedCalibrator:
    """The calibrator a config describes; its vectors are the encoder's width (the projectors keep it)."""
    return LearnedCalibrator(
        config.encoder_hidden_size,
        hidden_size=config.calibrator_hidden_size,
        beta_max=config.calibrator_beta_max,
        dropout=config.calibrator_dropout,
        use_bias=config.calibrator_use_bias,
    )
