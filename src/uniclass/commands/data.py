"""``uniclass data fetch|list``: the labelled corpora (``uniclass.data.corpora``) fetched into the cache."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..data.corpora.cli import DESCRIPTION, add_arguments  # standard library only

    data = subparsers.add_parser("data", help="fetch and list the training and evaluation corpora", description=DESCRIPTION)
    add_arguments(data)


def run(args: argparse.Namespace) -> int:
    from ..data.corpora.cli import run as run_data

    return run_data(args)
