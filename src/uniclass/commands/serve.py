"""``uniclass serve``: the HTTP service (micro-batched POST /v1/classify, health, metrics, a demo page)."""

from __future__ import annotations

import argparse
import logging
import os

from ._options import add_backend_options, backend_options

logger = logging.getLogger("uniclass.serve")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..serve.limits import Limits

    defaults = Limits()
    serve = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (POST /v1/classify, a demo page at /)",
        description="HTTP service: POST /v1/classify (concurrent requests are micro-batched), GET /healthz, "
        "GET /metrics (Prometheus), /docs and /openapi.json, and a small demo page at /. Needs the serve extra: "
        "pip install 'uniclass[serve]'.",
    )
    serve.add_argument(
        "--model",
        default=None,
        help=(
            "GLiClass checkpoint folder, hub id or bundled model name "
            "(uniclass-minilm, uniclass-multilingual; default: uniclass-minilm)"
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 exposes it)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--api-key",
        default=None,
        help="require 'Authorization: Bearer KEY' or 'X-API-Key: KEY' on /v1/* (default: $UNICLASS_API_KEY)",
    )
    serve.add_argument(
        "--max-batch-texts", type=int, default=defaults.max_batch_texts, help="texts merged into one model call"
    )
    serve.add_argument(
        "--max-batch-tokens",
        type=int,
        default=defaults.max_batch_tokens,
        help="encoder tokens of work in one model call (larger requests are answered in slices)",
    )
    serve.add_argument(
        "--max-wait-ms", type=float, default=defaults.max_wait_ms, help="how long a batch waits for more requests"
    )
    serve.add_argument(
        "--client-quantum-tokens",
        type=int,
        default=defaults.client_quantum_tokens,
        help="fair sharing: encoder tokens each client (remote address) may have answered per round "
        "while others wait; a larger request is answered in slices",
    )
    serve.add_argument(
        "--upload-weight",
        type=float,
        default=defaults.upload_weight,
        help="fair sharing: the share of its client's turns that label embedding (label-set uploads, a "
        "shortlist's new labels) gets, 0 to 1",
    )
    serve.add_argument(
        "--refusal-share",
        type=float,
        default=defaults.refusal_share,
        help="a client whose requests are refused (4xx) waits before its next one, so refusals cost the "
        "server at most this share of a core per client (1: no pacing beyond 5 ms)",
    )
    serve.add_argument("--max-texts", type=int, default=defaults.max_texts, help="texts per request")
    serve.add_argument("--max-labels", type=int, default=defaults.max_labels, help="labels per text")
    serve.add_argument("--max-chars", type=int, default=defaults.max_chars, help="characters per text")
    serve.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="request body size")
    serve.add_argument(
        "--max-queue-texts",
        type=int,
        default=defaults.max_queue_texts,
        help="texts waiting for the model before new requests get 503",
    )
    serve.add_argument(
        "--max-queue-tokens",
        type=int,
        default=defaults.max_queue_tokens,
        help="encoder tokens of work waiting for the model before new requests get 503",
    )
    serve.add_argument(
        "--max-work-tokens",
        type=int,
        default=defaults.max_work_tokens,
        help="work budget of one request in encoder tokens (texts x label groups x window); over it: 413",
    )
    serve.add_argument(
        "--max-prompt-chars", type=int, default=defaults.max_prompt_chars, help="characters of the prompt"
    )
    serve.add_argument("--max-label-chars", type=int, default=defaults.max_label_chars, help="characters per label")
    serve.add_argument("--max-examples", type=int, default=defaults.max_examples, help="few-shot examples per request")
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout_s,
        help="seconds before an unanswered request gets a JSON 504 and its queued work is dropped",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=defaults.body_timeout_s,
        help="seconds a client has to send the whole request body (slow uploads get 408)",
    )
    serve.add_argument(
        "--timeout-keep-alive", type=float, default=5.0, help="seconds an idle keep-alive connection stays open"
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=defaults.max_connections,
        help="open connections in all before new ones get a JSON 503",
    )
    serve.add_argument(
        "--max-connections-per-client",
        type=int,
        default=defaults.max_connections_per_client,
        help="open connections per remote address before its new ones get a JSON 503",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout_s,
        help="seconds a connection has to send a request's headers (idle ones are closed, half-sent "
        "ones get a JSON 408)",
    )
    serve.add_argument(
        "--max-label-set-tokens",
        type=int,
        default=defaults.max_label_set_tokens,
        help="work budget of one label-set upload (PUT /v1/label-sets) in encoder tokens; over it: 413",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="on SIGTERM/SIGINT: stop accepting, let queued work finish for this many seconds, answer "
        "the rest with a JSON 503, exit 0 (a second signal exits at once)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN to call the API (repeatable; '*' for any). Default: CORS off",
    )
    serve.add_argument(
        "--label-set",
        action="append",
        default=None,
        metavar="NAME=FILE",
        help="register a label set (one label per line in FILE) that requests name with "
        '"label_set": "NAME" instead of sending the labels; only its shortlist is scored (repeatable)',
    )
    serve.add_argument(
        "--adapter",
        action="append",
        default=None,
        metavar="NAME=PATH",
        help='load a LoRA adapter (PEFT folder) that requests choose with "adapter": "NAME", per '
        "request or per text (repeatable; PUT /v1/adapters/NAME loads more, with --api-key)",
    )
    serve.add_argument("--max-adapters", type=int, default=16, help="LoRA adapters loaded at once (default 16)")
    serve.add_argument(
        "--max-adapter-mb",
        type=float,
        default=512.0,
        help="memory of all loaded adapters' matrices, in MB (default 512)",
    )
    serve.add_argument("--batch-size", type=int, default=32, help="model batch size inside one call")
    serve.add_argument(
        "--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)"
    )
    serve.add_argument("--device", default="auto")
    serve.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads for the model (default: torch's choice); fewer than the cores leaves room "
        "for the HTTP side and other processes, and avoids latency spikes on a busy machine",
    )
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_backend_options(serve)


