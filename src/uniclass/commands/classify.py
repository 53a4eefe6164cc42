"""``uniclass classify``: texts from arguments, stdin or a JSONL/CSV/Parquet file, one result per text, streamed a
chunk at a time (``--engine ray``: the same as a Ray Data job)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._options import add_backend_options, backend_options

AUTO_SHORTLIST_LABELS = 256  # --labels-file with more labels than this is shortlisted unless --shortlist off


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    classify = subparsers.add_parser(
        "classify",
        help="classify texts against labels",
        description="Classify texts (arguments, one per line on stdin, or a JSONL/CSV/Parquet --input file) and "
        "write one result per text: JSON lines by default, a table on a terminal, or JSONL/CSV/Parquet with --output.",
        epilog="examples:\n"
        "  uniclass classify 'Shares fell 5%' --labels sports,finance --model M\n"
        "  uniclass classify --input reviews.parquet --text-column body --labels-file labels.txt --model M \\\n"
        "      --single-label --output scored.parquet --resume\n"
        "  uniclass classify 'The battery died' --labels 'product.battery,product.screen,service' "
        "--hierarchy --as-tree\n"
        "  uniclass classify --input reviews.jsonl --labels-file tree.json --hierarchy --output scored.jsonl\n"
        "\nlabel trees: with --hierarchy (or --as-tree) a dot in a label separates levels, so 'product.battery' is\n"
        "the child 'battery' of 'product'; a returned child brings its parent, scored with the best score below it.\n"
        'A --labels-file ending in .json may hold the tree itself: {"product": ["battery", "screen"],\n'
        '"service": null} (null: a label with no children; keys may then contain dots).',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classify.add_argument("texts", nargs="*", help="texts to classify; without texts or --input, one per line on stdin")
    classify.add_argument(
        "--model",
        default=None,
        help=(
            "GLiClass checkpoint folder, hub id or bundled model name "
            "(uniclass-minilm, uniclass-multilingual; default: uniclass-minilm)"
        ),
    )
    source = classify.add_argument_group("input")
    source.add_argument("--input", "-i", metavar="FILE", help="JSONL, CSV or Parquet file of texts (by extension)")
    source.add_argument(
        "--input-format", choices=["jsonl", "csv", "parquet"], help="format of --input if its extension does not say"
    )
    source.add_argument("--text-column", default="text", help="field or column holding the text (default: text)")
    labels = classify.add_argument_group("labels and decisions")
    label_source = labels.add_mutually_exclusive_group(required=True)
    label_source.add_argument("--labels", help="comma-separated labels, e.g. 'positive,negative'")
    label_source.add_argument(
        "--labels-file",
        metavar="FILE",
        help="labels, one per line (labels may contain commas); a .json file: a JSON list of "
        "labels, or a JSON object mapping parents to children (a label tree, see below)",
    )
    mode = labels.add_mutually_exclusive_group()
    mode.add_argument(
        "--multi-label",
        dest="single_label",
        action="store_false",
        help="sigmoid per label, keep those over the threshold (default)",
    )
    mode.add_argument(
        "--single-label", dest="single_label", action="store_true", help="softmax over labels, keep the best one"
    )
    labels.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="multi-label score threshold (default: the model's fitted thresholds, else 0.5)",
    )
    labels.add_argument("--top-k", type=int, default=None, help="keep at most K labels per text")
    labels.add_argument("--prompt", default=None, help="task description placed before the text")
    labels.add_argument(
        "--abstain",
        type=float,
        default=None,
        metavar="SCORE",
        help="no label scores below SCORE in either mode, whatever --threshold, --group or --min-labels "
        "say; an empty answer means 'none of these'",
    )
    labels.add_argument(
        "--group",
        action="append",
        default=None,
        metavar="L1,L2,...",
        dest="groups",
        help="exclusive labels: exactly one of them is kept, the best (repeatable)",
    )
    labels.add_argument(
        "--min-labels", type=int, default=0, help="keep at least N labels per text (the best; never below --abstain)"
    )
    labels.add_argument("--max-labels", type=int, default=None, help="keep at most N labels per text")
    labels.add_argument(
        "--hierarchy",
        action="store_true",
        help="hierarchical labels: 'parent.child' labels (or a .json tree) where a returned child "
        "brings its parent, scored with the best score below it, so parent >= child always",
    )
    labels.add_argument(
        "--as-tree",
        action="store_true",
        help="write each text's labels as a tree {name: {score, children}} (implies --hierarchy; "
        "JSONL, CSV or the table, not Parquet)",
    )
    labels.add_argument(
        "--label-order",
        choices=["given", "stable", "positions", "permutations"],
        default="given",
        help="stable: scores that do not depend on the order of --labels (position ids where the "
        "model allows, else averaging over --permutations orders)",
    )
    labels.add_argument(
        "--permutations", type=int, default=None, help="orders averaged by --label-order permutations (default 4)"
    )
    labels.add_argument(
        "--shortlist",
        default=None,
        metavar="K|auto",
        help="score only the K labels nearest each text (retrieved with sentence embeddings); 'auto' "
        f"picks K from the label count. Default: auto for more than {AUTO_SHORTLIST_LABELS} labels, "
        "else off; 'off' scores every label",
    )
    labels.add_argument(
        "--retriever",
        choices=["prior", "minilm", "model"],
        default=None,
        help="what picks the shortlist: the model's embedding prior (default when it has one, as the "
        "default model does: no extra pass), MiniLM sentence embeddings, or the model's own encoder",
    )
    output = classify.add_argument_group("output")
    output.add_argument("--output", "-o", metavar="FILE", help="write results to a .jsonl, .csv or .parquet file")
    output.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet", "table"],
        default=None,
        help="output format (default: from --output's extension; on stdout a table on a terminal, else jsonl)",
    )
    output.add_argument(
        "--drop-fields",
        action="store_true",
        help="JSONL output: write only text and labels (by default each result keeps the input row's "
        "other fields, e.g. an id, so results join back)",
    )
    output.add_argument(
        "--resume", action="store_true", help="keep the rows already in --output, classify the rest and append"
    )
    output.add_argument(
        "--chunk-size", type=int, default=256, help="rows classified and written at a time (default 256)"
    )
    output.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on a terminal for inputs longer than one chunk)",
    )
    runtime = classify.add_argument_group("model runtime")
    runtime.add_argument("--batch-size", type=int, default=32)
    runtime.add_argument(
        "--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)"
    )
    runtime.add_argument("--device", default="auto")
    runtime.add_argument(
        "--adapter",
        default=None,
        metavar="PATH|NAME=PATH",
        help="score with this LoRA adapter (a PEFT adapter folder) on top of the model",
    )
    add_backend_options(runtime)
    scale = classify.add_argument_group("scaling out (Ray Data; pip install 'uniclass[ray]')")
    scale.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="ray: read the --input Parquet/JSONL file or folder with Ray Data, classify with a pool of "
        "actors and write Parquet files into the --output folder (input columns + label, score)",
    )
    scale.add_argument(
        "--num-actors", type=int, default=None, help="actors in the pool, each loading the model once (default 1)"
    )
    scale.add_argument("--cpus-per-actor", type=float, default=1.0, help="Ray CPUs reserved per actor (default 1)")
    scale.add_argument("--gpus-per-actor", type=float, default=0.0, help="Ray GPUs per actor (use with --device cuda)")
    scale.add_argument(
        "--ray-address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)"
    )
    classify.set_defaults(single_label=False)


def run(args: argparse.Namespace) -> int:
    """Stream texts through the model a chunk at a time, writing (and flushing) each chunk's results."""
    from .. import tabular_io as uio

    if args.engine == "ray":
        return _classify_ray(args)
    if args.num_actors is not None:
        raise ValueError("--num-actors needs --engine ray")
    labels = read_labels(args)
    _check_not_the_input(args)
    out_format = _output_format(args)
    if args.as_tree and out_format == "parquet":
        raise ValueError("--as-tree writes a tree per text, which Parquet's label list cannot hold: write JSONL or CSV")
    _check_classify_options(args, labels)
    point = uio.resume_point(args.output, out_format, args.chunk_size) if args.resume else None
    skip = point.keep if point else 0
    chunks, total = _text_chunks(args, skip)
    chunks = _primed(chunks)
    if point is not None:
        if total is not None and point.rows > total:
            raise ValueError(f"cannot resume: {args.output} has {point.rows} rows but the input has only {total}")
        uio.cut_to_resume_point(args.output, out_format, point)  # checked: now the output may change
        if point.rows:
            print(f"uniclass: resuming: {_resuming(point, args.output)}", file=sys.stderr)
    fields = _field_chunks(args, out_format, skip)
    sink = uio.open_sink(args.output, out_format, append=args.resume)
    progress = _progress_bar(args, None if total is None else total - skip)
    classify = _chunk_classifier(args, labels)
    written, started = 0, time.perf_counter()
    try:
        with _sigterm_as_interrupt():
            for chunk in chunks:
                results = classify(chunk, progress.update)
                sink.write(chunk, results, None if fields is None else _checked_fields(next(fields)))
                written += len(chunk)
    finally:
        progress.close()
        sink.close()
    if written == 0 and skip == 0 and not args.input:
        raise ValueError("no texts given (pass them as arguments, on stdin, or with --input FILE)")
    if args.output:
        print(_summary(written, time.perf_counter() - started, args.output), file=sys.stderr)
    return 0


