"""``python -m uniclass_lab.selection_suite_cli``: the model-selection suite (:mod:`uniclass_lab.selection_suite`) from the shell.

Loads models and baselines, runs :func:`~uniclass_lab.selection_suite.run_suite` and writes the result JSON::

    python -m uniclass_lab.selection_suite_cli --model default --baseline minilm --sets gcide_eval,bbc_news --limit 600 --out s.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .selection_suite import BASELINES, DEFAULT_SETS, DEFAULT_THRESHOLD, Scorer, format_table, run_suite


def _load_model(path: str) -> Scorer:
    """A model folder, or "default" for the bundled default model (``Classifier.from_pretrained()``)."""
    from uniclass.classifier import Classifier

    return Classifier.from_pretrained(None if path == "default" else path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uniclass_lab.selection_suite_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="a uniclass model folder, or 'default' for the bundled model (repeatable)")
    parser.add_argument("--baseline", action="append", default=[], choices=sorted(BASELINES),
                        help="a baseline scorer (repeatable): minilm = embedding similarity, all-MiniLM-L6-v2")
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated corpus names or files")
    parser.add_argument("--limit", type=int, default=600, help="seeded subset per set (0 = all items)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="multi-label threshold")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="write the result dict as JSON here")
    args = parser.parse_args(argv)
    if not args.model and not args.baseline:
        parser.error("give at least one --model or --baseline")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    models: dict[str, Scorer] = {}
    for name in args.baseline:
        models[f"embedding similarity ({name})"] = BASELINES[name]()
    for path in args.model:
        models[Path(path).name or path] = _load_model(path)
    set_names = [s.strip() for s in args.sets.split(",") if s.strip()]
    result = run_suite(models, set_names, args.limit or None, args.seed, threshold=args.threshold,
                       batch_size=args.batch_size, log=lambda line: print(line, file=sys.stderr, flush=True))
    result["command"] = "python -m uniclass_lab.selection_suite_cli " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