def parse_label_sets(values: list[str] | None) -> dict[str, list[str]]:
    """``["topics=topics.txt", ...]`` -> ``{"topics": [labels of topics.txt], ...}`` (before the model loads)."""
    from ..tabular_io import read_labels_file

    out: dict[str, list[str]] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--label-set expects NAME=FILE, got {value!r}")
        if name in out:
            raise ValueError(f"--label-set {name} is given twice")
        out[name] = read_labels_file(path)
    return out


def parse_adapters(values: list[str] | None) -> dict[str, str]:
    """``["legal=/srv/adapters/legal", ...]`` -> ``{"legal": "/srv/adapters/legal", ...}``."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--adapter expects NAME=PATH, got {value!r}")
        if name in out:
            raise ValueError(f"--adapter {name} is given twice")
        out[name] = path
    return out


def run(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ImportError(f"uniclass serve needs fastapi and uvicorn: pip install 'uniclass[serve]' ({err})") from err
    from ..serve.app import create_app
    from ..serve.limits import Limits
    from ..serve.server import (
        exit_without_waiting_for_threads,
        graceful_server,
        server_config,
    )

    limits = Limits(
        max_texts=args.max_texts,
        max_labels=args.max_labels,
        max_chars=args.max_chars,
        max_body_bytes=args.max_body_bytes,
        max_batch_texts=args.max_batch_texts,
        max_batch_tokens=args.max_batch_tokens,
        max_wait_ms=args.max_wait_ms,
        client_quantum_tokens=args.client_quantum_tokens,
        upload_weight=args.upload_weight,
        refusal_share=args.refusal_share,
        max_queue_texts=args.max_queue_texts,
        max_queue_tokens=args.max_queue_tokens,
        max_work_tokens=args.max_work_tokens,
        max_prompt_chars=args.max_prompt_chars,
        max_label_chars=args.max_label_chars,
        max_examples=args.max_examples,
        request_timeout_s=args.request_timeout,
        body_timeout_s=args.body_timeout,
        max_connections=args.limit_concurrency,
        max_connections_per_client=args.max_connections_per_client,
        header_timeout_s=args.header_timeout,
        max_label_set_tokens=args.max_label_set_tokens,
    )
    for name in ("timeout_keep_alive", "limit_concurrency", "shutdown_timeout"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    load_options = backend_options(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        load_options["num_threads"] = args.threads  # torch.set_num_threads, or the ONNX session's threads
    app = create_app(
        args.model,
        limits=limits,
        api_key=args.api_key or os.environ.get("UNICLASS_API_KEY") or None,
        device=args.device,
        max_length=args.max_length,
        batch_size=args.batch_size,
        load_options=load_options,
        cors_origins=args.cors_origin,
        label_sets=parse_label_sets(args.label_set),
        adapters=parse_adapters(args.adapter),
        max_adapters=args.max_adapters,
        max_adapter_mb=args.max_adapter_mb,
    )
    config = server_config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_keep_alive=args.timeout_keep_alive,
        shutdown_timeout=args.shutdown_timeout,
    )
    graceful_server(config, app.state.batcher, args.shutdown_timeout).run()
    exit_without_waiting_for_threads()  # a model call still running must not hold the exit past the deadline
    return 0