def _resuming(point: Any, output: str) -> str:
    """What ``--resume`` keeps of the output, and how many rows of an unfinished chunk it classifies again."""
    kept = f"{point.keep} {'row' if point.keep == 1 else 'rows'} already in {output}"
    if not point.redone:
        return kept
    again = f"{point.redone} {'row' if point.redone == 1 else 'rows'}"
    return f"{kept}; {again} of an unfinished chunk of {point.chunk_size} classified again"


def _summary(count: int, seconds: float, output: str) -> str:
    """The end-of-run line: how many texts, how fast (model loading included), and where they went."""
    rate = f" ({count / seconds:.1f} texts/s)" if count and seconds > 0 else ""
    return f"uniclass: classified {count} texts in {seconds:.1f} s{rate}; wrote {output}"


def _field_chunks(args: argparse.Namespace, out_format: str, skip: int) -> Iterator[list[dict[str, Any]]] | None:
    """The input rows' other fields, chunk by chunk, when JSONL output keeps them (None: nothing to keep)."""
    from .. import tabular_io as uio

    if not args.input or out_format != "jsonl" or args.drop_fields:
        return None
    fmt = uio.detect_format(args.input, args.input_format)
    return uio.iter_field_chunks(args.input, fmt, args.text_column, args.chunk_size, skip)


