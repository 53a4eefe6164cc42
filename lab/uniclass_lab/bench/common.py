"""Helpers shared by the benchmarks: threads, devices, timing, the machine description, batch recording, result files.

Timings on a shared CPU are noisy, so every run records what could explain a number: the thread count
actually in force, the CPU model and core counts, the load average before the run, library versions and, on a
GPU, the device's name. Throughput is taken from the median call, which a single slow call (another process
waking up) cannot move. CUDA runs asynchronously, so every raw timing around GPU work synchronizes first
(:func:`synchronize`); the classifier's own calls return numpy arrays, which already wait for the device.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEVICES = ("cpu", "cuda", "auto")


# ====================================================================== devices
def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a benchmark's ``--device``; ``"auto"``: cuda when torch sees a GPU.

    Asking for cuda where torch sees none raises a one-line ``ValueError`` before any model loads, rather
    than a torch traceback (or the official pipeline's silent fall-back to the CPU) half-way through a run.
    """
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"--device cuda: torch {torch.__version__} ({build}) sees no CUDA GPU; "
                         "use --device cpu, or run on a machine with a GPU and a CUDA build of torch")
    return "cuda"


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (no-op on the CPU), so that a wall-clock reading covers it."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def device_info(device: str) -> dict[str, Any]:
    """What ran the model: ``{"type": "cpu"}``, or the GPU's name, capability, memory and CUDA version."""
    if device != "cuda":
        return {"type": "cpu", "name": _cpuinfo()[0]}
    import torch

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "type": "cuda",
        "name": torch.cuda.get_device_name(),
        "capability": ".".join(str(x) for x in torch.cuda.get_device_capability()),
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "cuda": torch.version.cuda,
        "count": torch.cuda.device_count(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
    }


# ====================================================================== threads and machine
def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (and the OpenMP/MKL hints for libraries loaded later); return the count in force.

    Inter-op threads can only be set before torch runs parallel work, so a failure there is ignored: the
    benchmarks run one op at a time and only intra-op parallelism matters.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch.get_num_threads()


def _cpuinfo() -> tuple[str | None, int | None]:
    """CPU model name and physical core count from /proc/cpuinfo (Linux); ``None`` where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or None, None
    model, cores, physical = None, set(), None
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        model = model or fields.get("model name")
        if "physical id" in fields and "core id" in fields:
            cores.add((fields["physical id"], fields["core id"]))
    if cores:
        physical = len(cores)
    return model, physical


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge a timing: CPU, cores usable by this process, load before the run."""
    model, physical = _cpuinfo()
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "usable_cores": usable,
        "load_average_1_5_15": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of the libraries a timing depends on (``None``: not installed)."""
    return {name: _version(name) for name in ("uniclass", "torch", "onnxruntime", "transformers", "tokenizers", "numpy")}


def git_commit() -> str | None:
    """The commit of the source tree the benchmark ran from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def run_header(threads: int, device: str = "cpu", **setup: Any) -> dict[str, Any]:
    """The part of every result file that describes the run rather than its numbers (``device``: cpu or cuda)."""
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "threads": threads,
        "device": device_info(device),
        "machine": machine_info(),
        "versions": versions(),
        **setup,
    }


# ====================================================================== timing
@dataclass
class Timing:
    """Wall-clock seconds of each timed call that processed ``items`` texts."""

    items: int
    seconds: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.items / self.median_s if self.median_s > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "calls": len(self.seconds), "seconds": [round(s, 6) for s in self.seconds],
                "median_s": round(self.median_s, 6), "items_per_s": round(self.per_second, 4)}


