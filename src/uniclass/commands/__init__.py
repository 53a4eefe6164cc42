"""The ``uniclass`` subcommands, one module each (as transformers' ``commands/``).

Every module has ``add_parser(subparsers)``, which adds its subcommand and imports nothing heavy, and
``run(args)``, which does the work and returns the exit status; ``uniclass.cli`` only dispatches.
"""

from __future__ import annotations

# In the order of ``uniclass --help``.
# Research tools (corpora, speed benchmarks against other packages) are the lab's: ``python -m uniclass_lab``.
COMMANDS = ("classify", "explain", "serve", "export", "train", "eval")
