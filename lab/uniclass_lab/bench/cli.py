"""``python -m uniclass_lab.bench labels|official|efficiency``: argument parsing and dispatch of the speed benchmarks.

The benchmarks themselves live in :mod:`uniclass_lab.bench`; nothing heavy is imported until one runs
(``--help`` stays instant).
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Any

BENCHMARKS = {
    "labels": "texts/s at 1..128 labels for ~64/256/512-token texts: uni-encoder, bi-encoder (cached labels), "
              "NLI cross-encoder (writes labels.json, labels.md, labels.png)",
    "official": "uniclass (torch, ONNX fp32/int8) against the official gliclass package on the same checkpoint, "
                "texts, labels, threads and batch size, timed in interleaved rounds; paired speed-up (median over "
                "rounds of each round's ratio) and max |score difference| (official.json/.md)",
    "efficiency": "analytic FLOPs per text, achieved GFLOP/s and the fraction of the measured fp32 matmul peak "
                  "(efficiency.json/.md)",
}
DEFAULT_OUT = "benchmarks/results/speed"
DEVICES = ("cpu", "cuda", "auto")  # uniclass_lab.bench.common.DEVICES, repeated so that --help imports no torch


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench`` and its three subcommands to the main parser's subcommands."""
    bench = subparsers.add_parser(
        "bench", help="speed benchmarks (label scaling, vs the official package, efficiency)",
        description="Speed benchmarks. Each writes JSON (raw numbers, machine, versions, setup) and a markdown table "
        "into --out; 'labels' also a PNG plot (pip install 'uniclass[bench]' for matplotlib). Use --quick for a "
        "smoke test on a tiny grid.",
    )
    which = bench.add_subparsers(dest="benchmark", required=True)
    for name, text in BENCHMARKS.items():
        sub = which.add_parser(name, help=text, description=text)
        _common_arguments(sub)
        _module(name).add_arguments(sub)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder for the result files (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per batch (default 32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 3; --quick 1)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="keep calling until this many seconds were timed (default 1; --quick 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts drawn")
    parser.add_argument("--quick", action="store_true", help="tiny grid and few texts: a smoke test, not a measurement")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where the models run: cpu (default), cuda (fails at once without a GPU) or auto (cuda "
                        "when torch sees one); the result files name the GPU")


def _module(name: str) -> Any:
    return import_module(f"uniclass_lab.bench.{name}")


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark and print where its files went and its headline numbers."""
    if args.batch_size < 1 or (args.repeats is not None and args.repeats < 1):
        raise ValueError("--batch-size and --repeats must be >= 1")
    from .common import resolve_device

    args.device = resolve_device(args.device)  # cuda without a GPU: a one-line error before any model loads
    module = _module(args.benchmark)
    payload = module.run(module.setup_from_args(args), args.out)
    print(module.headline(payload))
    if args.quick:
        print("(--quick: a smoke test on a tiny grid, not a measurement)")
    for kind, path in payload["files"].items():
        print(f"wrote {kind}: {path}", file=sys.stderr)
    return 0