def _checked_fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An input field named like an output field would be overwritten by the result: refuse instead."""
    for row in rows:
        clash = sorted({"text", "labels"} & set(row))
        if clash:
            raise ValueError(
                f"the input has a field {clash[0]!r}, which the output writes too: rename it, or pass "
                "--drop-fields to write only text and labels"
            )
    return rows


def _classify_ray(args: argparse.Namespace) -> int:
    """``--engine ray``: the same classification as a Ray Data job (uniclass.integrations.ray.classify_dataset)."""
    if not args.input or not args.output:
        raise ValueError(
            "--engine ray needs --input FILE_OR_FOLDER (Parquet or JSONL) and --output FOLDER (Parquet files)"
        )
    unsupported = [
        flag
        for flag, used in (
            ("text arguments", bool(args.texts)),
            ("--resume", args.resume),
            ("--format", args.format not in (None, "parquet")),
            ("--input-format csv", args.input_format == "csv"),
            ("decision options", bool(_decision_options(args))),
            ("--label-order", args.label_order != "given"),
            ("--as-tree", args.as_tree),
            ("--adapter", bool(args.adapter)),
        )
        if used
    ]
    if unsupported:
        raise ValueError(f"--engine ray does not support {', '.join(unsupported)}")
    labels = read_labels(args)
    if isinstance(labels, dict):  # a .json tree without --hierarchy: its flattened labels, as the library scores it
        from ..processing import flatten_label_tree

        labels = flatten_label_tree(labels)
    _check_not_the_input(args)
    _check_classify_options(args, labels)
    from ..integrations.ray import classify_dataset

    output = classify_dataset(
        args.input,
        args.output,
        labels,
        model=args.model,
        input_format=args.input_format,
        text_column=args.text_column,
        multi_label=not args.single_label,
        threshold=args.threshold,
        top_k=args.top_k,
        prompt=args.prompt,
        num_actors=args.num_actors or 1,
        batch_size=args.batch_size,
        rows_per_batch=args.chunk_size,
        num_cpus_per_actor=args.cpus_per_actor,
        num_gpus_per_actor=args.gpus_per_actor,
        address=args.ray_address,
        device=args.device,
        max_length=args.max_length,
        shortlist=args.shortlist,
        retriever=args.retriever,
        **({"precision": args.precision} if args.precision is not None else {}),
    )
    print(json.dumps({"output": output}))
    return 0


def read_labels(args: argparse.Namespace) -> list[str] | dict[str, Any]:
    """--labels or --labels-file; with --hierarchy/--as-tree a list of 'parent.child' labels becomes their tree."""
    from .. import tabular_io as uio
    from ..processing import label_tree_from_paths

    labels = uio.read_labels(args.labels_file) if args.labels_file else uio.parse_labels(args.labels)
    if (args.hierarchy or args.as_tree) and isinstance(labels, list):
        return label_tree_from_paths(labels)
    return labels


def _check_not_the_input(args: argparse.Namespace) -> None:
    """Writing the output over the input would destroy it (the input is still being read): refuse."""
    if not args.input or not args.output:
        return
    source, target = _resolved(args.input, "--input"), _resolved(args.output, "--output")
    if source == target or (target.exists() and source.exists() and source.samefile(target)):
        raise ValueError(f"--output {args.output} is the input file: write the results to another file")


def _resolved(path: str, option: str) -> Any:
    """``path`` with its symlinks resolved; a symlink loop is a one-line error naming the option and the file."""
    from pathlib import Path

    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as err:  # Python < 3.13 raises RuntimeError("Symlink loop ..."), later OSError
        raise ValueError(f"{option} {path}: cannot resolve the path ({err}); is it a symlink loop?") from None


def _output_format(args: argparse.Namespace) -> str:
    """--format, else the --output extension, else a table for a person at a terminal and JSON lines otherwise."""
    from ..tabular_io import detect_format

    if args.output:
        return detect_format(args.output, args.format)
    if args.resume:
        raise ValueError("--resume needs --output FILE (the rows already written there are skipped)")
    if args.format:
        return args.format
    return "table" if sys.stdout.isatty() else "jsonl"


def _check_classify_options(args: argparse.Namespace, labels: list[str] | dict[str, Any]) -> None:
    """Reject bad labels and options before the model loads and before any output file is touched."""
    from ..decisions import check_rules_against, make_rules
    from ..label_order import check_label_order
    from ..postprocessing import check_threshold, check_top_k
    from ..processing import flatten_label_tree, normalize_request

    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if args.input and args.texts:
        raise ValueError("give texts as arguments or with --input FILE, not both")
    normalize_request([""], labels, multi_label=not args.single_label, prompt=args.prompt)
    check_top_k(args.top_k)
    check_threshold(args.threshold)
    check_label_order(args.label_order, args.permutations)
    rules = make_rules(**_decision_options(args))
    tree = labels if isinstance(labels, dict) else None
    flat = labels if isinstance(labels, list) else flatten_label_tree(labels)
    check_rules_against(rules, flat, tree, "--labels")
    if tree is not None:  # shortlisting scores a flat set; a tree is scored whole
        if args.shortlist not in (None, "off"):
            raise ValueError(
                "--shortlist needs flat labels, not a label tree (--hierarchy, --as-tree or a .json object)"
            )
        args.shortlist = None
        return
    args.shortlist = resolve_shortlist(args.shortlist, len(flat))


def _decision_options(args: argparse.Namespace) -> dict[str, Any]:
    """The structured-decision keywords of ``Classifier.classify`` given on the command line."""
    from ..tabular_io import parse_labels

    options: dict[str, Any] = {}
    if args.abstain is not None:
        options["abstain"] = args.abstain
    if args.groups:
        options["groups"] = [parse_labels(group) for group in args.groups]
    if args.min_labels:
        options["min_labels"] = args.min_labels
    if args.max_labels is not None:
        options["max_labels"] = args.max_labels
    if args.hierarchy or args.as_tree:
        options["hierarchy"] = True
    return options


def resolve_shortlist(value: str | int | None, n_labels: int) -> int | str | None:
    """``--shortlist``: an int >= 1, ``auto``, ``off``; unset: ``auto`` above ``AUTO_SHORTLIST_LABELS`` labels."""
    if value is None:
        return "auto" if n_labels > AUTO_SHORTLIST_LABELS else None
    if isinstance(value, int) or value in ("auto", "off"):
        return None if value == "off" else value
    try:
        k = int(value)
    except ValueError:
        raise ValueError(f"--shortlist must be an integer K >= 1, 'auto' or 'off', got {value!r}") from None
    if k < 1:
        raise ValueError(f"--shortlist must be >= 1, got {k}")
    return k


def _text_chunks(args: argparse.Namespace, skip: int) -> tuple[Iterator[list[str]], int | None]:
    """The texts to classify, in chunks after the first ``skip``, and how many there are (None: unknown)."""
    from pathlib import Path

    from .. import tabular_io as uio

    if args.input:
        if not Path(args.input).is_file():
            raise FileNotFoundError(f"--input {args.input}: no such file")
        fmt = uio.detect_format(args.input, args.input_format)
        total = uio.count_rows(args.input, fmt, args.text_column)
        return uio.iter_text_chunks(args.input, fmt, args.text_column, args.chunk_size, skip), total
    if args.texts:
        return uio.rechunk(args.texts, args.chunk_size, skip), len(args.texts)
    if sys.stdin.isatty():
        raise ValueError("no texts given (pass them as arguments, on stdin, or with --input FILE)")
    lines = (line.rstrip("\r\n") for line in sys.stdin if line.strip())
    return uio.rechunk(lines, args.chunk_size, skip), None


def _primed(chunks: Iterator[list[str]]) -> Iterator[list[str]]:
    """Read the first chunk now, so a missing column or a broken first line fails before the output is touched."""
    from itertools import chain

    first = next(chunks, None)
    return chunks if first is None else chain([first], chunks)


def _chunk_classifier(
    args: argparse.Namespace,
    labels: list[str] | dict[str, Any],
) -> Callable[[list[str], Callable[[int], Any]], list[Any]]:
    """A function classifying one chunk and reporting progress in texts after every model batch (``done(n)``), so
    a progress bar moves per batch, not per chunk; the model loads on the first chunk (none left: never loaded)."""
    state: dict[str, Any] = {}

    def classify(texts: list[str], done: Callable[[int], Any]) -> list[Any]:
        if "clf" not in state:
            from ..classifier import Classifier

            state["clf"] = Classifier.from_pretrained(
                args.model, device=args.device, max_length=args.max_length, **backend_options(args)
            )
            state["clf"].shortlist_retriever = getattr(args, "retriever", None)
            if getattr(args, "adapter", None):
                state["adapter"] = load_adapter_option(state["clf"], args.adapter)
        reported = [0]

        def on_batch(rows: int, total_rows: int) -> None:
            # the engine counts windows (a long text has several): report the chunk's texts in proportion
            target = min(len(texts), reported[0] + max(1, round(len(texts) * rows / max(total_rows, 1))))
            done(target - reported[0])
            reported[0] = target

        results = state["clf"].classify(
            texts,
            labels,
            multi_label=not args.single_label,
            threshold=args.threshold,
            top_k=args.top_k,
            prompt=args.prompt,
            batch_size=args.batch_size,
            show_progress=on_batch,
            label_order=args.label_order,
            permutations=args.permutations,
            as_tree=args.as_tree,
            **_decision_options(args),
            **({"shortlist": args.shortlist} if getattr(args, "shortlist", None) is not None else {}),
            **({"adapter": state["adapter"]} if "adapter" in state else {}),
        )
        done(len(texts) - reported[0])  # the whole chunk, whatever the windows added up to
        return results

    return classify


def load_adapter_option(clf: Any, option: str) -> str:
    """``--adapter PATH`` or ``NAME=PATH``: load the adapter and return its name (the folder's name by default)."""
    from pathlib import Path

    name, sep, path = option.partition("=")
    if not sep or not name or Path(option).exists():
        name, path = Path(option).name, option
    if not Path(path).is_dir():
        raise ValueError(f"--adapter: {path} is not a folder (a PEFT LoRA adapter folder with adapter_config.json)")
    clf.load_adapter(path, name=name)
    return name


def _progress_bar(args: argparse.Namespace, total: int | None) -> Any:
    """tqdm on stderr, with an ETA when the number of texts is known; on by default only on a terminal."""
    from tqdm.auto import tqdm

    show = args.progress
    if show is None:  # not when a table is being drawn on the same terminal: the rows show progress already
        on_screen = args.output is None and sys.stdout.isatty()
        show = sys.stderr.isatty() and not on_screen and (total is None or total > args.chunk_size)
    return tqdm(total=total, unit="text", desc="uniclass", file=sys.stderr, disable=not show, dynamic_ncols=True)


class _sigterm_as_interrupt:
    """Turn SIGTERM into KeyboardInterrupt while classifying, so output files are closed cleanly on `kill`."""

    def __enter__(self) -> None:
        import signal
        import threading

        self.active = threading.current_thread() is threading.main_thread()  # signals only work there
        if self.active:
            self.previous = signal.signal(signal.SIGTERM, self._raise)

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.active:
            signal.signal(signal.SIGTERM, self.previous if self.previous is not None else signal.SIG_DFL)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
