"""``uniclass export onnx``: hosted here, defined next to the exporter (``uniclass.exporters.cli``)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..exporters.cli import add_export_parser  # light: torch is imported only when an export runs

    add_export_parser(subparsers)


def run(args: argparse.Namespace) -> int:
    from ..exporters.cli import run_export

    return run_export(args)
