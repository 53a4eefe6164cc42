"""``python -m uniclass_lab bench|data``: the lab's command line (speed benchmarks, corpora).

These commands left ``uniclass`` with the code they run: they fetch research corpora or build a virtual
environment with another package, which the product does not do. Dispatch and error handling follow
:mod:`uniclass.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from uniclass.cli import one_line

from .bench import cli as bench_cli
from .corpora import cli as corpora_cli


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m uniclass_lab", description="uniclass's research tools.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    bench_cli.add_parser(subparsers)
    data = subparsers.add_parser("data", help="fetch and list the training and evaluation corpora",
                                 description=corpora_cli.DESCRIPTION)
    corpora_cli.add_arguments(data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one lab command; bad input is a one-line error and exit status 2, as in ``uniclass``."""
    args = _build_parser().parse_args(argv)
    try:
        return bench_cli.run(args) if args.command == "bench" else corpora_cli.run(args)
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as err:
        print(f"uniclass_lab: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("uniclass_lab: interrupted", file=sys.stderr)
        return 130
