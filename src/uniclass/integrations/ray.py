"""The Ray Data job: read Parquet or JSONL, classify with a pool of actors, write Parquet.

Each actor builds one ``Predictor`` and so loads the model once; Ray streams blocks of rows through the pool,
so the data never has to fit on one machine. The same call runs on a laptop (a local Ray started on demand)
and on a multi-node cluster (``ray.init(address="auto")`` or ``RAY_ADDRESS``, data on shared storage or S3).

Ray is imported only when a function here runs (``pip install "uniclass[ray]"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..tabular_io import detect_format as _detect_format
from .predictor import Predictor

RAY_FORMATS = ("parquet", "jsonl")


def classify_dataset(
    input: str | Path | Sequence[str | Path],
    output: str | Path,
    labels: Sequence[str],
    *,
    model: str | Path | None = None,
    input_format: str | None = None,
    text_column: str = "text",
    multi_label: bool = False,
    threshold: float | Mapping[str, float] | None = None,
    top_k: int | None = None,
    prompt: str | None = None,
    return_scores: bool = False,
    output_prefix: str = "",
    shortlist: int | str | None = None,
    retriever: str | None = None,
    num_actors: int = 1,
    batch_size: int = 32,
    rows_per_batch: int = 256,
    num_blocks: int | None = None,
    num_cpus_per_actor: float = 1.0,
    num_gpus_per_actor: float = 0.0,
    address: str | None = None,
    **load_options: Any,
) -> str:
    """Classify every row of a Parquet or JSONL dataset on Ray and write the rows, with ``label`` and ``score``
    columns added, as Parquet files in the folder ``output``.

    Args:
        input: a file, a folder of files, a list of them, or URIs Ray can read (``s3://bucket/reviews/``).
        output: the folder for the Parquet files (must not hold files already: runs are never mixed).
        labels: the candidate labels.
        input_format: ``"parquet"`` or ``"jsonl"``; default from the extension of ``input``.
        num_actors: the size of the actor pool; each actor loads the model once and uses
            ``num_cpus_per_actor`` CPUs (and ``num_gpus_per_actor`` GPUs: set 1 with ``device="cuda"``).
        batch_size: texts per forward pass; ``rows_per_batch``: rows Ray hands an actor at a time.
        num_blocks: repartition the input into this many blocks (default: as Ray reads it). Ray may read a small
            input as one block, which only one actor works on (Ray warns "won't fully utilize the available
            concurrency"); a few blocks per actor spread it over the pool. Large inputs need nothing.
        address: the Ray cluster to join when Ray is not initialised yet (default: ``RAY_ADDRESS``, else a local
            Ray); a running ``ray.init(...)`` is used as it is.
        shortlist: score only the ``k`` labels nearest each text (``Predictor``): each actor computes the label
            vectors once.
        retriever: how the shortlist is retrieved, as in ``Predictor``.
        **load_options: options of ``Classifier.from_pretrained``, e.g. ``precision="bf16"``: each actor loads its
            model in that precision. The other arguments mean what they mean for ``Predictor``.

    Returns:
        ``output`` as a string.

    Example:
        >>> from uniclass.integrations.ray import classify_dataset
        >>> classify_dataset("reviews.parquet", "scored/", ["positive", "negative"], num_actors=4)  # doctest: +SKIP
        'scored/'
    """
    ray = _import_ray()
    fmt = detect_format(input, input_format)
    if not isinstance(num_actors, int) or num_actors < 1:
        raise ValueError(f"num_actors must be an int >= 1, got {num_actors!r}")
    if not isinstance(rows_per_batch, int) or rows_per_batch < 1:
        raise ValueError(f"rows_per_batch must be an int >= 1, got {rows_per_batch!r}")
    if num_blocks is not None and (not isinstance(num_blocks, int) or num_blocks < 1):
        raise ValueError(f"num_blocks must be an int >= 1, got {num_blocks!r}")
    options = dict(
        model=None if model is None else str(model),
        labels=list(labels),
        text_column=text_column,
        multi_label=multi_label,
        threshold=threshold,
        top_k=top_k,
        batch_size=batch_size,
        prompt=prompt,
        return_scores=return_scores,
        output_prefix=output_prefix,
        shortlist=shortlist,
        retriever=retriever,
        **load_options,
    )
    Predictor(**options)  # bad options fail here, on the driver, before Ray starts or reads anything
    _check_output(output)
    if not ray.is_initialized():
        ray.init(address=address)
    _check_capacity(ray.cluster_resources(), num_actors, num_cpus_per_actor)
    dataset = read_dataset(input, fmt)
    if num_blocks is not None:
        dataset = dataset.repartition(num_blocks)  # override_num_blocks on the read still fed one actor (Ray 2.60)
    scored = dataset.map_batches(
        Predictor,
        fn_constructor_kwargs=options,
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        batch_size=rows_per_batch,
        batch_format="pyarrow",  # typed result columns: every file gets the same schema
        num_cpus=num_cpus_per_actor,
        num_gpus=num_gpus_per_actor or None,
    )
    scored.write_parquet(str(output))
    return str(output)


def detect_format(input: str | Path | Sequence[str | Path], explicit: str | None = None) -> str:
    """``"parquet"`` or ``"jsonl"``: ``explicit``, else the extension of the (first) input path, or of the files
    in a local folder (the extension rule is :func:`uniclass.tabular_io.detect_format`'s)."""
    if explicit is not None:
        if explicit not in RAY_FORMATS:
            raise ValueError(f"input format must be 'parquet' or 'jsonl', got {explicit!r}")
        return explicit
    return _detect_format(input, formats=RAY_FORMATS, hint="input_format=...")


def read_dataset(input: str | Path | Sequence[str | Path], fmt: str) -> Any:
    """A ``ray.data.Dataset`` over Parquet or JSON-lines files."""
    import ray.data

    paths = str(input) if isinstance(input, (str, Path)) else [str(p) for p in input]
    if fmt == "parquet":
        return ray.data.read_parquet(paths)
    return ray.data.read_json(paths)  # pyarrow's JSON reader: one object per line


def _check_capacity(resources: Mapping[str, float], num_actors: int, num_cpus_per_actor: float) -> None:
    """Fail at once instead of hanging: actors that take every CPU leave none for the read and write tasks,
    and Ray Data then waits forever (seen with 2 actors x 1 CPU on a 2-CPU Ray)."""
    total = float(resources.get("CPU", 0.0))
    needed = num_actors * num_cpus_per_actor
    if needed > total - 1:
        raise ValueError(
            f"{num_actors} actors x {num_cpus_per_actor:g} CPU leave less than 1 of the cluster's {total:g} CPUs for "
            "reading and writing: use fewer actors or a smaller num_cpus_per_actor (e.g. 0.5)"
        )


def _check_output(output: str | Path) -> None:
    """Refuse a local output folder that already holds files: Ray appends, and two runs would mix."""
    text = str(output)
    if "://" in text:
        return
    path = Path(text)
    if path.is_file():
        raise ValueError(f"output {text} is a file; Ray writes a folder of Parquet files")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"output folder {text} is not empty; choose a new folder or remove it")


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError(f"the Ray engine needs Ray Data: pip install 'uniclass[ray]' ({err})") from err
    return ray