def measure(fn: Callable[[], Any], *, items: int, repeats: int = 3, min_time: float = 0.0, warmup: int = 1,
            max_calls: int = 1000, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``fn`` after ``warmup`` untimed calls: at least ``repeats`` calls and at least ``min_time`` seconds.

    ``items`` is how many texts one call processes (throughput = items / median call time).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    seconds: list[float] = []
    total = 0.0
    while len(seconds) < repeats or (total < min_time and len(seconds) < max_calls):
        start = clock()
        fn()
        seconds.append(clock() - start)
        total += seconds[-1]
    return Timing(items, seconds)


# ====================================================================== batch recording (torch models)
@dataclass
class BatchShape:
    """One model forward: ``rows`` sequences padded to ``seq_len``; ``real_tokens`` non-padding tokens."""

    rows: int
    seq_len: int
    real_tokens: int
    label_slots: int = 0  # label slots per row the head computed (uni-encoder: the batch's widest row)
    forward_s: float = 0.0


@dataclass
class BatchRecorder:
    """Records the shape (and forward time) of every batch a torch module runs, through forward hooks.

    The FLOPs estimate must count the padded tokens of the batches really run, whatever batching the
    classifier chose, so the shapes are read from the model's own inputs rather than recomputed.
    """

    batches: list[BatchShape] = field(default_factory=list)
    _started: float = 0.0

    def clear(self) -> None:
        self.batches.clear()

    def _pre(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        mask = kwargs.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(ids.numel())
        slots = kwargs.get("slot_counts")
        label_slots = int(slots.max()) if slots is not None and slots.numel() else 0
        if "label_vectors" in kwargs:
            label_slots = int(kwargs["label_vectors"].shape[1])
        self.batches.append(BatchShape(int(ids.shape[0]), int(ids.shape[1]), real, label_slots))
        self._device = "cuda" if getattr(ids, "is_cuda", False) else "cpu"
        synchronize(self._device)
        self._started = time.perf_counter()

    def _post(self, module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        if self.batches:
            synchronize(self._device)
            self.batches[-1].forward_s = time.perf_counter() - self._started

    @contextmanager
    def attach(self, module: Any) -> Iterator[BatchRecorder]:
        """Record while inside the ``with`` block (``module``: a torch ``nn.Module``)."""
        if not hasattr(module, "register_forward_pre_hook"):
            raise TypeError("batch recording needs a torch module (use the torch backend for this benchmark)")
        handles = [module.register_forward_pre_hook(self._pre, with_kwargs=True),
                   module.register_forward_hook(self._post, with_kwargs=True)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()


def torch_module(classifier: Any) -> Any:
    """The torch module behind a ``Classifier`` (its ``model``, or its torch backend's), for batch recording."""
    def attribute(owner: Any, name: str) -> Any:
        try:
            return getattr(owner, name, None)
        except NotImplementedError:  # an ONNX classifier refuses ``model``: there is no torch module
            return None

    for candidate in (attribute(classifier, "model"), attribute(attribute(classifier, "backend"), "model")):
        if hasattr(candidate, "register_forward_pre_hook"):
            return candidate
    raise TypeError("this classifier has no torch module to record batches from (use the torch backend)")


def measure_recorded(fn: Callable[[], Any], module: Any, *, items: int, repeats: int = 3, min_time: float = 0.0,
                     ) -> tuple[list[BatchShape], Timing, float]:
    """One untimed call whose batches are recorded, then timed calls; returns shapes, timing, forward s per call.

    The untimed call is the warm-up (it also fills caches such as the bi-encoder's label vectors); the
    forward time is the model's share of a timed call, the rest being tokenisation and batching.
    """
    recorder = BatchRecorder()
    with recorder.attach(module):
        fn()
        shapes = list(recorder.batches)
        recorder.clear()
        timing = measure(fn, items=items, repeats=repeats, min_time=min_time, warmup=0)
        forward_s = sum(b.forward_s for b in recorder.batches) / len(timing.seconds)
    return shapes, timing, forward_s


def quiet_transformers() -> None:
    """No weight-loading progress bars or "newly initialised weights" notes in benchmark output."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def summarize_batches(batches: Sequence[BatchShape]) -> dict[str, Any]:
    """Counts a reader can check against the FLOPs estimate: padded and real tokens, sequence lengths."""
    if not batches:
        return {"batches": 0}
    lengths = [b.seq_len for b in batches]
    padded = sum(b.rows * b.seq_len for b in batches)
    real = sum(b.real_tokens for b in batches)
    rows = sum(b.rows for b in batches)
    return {
        "batches": len(batches),
        "rows": rows,
        "padded_tokens": padded,
        "real_tokens": real,
        "padding_fraction": round(1 - real / padded, 4) if padded else 0.0,
        "seq_len_min": min(lengths),
        "seq_len_max": max(lengths),
        "mean_real_tokens_per_row": round(real / rows, 2),
    }


# ====================================================================== result files
def fmt_number(value: Any, digits: int = 3) -> str:
    """Compact cells: ``-`` for missing, 3 significant decimals for floats, scientific for tiny ones."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells go through :func:`fmt_number`."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells for {len(headers)} headers: {row!r}")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt_number(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the git checkout it lies in, else as given.

    Results under ``benchmarks/results/`` are committed and read on other machines, where an absolute path of
    the machine that ran them means nothing.
    """
    resolved = Path(path).resolve()
    for parent in (resolved, *resolved.parents):
        if (parent / ".git").exists():
            return resolved.relative_to(parent).as_posix() or "."
    return str(path)


def repo_relative_paths(value: Any) -> Any:
    """``value`` (JSON-like) with every absolute path string inside a git checkout made :func:`repo_relative`."""
    if isinstance(value, dict):
        return {key: repo_relative_paths(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [repo_relative_paths(item) for item in value]
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value) and "\n" not in value):
        return repo_relative(value)
    return value


def write_results(out_dir: str | Path, name: str, payload: dict[str, Any], markdown: str) -> dict[str, Path]:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.md``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    paths["json"].write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown, encoding="utf-8")
    return paths


def setup_lines(header: dict[str, Any]) -> str:
    """The markdown preamble naming the machine, versions and command, so a table is never read alone."""
    machine, lib = header["machine"], header["versions"]
    warning = "**--quick: a smoke test on a tiny grid, not a measurement.**\n\n" if header.get("quick") else ""
    device = header.get("device") or {"type": "cpu"}
    gpu = (f"Device: {device['name']} (compute capability {device['capability']}, {device['memory_gib']} GiB, CUDA "
           f"{device['cuda']})  \n") if device["type"] == "cuda" else ""
    return warning + gpu + (
        f"Command: `{header['command']}`  \n"
        f"Machine: {machine['cpu_model'] or 'unknown CPU'}, {machine['usable_cores']} usable cores "
        f"({machine['physical_cores'] or '?'} physical), "
        f"load average before the run {machine['load_average_1_5_15']}  \n"
        f"Threads: {header['threads']}; torch {lib['torch']}, onnxruntime {lib['onnxruntime'] or 'not installed'}, "
        f"transformers {lib['transformers']}; uniclass {lib['uniclass']} ({header['git_commit'] or 'no git'})\n"
    )
