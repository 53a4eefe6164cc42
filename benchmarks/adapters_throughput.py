"""CPU throughput of mixed-adapter batches: uniclass's batched LoRA vs peft vs polylora, against the base model.

Every contender scores the same texts (the bench mix: half Rotten Tomatoes snippets, half BBC News articles,
``uniclass.bench.workloads.dev_mix``) against the same labels, in ONE batch per call (``batch_size`` = the number of
texts, no token budget), with 1, 4 or 16 LoRA adapters spread over the rows of that batch (row i uses adapter
i mod k). The adapters are random PEFT LoRA adapters (rank ``--rank``, every Linear layer of the encoder, as
``enable_lora``'s default "all-linear"), written to a temporary folder and loaded as each library loads them:

* ``base``: the model without adapters (``clf.scores``);
* ``uniclass``: ``clf.load_adapter`` + ``clf.scores(..., adapter=[...])`` (``modeling.adapters``);
* ``peft``: the encoder as a ``PeftModel`` with every adapter loaded, rows routed by peft's mixed-batch
  ``adapter_names`` (its forward hooks), the rest of the pipeline unchanged;
* ``polylora``: the official server's runtime (``polylora.PolyLoraModel`` around the encoder), if importable. On a
  CPU it runs its PyTorch reference path (triton kernels are CUDA only). Its wheel requires triton, so for a CPU
  machine install it without dependencies: ``pip install --no-deps polylora==0.1.1`` (measured with 0.1.1).

Rounds are paired and interleaved: each round times one call of every contender, in a rotated order, and the
speed of a contender is reported as the median over rounds of (base time / its time) in the same round. Both the
wall-clock time and the process CPU time of each call are recorded; the ratios use CPU time (``--clock cpu``, the
default), which is what the work costs: on a machine shared with other jobs, wall-clock time mostly measures how
long the process waited for a core. With ``--threads 1`` the two agree on an idle machine.

    python benchmarks/adapters_throughput.py --threads 1 --texts 16 --rounds 5
    python benchmarks/adapters_throughput.py --threads 1 --texts 64 --max-length 64 --rounds 5 --no-prior \
        --out benchmarks/results/adapters_throughput_short.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results" / "adapters_throughput.json"
PRIOR = [True]  # set from --no-prior before any model loads
LABELS = ["sports", "finance", "politics", "technology", "entertainment", "health", "positive review", "negative review"]


def make_adapters(clf: Any, folder: Path, count: int, rank: int) -> list[Path]:
    from peft import LoraConfig, get_peft_model

    paths = []
    for i in range(count):
        torch.manual_seed(i)
        encoder = copy.deepcopy(clf.model.model.encoder_model)
        peft_encoder = get_peft_model(encoder, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                                          init_lora_weights=False))
        with torch.no_grad():
            for name, param in peft_encoder.named_parameters():
                if "lora_" in name:
                    param.mul_(0.1)
        path = folder / f"adapter{i}"
        peft_encoder.save_pretrained(str(path), save_embedding_layers=False)
        paths.append(path)
    return paths


def uniclass_contender(model_dir: Any, paths: list[Path], texts: list[str], k: int, max_length: int) -> Callable[[], Any]:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(model_dir, device="cpu", max_length=max_length, prior=PRIOR[0])
    for i, path in enumerate(paths[:k]):
        clf.load_adapter(path, name=f"a{i}")
    names = [f"a{i % k}" for i in range(len(texts))]
    return lambda: clf.scores(texts, LABELS, adapter=names, batch_size=len(texts), max_batch_tokens=None)


def peft_contender(model_dir: Any, paths: list[Path], texts: list[str], k: int, max_length: int) -> Callable[[], Any]:
    from peft import PeftModel

    from uniclass import Classifier

    clf = Classifier.from_pretrained(model_dir, device="cpu", max_length=max_length, prior=PRIOR[0])
    inner = clf.model.model
    peft_encoder = PeftModel.from_pretrained(inner.encoder_model, str(paths[0]), adapter_name="a0")
    for i, path in enumerate(paths[1:k], start=1):
        peft_encoder.load_adapter(str(path), adapter_name=f"a{i}")
    peft_encoder.eval()
    inner.encoder_model = peft_encoder
    names = [f"a{i % k}" for i in range(len(texts))]  # one per row of the single batch

    def call() -> Any:
        with peft_encoder.base_model._enable_peft_forward_hooks(adapter_names=names):
            return clf.scores(texts, LABELS, batch_size=len(texts), max_batch_tokens=None)

    return call


def polylora_contender(model_dir: Any, paths: list[Path], texts: list[str], k: int, max_length: int) -> Callable[[], Any] | None:
    try:
        from polylora import PolyLoraConfig, PolyLoraModel
    except ImportError:
        return None
    from uniclass import Classifier

    clf = Classifier.from_pretrained(model_dir, device="cpu", max_length=max_length, prior=PRIOR[0])
    inner = clf.model.model
    wrapped = PolyLoraModel(inner.encoder_model, PolyLoraConfig(max_gpu_adapters=max(k, 1), max_rank=64,
                                                                use_triton_kernels=False))
    for i, path in enumerate(paths[:k]):
        wrapped.load_adapter_from_disk(f"a{i}", str(path))
    wrapped.eval()
    inner.encoder_model = wrapped
    names = [f"a{i % k}" for i in range(len(texts))]
    forward = wrapped.forward
    wrapped.forward = lambda *args, **kwargs: forward(*args, adapter_ids=names, **kwargs)  # GLiClass calls it plainly
    return lambda: clf.scores(texts, LABELS, batch_size=len(texts), max_batch_tokens=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--texts", type=int, default=32, help="texts per call (one batch)")
    parser.add_argument("--max-length", type=int, default=256, help="token window (longer texts are truncated)")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--adapters", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="what the ratios compare (see above)")
    parser.add_argument("--no-prior", dest="prior", action="store_false",
                        help="the GLiClass model alone, without the bundled model's embedding prior (a stricter ratio: "
                        "the prior's cost is the same with or without adapters)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from uniclass import Classifier
    from uniclass.bench.workloads import dev_mix
    from uniclass.loading import default_model_dir

    model_dir = args.model or default_model_dir()
    texts = [item["text"] for item in dev_mix(args.texts)]
    PRIOR[0] = args.prior
    base = Classifier.from_pretrained(model_dir, device="cpu", max_length=args.max_length, prior=args.prior)
    plans = base.predict(texts, LABELS)
    lengths = [min(p.text_tokens, p.text_tokens_used) for p in plans]
    counts = [int(c) for c in args.adapters.split(",")]
    contenders: dict[str, Callable[[], Any]] = {
        "base": lambda: base.scores(texts, LABELS, batch_size=len(texts), max_batch_tokens=None)}
    with tempfile.TemporaryDirectory() as scratch:
        paths = make_adapters(base, Path(scratch), max(counts), args.rank)
        for k in counts:
            for name, build in (("uniclass", uniclass_contender), ("peft", peft_contender), ("polylora", polylora_contender)):
                call = build(model_dir, paths, texts, k, args.max_length)
                if call is not None:
                    contenders[f"{name} x{k}"] = call
        names = list(contenders)
        for call in contenders.values():
            call()  # warm-up (allocations, first-call paths)
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for n in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                contenders[n]()
                wall[n].append(time.perf_counter() - start)
                cpu[n].append(time.process_time() - start_cpu)
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {cpu[n][-1]:.2f}s cpu" for n in names), flush=True)
    times = cpu if args.clock == "cpu" else wall
    results = {
        n: {"median_s": statistics.median(times[n]), "texts_per_s": args.texts / statistics.median(times[n]),
            "relative_to_base": statistics.median(b / t for b, t in zip(times["base"], times[n], strict=True)),
            "cpu_s": cpu[n], "wall_s": wall[n]}
        for n in names
    }
    report = {
        "command": "python benchmarks/adapters_throughput.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k not in ("out", "prior"))
        + ("" if args.prior else " --no-prior"),
        "model": str(model_dir), "threads": args.threads, "texts_per_batch": args.texts, "labels": len(LABELS),
        "clock": args.clock, "prior": args.prior, "polylora": _polylora_version(),
        "max_length": args.max_length, "text_tokens_used": {"mean": statistics.mean(lengths), "max": max(lengths)},
        "rank": args.rank, "target_modules": "all-linear", "rounds": args.rounds,
        "cpu": _cpu(), "torch": torch.__version__, "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for n, r in results.items():
        print(f"{n:14s} {r['texts_per_s']:7.1f} texts/s  {r['relative_to_base']:.2f} x base")


def _polylora_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("polylora")
    except Exception:  # noqa: BLE001 - not installed as a distribution (e.g. an unpacked wheel on PYTHONPATH)
        try:
            import polylora  # noqa: F401

            return "importable (version unknown; run without triton: its CPU reference path)"
        except ImportError:
            return None


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
