"""``uniclass serve``: the HTTP service (micro-batched POST /v1/classify, health, metrics, a demo page)."""

from __future__ import annotations

import argparse

from ._options import add_backend_options, backend_options


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
    serve.add_argument("--model", default=None, help="GLiClass checkpoint folder or hub id (default: the bundled model)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 exposes it)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None,
                       help="require 'Authorization: Bearer KEY' or 'X-API-Key: KEY' on /v1/* (default: $UNICLASS_API_KEY)")
    serve.add_argument("--max-batch-texts", type=int, default=defaults.max_batch_texts, help="texts merged into one model call")
    serve.add_argument("--max-wait-ms", type=float, default=defaults.max_wait_ms, help="how long a batch waits for more requests")
    serve.add_argument("--max-texts", type=int, default=defaults.max_texts, help="texts per request")
    serve.add_argument("--max-labels", type=int, default=defaults.max_labels, help="labels per text")
    serve.add_argument("--max-chars", type=int, default=defaults.max_chars, help="characters per text")
    serve.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="request body size")
    serve.add_argument("--max-queue-texts", type=int, default=defaults.max_queue_texts,
                       help="texts waiting for the model before new requests get 503")
    serve.add_argument("--batch-size", type=int, default=32, help="model batch size inside one call")
    serve.add_argument("--max-length", type=int, default=None, help="token window (default: 1024, capped by the backbone)")
    serve.add_argument("--device", default="auto")
    serve.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads for the model (default: torch's choice); fewer than the cores leaves room "
                       "for the HTTP side and other processes, and avoids latency spikes on a busy machine")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_backend_options(serve)


def run(args: argparse.Namespace) -> int:
    import os

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise ImportError(f"uniclass serve needs fastapi and uvicorn: pip install 'uniclass[serve]' ({err})") from err
    from ..serve.app import create_app
    from ..serve.limits import Limits

    limits = Limits(
        max_texts=args.max_texts, max_labels=args.max_labels, max_chars=args.max_chars, max_body_bytes=args.max_body_bytes,
        max_batch_texts=args.max_batch_texts, max_wait_ms=args.max_wait_ms, max_queue_texts=args.max_queue_texts,
    )
    load_options = backend_options(args)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        load_options["num_threads"] = args.threads  # torch.set_num_threads, or the ONNX session's threads
    app = create_app(
        args.model, limits=limits, api_key=args.api_key or os.environ.get("UNICLASS_API_KEY") or None,
        device=args.device, max_length=args.max_length, batch_size=args.batch_size, load_options=load_options,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
