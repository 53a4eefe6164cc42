"""Time the official ``gliclass`` pipeline on a checkpoint; run inside the official package's own environment.

    python official_runner.py REQUEST.json RESULT.json

This file is executed by a different interpreter (``runs/bench-envs/official``: torch + gliclass==0.1.21, no
uniclass), so it imports nothing from uniclass and only the standard library at module level.

REQUEST: ``{"checkpoint", "texts", "labels", "threads", "batch_size", "max_length", "repeats", "warmup_texts",
"reference_texts", "device"}`` (``device``: ``"cpu"``, the default, or ``"cuda"``). RESULT: ``{"runner_version",
"versions", "threads", "device", "device_name", "dtype", "load_s", "timings_s", "scores", "reference_scores",
"reference_batch_size", "batch_shapes"}`` where ``scores[i][j]`` is the official multi-label
score of ``labels[j]`` for ``texts[i]`` from the timed batched calls, and ``reference_scores`` the same for the
first ``reference_texts`` texts scored one text per call (the official per-text computation: its pooling
ignores the attention mask, so batched scores depend on the padding the other texts of a batch add).

On cuda the model is moved to ``cuda:0`` and handed to the pipeline with that device. The official pipeline
silently falls back to the CPU when CUDA is not available, so the runner checks first and fails instead, and
it synchronizes the device before reading the clock after each timed pass.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

RUNNER_VERSION = 2
REQUIRED = ("checkpoint", "texts", "labels", "threads", "batch_size", "max_length", "repeats")


def load_request(path: str | Path) -> dict[str, Any]:
    request = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED if key not in request]
    if missing:
        raise ValueError(f"request {path} lacks {', '.join(missing)}")
    return request


def scores_in_label_order(results: list[list[dict[str, Any]]], labels: list[str]) -> list[list[float]]:
    """Official multi-label results at threshold 0 list every label in the given order; check it and keep scores."""
    out = []
    for i, result in enumerate(results):
        got = [item["label"] for item in result]
        if got != list(labels):
            raise ValueError(f"official result {i} does not list every label in order: {got!r}")
        out.append([float(item["score"]) for item in result])
    return out


def pipeline_device(requested: str, cuda_available: bool) -> str:
    """The device string for the official pipeline: ``"cpu"`` or ``"cuda:0"``; cuda without a GPU raises."""
    if requested == "cpu":
        return "cpu"
    if requested != "cuda":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {requested!r}")
    if not cuda_available:
        raise RuntimeError("device 'cuda' requested but torch in the official environment sees no CUDA GPU "
                           "(a CPU-only torch there? install a CUDA build into that environment)")
    return "cuda:0"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    request = load_request(argv[0])
    threads = int(request["threads"])
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    import gliclass
    import transformers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    device = pipeline_device(str(request.get("device", "cpu")), torch.cuda.is_available())

    def sync() -> None:
        if device != "cpu":
            torch.cuda.synchronize()

    start = time.perf_counter()
    # float32 explicitly: checkpoints stored in fp16 (the bundled model) would otherwise load as fp16 on CPU
    model = gliclass.GLiClassModel.from_pretrained(request["checkpoint"], dtype=torch.float32).eval().to(device)
    tokenizer = AutoTokenizer.from_pretrained(request["checkpoint"])
    pipe = gliclass.ZeroShotClassificationPipeline(
        model, tokenizer, max_length=int(request["max_length"]), classification_type="multi-label", device=device,
        progress_bar=False,
    )
    sync()
    load_s = time.perf_counter() - start
    texts, labels, batch_size = list(request["texts"]), list(request["labels"]), int(request["batch_size"])

    def call(batch_texts: list[str], size: int) -> list[list[dict[str, Any]]]:
        return pipe(batch_texts, labels, threshold=0.0, batch_size=size)

    warmup = texts[: int(request.get("warmup_texts", batch_size))]
    if warmup:
        call(warmup, batch_size)
    timings, results, shapes = [], None, []

    def record(module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            shapes.append([int(ids.shape[0]), int(ids.shape[1])])

    for _ in range(int(request["repeats"])):
        shapes.clear()  # keep the batches of the last pass
        handle = model.register_forward_pre_hook(record, with_kwargs=True)
        sync()
        start = time.perf_counter()
        results = call(texts, batch_size)
        sync()
        timings.append(time.perf_counter() - start)
        handle.remove()
    reference = texts[: int(request.get("reference_texts", 0))]
    reference_scores = scores_in_label_order(call(reference, 1), labels) if reference else []
    result = {
        "runner_version": RUNNER_VERSION,
        "versions": {"gliclass": getattr(gliclass, "__version__", None), "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": sys.version.split()[0]},
        "threads": torch.get_num_threads(),
        "device": str(next(model.parameters()).device),
        "device_name": torch.cuda.get_device_name() if device != "cpu" else None,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "load_s": load_s,
        "timings_s": timings,
        "texts": len(texts),
        "batch_shapes": shapes,  # [rows, padded length] of each model call of one pass
        "scores": scores_in_label_order(results or [], labels),
        "reference_scores": reference_scores,
        "reference_batch_size": 1,
    }
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
