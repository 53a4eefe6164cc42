"""Command line: ``uniclass classify|explain|serve|export|train|eval``. Dispatch only: each subcommand is a
module of :mod:`uniclass.commands` (``add_parser`` and ``run``). Heavy imports (torch, transformers) happen
only when a command runs, so ``uniclass --help`` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from types import ModuleType

from .commands import COMMANDS


def _command(name: str) -> ModuleType:
    return import_module(f"{__package__}.commands.{name}")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uniclass", description="Zero-shot text classification with GLiClass models.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        _command(name).add_parser(subparsers)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not raise BrokenPipeError again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def one_line(err: BaseException) -> str:
    """The error's message on one line (some libraries', e.g. the hub client's offline error, span several)."""
    return " / ".join(line.strip() for line in str(err).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return _command(args.command).run(args)
    except BrokenPipeError:  # `uniclass classify ... | head`: the reader has all it wants
        _silence_stdout()
        return 141
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as err:
        print(f"uniclass: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("uniclass: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
