"""Options shared by more than one command (the inference backend of ``classify`` and ``serve``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_backend_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default=None,
        help="onnx: run a folder written by `uniclass export onnx` on ONNX Runtime (no torch needed)",
    )
    parser.add_argument("--quantized", action="store_true", help="with --backend onnx: the int8 graphs")
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16", "int8", "fp16", "auto"],
        default=None,
        help="fp32 (default: exact, the official package's scores); bf16 (CPUs with avx512_bf16/AMX, "
        "GPUs); int8 (CPU, or the ONNX int8 graphs); fp16 (GPUs only); auto: the fast mode this "
        "hardware runs natively. Accuracy cost of each: benchmarks/precision_report.py",
    )


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.quantized and args.backend != "onnx":
        raise ValueError("--quantized needs --backend onnx")
    options: dict[str, Any] = {"backend": args.backend}
    if args.quantized:
        options["quantized"] = True
    if getattr(args, "precision", None) is not None:
        options["precision"] = args.precision
    return options
