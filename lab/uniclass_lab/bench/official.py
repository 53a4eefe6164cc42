"""uniclass against the official ``gliclass`` package: same checkpoint, texts, labels, threads, batch size.

The official package runs in its own virtual environment, created on first use in ``--official-env`` (default
``<cache>/bench-envs/official``, the cache being ``$UNICLASS_CACHE`` or ``~/.cache/uniclass``, never a folder
of the installed package or of the working directory; ``torch==2.13.0`` and ``gliclass==0.1.21``; torch is
pinned because an unpinned one pulls a multi-GB CUDA build), driven as a subprocess running
:mod:`.official_runner`, which writes scores and timings as JSON.
uniclass runs in this process: the torch backend, and the ONNX backend in
fp32 and int8 when ``uniclass.exporters.onnx`` is available (otherwise those rows are skipped with a
note).

The environment's pip requirements can be replaced (``--official-requirements`` or
``$UNICLASS_OFFICIAL_REQUIREMENTS``, pip arguments split like a shell line, e.g. ``"--no-index --find-links
.whl gliclass==0.1.21"``), and ``--official-system-site-packages`` (or ``$UNICLASS_OFFICIAL_SYSTEM_SITE_PACKAGES=1``)
creates it with the interpreter's own packages visible: on a GPU machine that reuses its CUDA build of torch
instead of pulling the pinned CPU one. An environment made for other requirements is updated, not reused.

``--device cuda`` runs both sides on the GPU (the official pipeline on ``cuda:0``, in float32 as on the
CPU); the torch backend's fast-mode rows default to bf16 and fp16 there (int8 is the CPU's: asked for on cuda
it is skipped with a note), and the ONNX rows, which run on the CPU, are skipped with a note.

The speed-up is paired and interleaved, because this kind of machine's speed swings by 2-3x within minutes
(other tenants), so a ratio of two medians taken minutes apart is mostly noise. Every classifier is loaded and
warmed up once (one untimed full pass, whose batches are recorded); then each of ``--rounds`` rounds runs the
official side once (a fresh runner subprocess: warm-up, ``--repeats`` timed passes; the per-text reference
scores in the first round only) and every uniclass row right after it (warm-up on the first texts,
``--repeats`` timed passes). A round's ratio is the official median pass time over the row's median pass time
in that round; a row's ``speedup`` is the median of its per-round ratios (``speedup_rounds``; the markdown
shows their range). ``texts_per_s`` stays texts / the median of all the row's passes: it is not paired and
follows the machine.

Both sides use ``max_length=512``: the official default of 1024 crashes on a 512-position backbone such as
MiniLM. Scores are compared two ways: against the official batched call that was timed, and against the
official per-text call (batch size 1). The second is the official computation uniclass reproduces; the first
differs wherever the checkpoint's pooling reads padding (``avg`` and friends: the official code ignores the
attention mask), which the table shows for the official batched scores themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    BatchRecorder,
    BatchShape,
    Timing,
    markdown_table,
    measure,
    quiet_transformers,
    repo_relative,
    run_header,
    set_threads,
    setup_lines,
    summarize_batches,
    torch_module,
    write_results,
)
from .workloads import LABELS_8, dev_mix

OFFICIAL_REQUIREMENTS = ("torch==2.13.0", "gliclass==0.1.21")
ENV_SUBDIR = Path("bench-envs") / "official"
RUNNER = Path(__file__).with_name("official_runner.py")
READY_MARKER = ".uniclass-bench-ready"
REQUIREMENTS_MARKER = ".uniclass-bench-requirements"
REQUIREMENTS_VAR = "UNICLASS_OFFICIAL_REQUIREMENTS"
SYSTEM_SITE_VAR = "UNICLASS_OFFICIAL_SYSTEM_SITE_PACKAGES"
DEFAULT_PRECISIONS = {"cpu": ("bf16", "int8"), "cuda": ("bf16", "fp16")}
CPU_ONLY_PRECISIONS = ("int8",)  # torch dynamic quantization has CPU kernels only
TARGETS = {"uniclass torch": 3.0, "uniclass ONNX fp32": 4.0, "uniclass torch bf16": 6.0, "uniclass torch int8": 8.0}
SCORE_TOLERANCE = 1e-5
# issue 13: a fast mode must keep its argmax decisions against uniclass fp32 (bf16 >= 99.5%, int8 >= 99%)
AGREEMENT_TARGETS = {"uniclass torch bf16": 0.995, "uniclass torch int8": 0.99}
FP32_ROW = "uniclass torch"
OFFICIAL_ROW = "official gliclass (torch)"


@dataclass
class OfficialSetup:
    model: str | None
    env: str | None = None  # the official package's environment; None: default_env()
    python: str | None = None  # an interpreter that already has gliclass (skips the environment)
    threads: int = 2
    batch_size: int = 32
    max_length: int = 512
    texts: int = 128
    reference_texts: int = -1  # texts scored one per official call for the parity column; -1: all
    repeats: int = 1  # timed passes per side per round
    rounds: int = 5  # interleaved rounds: the official side once, then every uniclass row (--quick: 1)
    warmup_texts: int = 32
    seed: int = 0
    onnx: bool = True
    onnx_dir: str | None = None
    precisions: tuple[str, ...] = ("bf16", "int8")  # the torch backend's fast modes, one row each
    quick: bool = False  # --quick: a smoke test; results say they are not a measurement
    device: str = "cpu"  # cpu or cuda, both sides (resolved by the command line)
    requirements: tuple[str, ...] = OFFICIAL_REQUIREMENTS  # pip install arguments of the official environment
    system_site_packages: bool = False  # create the official environment with the interpreter's packages visible


# ====================================================================== the official environment
def default_env() -> Path:
    """``<cache>/bench-envs/official``: the user's uniclass cache (``$UNICLASS_CACHE`` or ``~/.cache/uniclass``)."""
    from ..corpora.base import default_cache_dir

    return default_cache_dir() / ENV_SUBDIR


