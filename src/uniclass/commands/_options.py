"""Options shared by more than one command (the inference backend of ``classify`` and ``serve``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_backend_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--backend", choices=["torch", "onnx"], default=None,
                        help="onnx: run a folder written by `uniclass export onnx` on ONNX Runtime (no torch needed)")
    parser.add_argument("--quantized", action="store_true", help="with --backend onnx: the int8 graphs")


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.quantized and args.backend != "onnx":
        raise ValueError("--quantized needs --backend onnx")
    return {"backend": args.backend, "quantized": True} if args.quantized else {"backend": args.backend}