def env_python(env: str | Path) -> Path:
    env = Path(env)
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _check_call(cmd: list[str], what: str) -> str:
    print(f"official bench: {what}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return proc.stdout


def official_requirements(value: str | None = None) -> tuple[str, ...]:
    """pip arguments for the official environment: ``value``, else ``$UNICLASS_OFFICIAL_REQUIREMENTS``, else the pins.

    A GPU machine needs another torch than the pinned CPU wheel (a CUDA build, or the machine's own torch
    with ``--official-system-site-packages``), and one without network needs ``--no-index --find-links DIR``.
    """
    text = value if value is not None else os.environ.get(REQUIREMENTS_VAR)
    return tuple(shlex.split(text)) if text and text.strip() else OFFICIAL_REQUIREMENTS


def system_site_packages_from_env() -> bool:
    return os.environ.get(SYSTEM_SITE_VAR, "").strip().lower() in ("1", "true", "yes")


def ensure_official_env(env: str | Path, requirements: tuple[str, ...] = OFFICIAL_REQUIREMENTS,
                        system_site_packages: bool = False) -> Path:
    """The interpreter of the official package's environment, creating the environment if it is not ready.

    Ready means the marker file exists, written only after ``import gliclass`` succeeded in it, so an
    interrupted installation is redone rather than used, and that it was installed with ``requirements``
    (an environment without the requirements file was made with the default pins). ``system_site_packages``
    applies when the environment is created.
    """
    env = Path(env)
    python = env_python(env)
    wanted = " ".join(requirements)
    recorded = env / REQUIREMENTS_MARKER
    installed = recorded.read_text(encoding="utf-8") if recorded.is_file() else " ".join(OFFICIAL_REQUIREMENTS)
    if python.is_file() and (env / READY_MARKER).is_file() and installed == wanted:
        return python
    (env / READY_MARKER).unlink(missing_ok=True)
    base = getattr(sys, "_base_executable", None) or sys.executable
    if not python.is_file():
        env.parent.mkdir(parents=True, exist_ok=True)
        flags = ["--system-site-packages"] if system_site_packages else []
        _check_call([base, "-m", "venv", *flags, str(env)], "creating the official environment")
    _check_call([str(python), "-m", "pip", "install", "--quiet", *requirements], "installing the official package")
    recorded.write_text(wanted, encoding="utf-8")
    probe = ("import gliclass, torch, transformers, json; print(json.dumps({'gliclass': gliclass.__version__, "
             "'torch': torch.__version__, 'transformers': transformers.__version__}))")
    versions = _check_call([str(python), "-c", probe], "checking the official environment")
    (env / READY_MARKER).write_text(versions, encoding="utf-8")
    return python


# ====================================================================== running the official side
def parse_runner_result(result: dict[str, Any], n_texts: int, labels: list[str], reference_texts: int) -> dict[str, Any]:
    """Check the runner's JSON against the request (counts and shapes), so a mismatch fails loudly here."""
    for key in ("timings_s", "scores", "reference_scores", "versions", "threads"):
        if key not in result:
            raise ValueError(f"official runner result lacks {key!r}")
    if not result["timings_s"] or any(not isinstance(t, (int, float)) or t <= 0 for t in result["timings_s"]):
        raise ValueError(f"official runner timings are not positive numbers: {result['timings_s']!r}")
    for key, rows in (("scores", n_texts), ("reference_scores", reference_texts)):
        got = result[key]
        if len(got) != rows or any(len(row) != len(labels) for row in got):
            raise ValueError(f"official runner {key}: expected {rows} rows of {len(labels)} scores, "
                             f"got {len(got)} rows of lengths {sorted({len(r) for r in got})}")
    return result


def run_official(python: str | Path, request: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run :mod:`.official_runner` with ``python`` on ``request``; return its checked result."""
    request_path, result_path = workdir / "official_request.json", workdir / "official_result.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(request["threads"]), "MKL_NUM_THREADS": str(request["threads"])}
    env.pop("PYTHONPATH", None)  # nothing of this environment may leak into the official one
    proc = subprocess.run([str(python), str(RUNNER), str(request_path), str(result_path)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise RuntimeError(f"the official runner failed (exit {proc.returncode}):\n" + "\n".join(tail))
    result = json.loads(result_path.read_text(encoding="utf-8"))
    return parse_runner_result(result, len(request["texts"]), request["labels"], request["reference_texts"])


# ====================================================================== uniclass side
def fast_modes(precisions: tuple[str, ...], device: str) -> tuple[tuple[str, ...], list[str]]:
    """The fast-mode rows this device can run, and a note for each one skipped (int8 is CPU-only)."""
    kept, notes = [], []
    for precision in precisions:
        if device != "cpu" and precision in CPU_ONLY_PRECISIONS:
            notes.append(f"uniclass torch {precision} skipped: {precision} (torch dynamic quantization) runs on the "
                         f"CPU only, not on {device}.")
        else:
            kept.append(precision)
    return tuple(kept), notes


@dataclass
class RowRounds:
    """One uniclass row over the rounds: its timed passes in each round, the scores of its last pass, and the
    batches of its recorded (untimed) pass (``None`` without a torch module to hook, e.g. ONNX)."""

    rounds: list[Timing]
    scores: list[list[float]]
    batches: dict[str, Any] | None


def prepare_classifier(clf: Any, texts: list[str], labels: list[str], setup: OfficialSetup) -> dict[str, Any] | None:
    """Warm a loaded classifier up once, before the rounds, and record the batches of one untimed full pass.

    Recording hooks stay off the timed passes, so every round times the same code. ONNX classifiers have no
    torch module to hook: they get the warm-up only, and their batch summary is ``None``.
    """
    if setup.warmup_texts > 0:
        clf.scores(texts[: setup.warmup_texts], labels, batch_size=setup.batch_size)
    try:
        module = torch_module(clf)
    except TypeError:
        return None
    recorder = BatchRecorder()
    with recorder.attach(module):
        clf.scores(texts, labels, batch_size=setup.batch_size)
    return summarize_batches(recorder.batches)


def time_round(clf: Any, texts: list[str], labels: list[str], setup: OfficialSetup,
               clock: Callable[[], float] = time.perf_counter) -> tuple[Timing, list[list[float]]]:
    """One round of one row: a warm-up on the first texts (as the official runner does in every round), then
    ``setup.repeats`` timed passes over all texts; returns their timing and the last pass's scores."""
    last: dict[str, Any] = {}

    def call() -> None:
        last["scores"] = clf.scores(texts, labels, batch_size=setup.batch_size)

    if setup.warmup_texts > 0:
        clf.scores(texts[: setup.warmup_texts], labels, batch_size=setup.batch_size)
    timing = measure(call, items=len(texts), repeats=setup.repeats, warmup=0, clock=clock)
    return timing, last["scores"]


def paired_rounds(setup: OfficialSetup, official_round: Callable[[int], dict[str, Any]], classifiers: dict[str, Any],
                  texts: list[str], labels: list[str], clock: Callable[[], float] = time.perf_counter,
                  ) -> tuple[list[dict[str, Any]], dict[str, RowRounds]]:
    """``setup.rounds`` rounds, each the official side once (``official_round(i)``) and then every uniclass row.

    The machine's speed drifts by 2-3x within minutes here (other tenants), so a speed-up is only worth
    reading between times taken close together: interleaving puts each row's passes right after the official
    passes they are divided by. Returns the official result of each round and each row's timings per round.
    """
    if setup.rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {setup.rounds}")
    officials: list[dict[str, Any]] = []
    timings: dict[str, list[Timing]] = {name: [] for name in classifiers}
    scores: dict[str, list[list[float]]] = {}
    for i in range(setup.rounds):
        progress(f"round {i + 1}/{setup.rounds}: timing the official package ...")
        officials.append(official_round(i))
        for name, clf in classifiers.items():
            progress(f"round {i + 1}/{setup.rounds}: timing {name} ...")
            timing, scores[name] = time_round(clf, texts, labels, setup, clock)
            timings[name].append(timing)
    return officials, {name: RowRounds(timings[name], scores[name], None) for name in classifiers}


def progress(message: str) -> None:
    print(f"official bench: {message}", file=sys.stderr, flush=True)


def max_abs_diff(a: list[list[float]], b: list[list[float]]) -> float:
    """Largest |a - b| over the rows both have (``b`` may cover only the first texts)."""
    rows = min(len(a), len(b))
    return max((abs(x - y) for ra, rb in zip(a[:rows], b[:rows]) for x, y in zip(ra, rb, strict=True)), default=0.0)


def onnx_classifiers(checkpoint: Path, setup: OfficialSetup, workdir: Path) -> tuple[dict[str, Any], str | None]:
    """``{"uniclass ONNX fp32": clf, "uniclass ONNX int8": clf}``, or ``({}, why not)``.

    The ONNX backend lives in ``uniclass.backends``; while it does not import, the rows are skipped with a
    note instead of failing the whole comparison.
    """
    if not setup.onnx:
        return {}, "ONNX rows not run (--no-onnx)."
    if setup.device != "cpu":
        return {}, (f"ONNX rows skipped: the ONNX backend runs on the CPU (onnxruntime), and this comparison runs on "
                    f"{setup.device}.")
    try:
        from uniclass.exporters.onnx import export_onnx
    except ImportError as err:
        return {}, f"ONNX rows skipped: uniclass.exporters.onnx does not import ({err})."
    from uniclass.classifier import Classifier

    out_dir = Path(setup.onnx_dir) if setup.onnx_dir else workdir / "onnx-export"
    export_onnx(str(checkpoint), out_dir, quantize=True)
    models = {}
    for name, quantized in (("uniclass ONNX fp32", False), ("uniclass ONNX int8", True)):
        models[name] = raw_scores(Classifier.from_pretrained(out_dir, backend="onnx", quantized=quantized,
                                                             num_threads=setup.threads, max_length=setup.max_length,
                                                             prior=False))
    return models, None


def raw_scores(clf: Any) -> Any:
    """The classifier without its calibration (``calibration.json``): the official package applies none, so both
    sides must report the network's own sigmoid scores."""
    clf.calibration = None
    return clf


# ====================================================================== the comparison
def official_batches(official: dict[str, Any]) -> dict[str, Any] | None:
    """Summary of the official pass's batches (rows x padded length; the runner does not see the mask)."""
    shapes = official.get("batch_shapes")
    if not shapes:
        return None
    summary = summarize_batches([BatchShape(rows, length, rows * length) for rows, length in shapes])
    return {k: v for k, v in summary.items() if k not in ("real_tokens", "padding_fraction", "mean_real_tokens_per_row")}


def paired_speedups(official: list[Timing], row: list[Timing]) -> list[float]:
    """Per round: the official side's median pass time over the row's median pass time in that same round."""
    if len(official) != len(row):
        raise ValueError(f"{len(official)} official rounds but {len(row)} rounds of the row")
    return [o.median_s / r.median_s if r.median_s > 0 else float("inf") for o, r in zip(official, row, strict=True)]


def all_passes(rounds: list[Timing]) -> Timing:
    """Every timed pass of every round as one timing (its texts/s is not paired: it follows the machine)."""
    return Timing(rounds[0].items, [s for timing in rounds for s in timing.seconds])


def comparison_rows(officials: list[dict[str, Any]], n_texts: int, ours: dict[str, RowRounds]) -> list[dict[str, Any]]:
    """One row per implementation: texts/s, paired speed-up over the official package, score differences, batches.

    ``officials`` holds the runner's result of each round; the reference (per-text) scores come from the first
    round, the batched scores and batches from the last. ``speedup`` is the median over rounds of the per-round
    ratios (``speedup_rounds``); ``texts_per_s`` is texts / the median of all the row's passes.
    """
    official_rounds = [Timing(n_texts, list(result["timings_s"])) for result in officials]
    official_timing = all_passes(official_rounds)
    reference, batched = officials[0]["reference_scores"], officials[-1]["scores"]
    rows: list[dict[str, Any]] = [{"name": OFFICIAL_ROW, "texts_per_s": official_timing.per_second, "speedup": 1.0,
             "speedup_rounds": [1.0] * len(officials),
             "max_abs_diff_vs_official_batched": 0.0,
             "max_abs_diff_vs_official_per_text": max_abs_diff(batched, reference) if reference else None,
             "timing": official_timing.as_dict(), "timing_rounds": [t.as_dict() for t in official_rounds],
             "batches": official_batches(officials[-1])}]
    for name, result in ours.items():
        ratios = paired_speedups(official_rounds, result.rounds)
        timing = all_passes(result.rounds)
        rows.append({"name": name, "texts_per_s": timing.per_second, "speedup": statistics.median(ratios),
                     "speedup_rounds": ratios,
                     "max_abs_diff_vs_official_batched": max_abs_diff(result.scores, batched),
                     "max_abs_diff_vs_official_per_text": max_abs_diff(result.scores, reference) if reference else None,
                     "timing": timing.as_dict(), "timing_rounds": [t.as_dict() for t in result.rounds],
                     "batches": result.batches})
    if FP32_ROW in ours:
        exact = ours[FP32_ROW].scores
        for row in rows[1:]:
            scores = ours[row["name"]].scores
            row["max_abs_diff_vs_uniclass_fp32"] = max_abs_diff(scores, exact)
            row["argmax_agreement_vs_uniclass_fp32"] = argmax_agreement(scores, exact)
    return rows


def argmax_agreement(a: list[list[float]], b: list[list[float]]) -> float:
    """Share of texts whose highest-scoring label is the same in ``a`` and ``b``."""
    same = [max(range(len(ra)), key=ra.__getitem__) == max(range(len(rb)), key=rb.__getitem__) for ra, rb in zip(a, b)]
    return sum(same) / len(same) if same else 1.0


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each as a measured line: speed-ups and fp32 score agreement."""
    by_name = {row["name"]: row for row in rows}
    lines = []
    for name, target in TARGETS.items():
        row = by_name.get(name)
        if row is None:
            lines.append(f"{name} >= {target:g}x official: not measured.")
        else:
            n = len(row.get("speedup_rounds") or [row["speedup"]])
            lines.append(f"{name} >= {target:g}x official: {row['speedup']:.2f}x (paired, {speedup_range(row)} over "
                         f"{n} round{'' if n == 1 else 's'}) -> {'met' if row['speedup'] >= target else 'NOT met'}.")
    for name, target in AGREEMENT_TARGETS.items():
        row = by_name.get(name)
        if row is not None and "argmax_agreement_vs_uniclass_fp32" in row:
            agreement = row["argmax_agreement_vs_uniclass_fp32"]
            lines.append(f"{name} keeps >= {target:.1%} of the fp32 argmax decisions: {agreement:.1%} -> "
                         f"{'met' if agreement >= target else 'NOT met'}.")
    for name in ("uniclass torch", "uniclass ONNX fp32"):
        row = by_name.get(name)
        diff = row["max_abs_diff_vs_official_per_text"] if row is not None else None
        if row is not None and diff is not None:
            lines.append(f"{name} scores within {SCORE_TOLERANCE:g} of official (per-text): max |d| {diff:.2e} -> "
                         f"{'met' if diff <= SCORE_TOLERANCE else 'NOT met'}.")
    return lines


def speedup_range(row: dict[str, Any]) -> str:
    """``min-max`` of a row's per-round speed-ups, e.g. ``1.85-2.02x``."""
    ratios = row.get("speedup_rounds") or [row["speedup"]]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def speedup_method(rounds: int, repeats: int) -> str:
    """How the speed-up column is computed, said in the markdown so that it is never read as a ratio of medians
    taken minutes apart."""
    return (f"Speed-up (\"vs official\"): paired and interleaved. Each of {rounds} round(s) runs the official package "
            f"once (a fresh subprocess: warm-up, then {repeats} timed pass(es)), then every uniclass row right after "
            f"it (warm-up, {repeats} timed pass(es)), the classifiers loaded once before the rounds. A round's ratio is "
            f"the official median pass time over the row's median pass time in that round; the speed-up is the median "
            f"of the per-round ratios, and \"speed-up range\" their min-max. texts/s is texts / the median of all the "
            f"row's passes over all rounds (not paired: it moves with the machine's speed).\n\n")


def render_markdown(payload: dict[str, Any]) -> str:
    setup, mix = payload["setup"], payload["texts"]
    rounds = setup.get("rounds", 1)
    parts = ["# uniclass vs the official gliclass package\n", setup_lines(payload["header"])]
    off = payload["official"]
    parts.append(
        f"Checkpoint `{payload['checkpoint']}`; {mix['count']} texts ({mix['by_source']}; tokens per text "
        f"{mix['tokens_min']}-{mix['tokens_max']}, mean {mix['tokens_mean']}), {len(payload['labels'])} labels, "
        f"batch size {setup['batch_size']}, max_length {setup['max_length']}, threads {setup['threads']} "
        f"on both sides; {rounds} round(s) of {setup['repeats']} timed pass(es) per side after a warm-up. "
        f"Official side: gliclass {off['versions']['gliclass']}, "
        f"torch {off['versions']['torch']}, transformers {off['versions']['transformers']}, {off['dtype']}, "
        f"{off['threads']} threads, on {off.get('device_name') or off.get('device', 'cpu')}. "
        f"Per-text column: the first {len(off['reference_scores'])} texts scored one per "
        f"official call (first round only).\n\n")
    parts.append(speedup_method(rounds, setup["repeats"]))
    table = [[r["name"], r["texts_per_s"], f"{r['speedup']:.2f}x",
              speedup_range(r) if r["name"] != OFFICIAL_ROW else None, r["max_abs_diff_vs_official_batched"],
              r["max_abs_diff_vs_official_per_text"], r.get("max_abs_diff_vs_uniclass_fp32"),
              r.get("argmax_agreement_vs_uniclass_fp32"),
              r["batches"]["padded_tokens"] if r.get("batches") else None] for r in payload["rows"]]
    parts.append(markdown_table(["implementation", "texts/s", "vs official (paired, median of rounds)",
                                 "speed-up range (min-max over rounds)", "max abs diff vs official (batched)",
                                 "max abs diff vs official (per text)", "max abs diff vs uniclass fp32",
                                 "same argmax as uniclass fp32", "padded tokens per pass"], table))
    if payload.get("onnx_note"):
        parts.append(f"\n{payload['onnx_note']}\n")
    for note in payload.get("precision_notes") or []:
        parts.append(f"\n{note}\n")
    parts.append("\n" + "".join(f"- {line}\n" for line in payload["verdicts"]))
    return "".join(parts)


def official_request(setup: OfficialSetup, checkpoint: str, texts: list[str], labels: list[str],
                     reference_texts: int) -> dict[str, Any]:
    """The runner's request (:mod:`.official_runner`): the same texts, labels, threads, batches and device."""
    return {"checkpoint": checkpoint, "texts": texts, "labels": labels, "threads": setup.threads,
            "batch_size": setup.batch_size, "max_length": setup.max_length, "repeats": setup.repeats,
            "warmup_texts": setup.warmup_texts, "reference_texts": reference_texts, "device": setup.device}


def describe_texts(items: list[dict[str, Any]], tokenizer: Any) -> dict[str, Any]:
    from .workloads import token_count

    counts = [token_count(tokenizer, item["text"]) for item in items]
    by_source: dict[str, int] = {}
    for item in items:
        by_source[item["source"]] = by_source.get(item["source"], 0) + 1
    return {"count": len(items), "by_source": by_source, "tokens_min": min(counts), "tokens_max": max(counts),
            "tokens_mean": round(sum(counts) / len(counts), 1), "tokens_each": counts}


def load_classifiers(checkpoint: str | Path, setup: OfficialSetup, precisions: tuple[str, ...], notes: list[str]
                     ) -> dict[str, Any]:
    """The torch rows, loaded once before the rounds: fp32, then one per fast mode (a refused one becomes a note).

    ``prior=False``: the official package cannot run a checkpoint's embedding prior (it ignores prior.json), so
    both sides compute the same GLiClass network.
    """
    from uniclass.classifier import Classifier

    def load(**kwargs: Any) -> Any:
        return raw_scores(Classifier.from_pretrained(checkpoint, device=setup.device, max_length=setup.max_length,
                                                     prior=False, **kwargs))

    models = {FP32_ROW: load()}
    for precision in precisions:
        try:
            models[f"{FP32_ROW} {precision}"] = load(precision=precision)
        except ValueError as err:  # the hardware check refused it (e.g. bf16 on a GPU without bf16)
            notes.append(f"{FP32_ROW} {precision} skipped: {err}")
    return models


def official_payload(officials: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``official`` entry of the JSON: the first round's result without its scores, with the reference scores.

    ``timings_s`` keeps its meaning (every timed official pass), now of all rounds; ``timings_s_rounds`` splits
    them by round.
    """
    first = officials[0]
    return ({k: v for k, v in first.items() if k not in ("scores", "reference_scores")}
            | {"timings_s": [t for result in officials for t in result["timings_s"]],
               "timings_s_rounds": [list(result["timings_s"]) for result in officials],
               "rounds": len(officials), "batch_shapes": officials[-1].get("batch_shapes", first.get("batch_shapes")),
               "reference_scores": first["reference_scores"]})


def run(setup: OfficialSetup, out_dir: str | Path, clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Run both sides in interleaved rounds, write ``official.json`` and ``official.md`` into ``out_dir``.

    ``clock`` times the uniclass passes (tests pass a fake one); the official runner times its own. Returns
    the payload.
    """
    from uniclass.classifier import DEFAULT_MODEL_DIR, resolve_checkpoint

    if setup.rounds < 1 or setup.repeats < 1:  # before minutes of loading, not after
        raise ValueError(f"rounds and repeats must be >= 1, got {setup.rounds} and {setup.repeats}")
    threads = set_threads(setup.threads)
    quiet_transformers()
    checkpoint = resolve_checkpoint(setup.model) if setup.model else DEFAULT_MODEL_DIR
    items = dev_mix(setup.texts, setup.seed)
    texts, labels = [item["text"] for item in items], list(LABELS_8)
    reference_texts = len(texts) if setup.reference_texts < 0 else min(setup.reference_texts, len(texts))
    python = Path(setup.python) if setup.python else ensure_official_env(setup.env or default_env(), setup.requirements,
                                                                         setup.system_site_packages)
    request = official_request(setup, str(Path(checkpoint).resolve()), texts, labels, reference_texts)
    precisions, notes = fast_modes(setup.precisions, setup.device)
    with tempfile.TemporaryDirectory(prefix="uniclass-bench-") as tmp:
        workdir = Path(tmp)
        progress("loading uniclass ...")
        models = load_classifiers(checkpoint, setup, precisions, notes)
        text_info = describe_texts(items, models[FP32_ROW].tokenizer)
        try:
            onnx_models, onnx_note = onnx_classifiers(Path(checkpoint), setup, workdir)
        except Exception as err:  # noqa: BLE001 -- a broken export must not lose the measured rows
            onnx_models, onnx_note = {}, f"ONNX rows failed: {type(err).__name__}: {err}"
        models |= onnx_models
        batches = {}
        for name, model in models.items():
            progress(f"warming up {name} ...")
            batches[name] = prepare_classifier(model, texts, labels, setup)

        def official_round(i: int) -> dict[str, Any]:
            # the per-text reference scores are the same in every round: computed in the first one only
            return run_official(python, request | {"reference_texts": reference_texts if i == 0 else 0}, workdir)

        officials, ours = paired_rounds(setup, official_round, models, texts, labels, clock)
    for name, row in ours.items():
        row.batches = batches[name]
    rows = comparison_rows(officials, len(texts), ours)
    payload = {
        "benchmark": "official",
        "header": run_header(threads, setup.device, quick=setup.quick),
        "setup": vars(setup),
        "checkpoint": repo_relative(checkpoint),
        "labels": labels,
        "texts": text_info,
        "official": official_payload(officials),
        "official_scores": officials[-1]["scores"],
        "rows": rows,
        "onnx_note": onnx_note,
        "precision_notes": notes,
    }
    payload["verdicts"] = verdicts(rows)
    paths = write_results(out_dir, "official", payload, render_markdown(payload))
    payload["files"] = {k: str(v) for k, v in paths.items()}
    return payload


# ====================================================================== command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="GLiClass checkpoint (default: the bundled model)")
    parser.add_argument("--official-env", default=None, metavar="DIR",
                        help="virtual environment of the official package, created on first use "
                        "(default: $UNICLASS_CACHE/bench-envs/official, else ~/.cache/uniclass/bench-envs/official)")
    parser.add_argument("--official-python", default=None,
                        help="use this interpreter (which must have gliclass) instead of --official-env")
    parser.add_argument("--texts", type=int, default=None, help="texts in the mix, half short, half long (default 128)")
    parser.add_argument("--reference-texts", type=int, default=None,
                        help="texts scored one per official call for the parity column, in the first round only "
                        "(default: all)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 5; --quick 1): each runs the official package once, then "
                        "every uniclass row right after it, each side timing --repeats passes; the speed-up is the "
                        "median over rounds of the per-round ratio, which the machine's drift affects far less than "
                        "a ratio of medians taken minutes apart")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX rows")
    parser.add_argument("--onnx-dir", default=None, help="keep the ONNX export here (default: a temporary folder)")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated fast modes of the torch backend to time, one row each ('' for none; "
                        "default bf16,int8 on the CPU, bf16,fp16 on cuda, where int8 is skipped with a note)")
    parser.add_argument("--official-requirements", default=None, metavar="ARGS",
                        help=f"pip install arguments of the official environment (default ${REQUIREMENTS_VAR}, "
                        f"else '{' '.join(OFFICIAL_REQUIREMENTS)}'); e.g. 'gliclass==0.1.21' with "
                        "--official-system-site-packages to reuse a machine's CUDA torch")
    parser.add_argument("--official-system-site-packages", action="store_true",
                        help=f"create the official environment with this interpreter's packages visible (or "
                        f"${SYSTEM_SITE_VAR}=1)")


def setup_from_args(args: argparse.Namespace) -> OfficialSetup:
    quick = args.quick
    device = getattr(args, "device", "cpu")
    texts = args.texts or (4 if quick else 128)
    rounds = getattr(args, "rounds", None)
    if rounds is not None and rounds < 1:
        raise ValueError("--rounds must be >= 1")
    return OfficialSetup(
        model=args.model, env=args.official_env, python=args.official_python, threads=args.threads,
        batch_size=args.batch_size, max_length=args.max_length, texts=texts,
        reference_texts=args.reference_texts if args.reference_texts is not None else -1,
        # one timed pass per side per round by default: the rounds, not repeated passes, give the median
        repeats=args.repeats if args.repeats is not None else 1,
        rounds=rounds if rounds is not None else (1 if quick else 5),
        warmup_texts=min(texts, 2 if quick else args.batch_size), seed=args.seed, quick=quick, onnx=not args.no_onnx,
        onnx_dir=args.onnx_dir, precisions=parse_precisions(args.precisions, device), device=device,
        requirements=official_requirements(getattr(args, "official_requirements", None)),
        system_site_packages=getattr(args, "official_system_site_packages", False) or system_site_packages_from_env(),
    )


def parse_precisions(text: str | None, device: str) -> tuple[str, ...]:
    """``--precisions``: comma-separated names, or the device's default fast modes when not given."""
    if text is None:
        return DEFAULT_PRECISIONS.get(device, DEFAULT_PRECISIONS["cpu"])
    return tuple(p.strip() for p in text.split(",") if p.strip())


def headline(payload: dict[str, Any]) -> str:
    rows = [f"{r['name']}: {r['texts_per_s']:.2f} texts/s ({r['speedup']:.2f}x paired, {speedup_range(r)}), "
            f"max |d| per-text "
            f"{r['max_abs_diff_vs_official_per_text'] if r['max_abs_diff_vs_official_per_text'] is not None else '-'}"
            for r in payload["rows"]]
    notes = ([payload["onnx_note"]] if payload.get("onnx_note") else []) + list(payload.get("precision_notes") or [])
    return "\n".join(rows + notes + payload["verdicts"])
