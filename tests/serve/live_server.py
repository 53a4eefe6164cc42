"""A real uvicorn server on a free loopback port, shared by the HTTP and browser tests, and what the HTTP tests
send it with (the checkpoint they serve, an API key, a classify call)."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from tests.conftest import PARITY

if TYPE_CHECKING:
    import httpx

MODEL = PARITY / "uni_bert_default"  # the tiny parity checkpoint: every model call stays cheap
KEY = "s3cret-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` on a free loopback port in a background thread (a real socket, real HTTP)."""

    def __init__(self, app: Any, *, guarded: bool = False):
        """``guarded``: serve as ``uniclass serve`` does (``serve.server.server_config``: connection limits,
        header timeout, JSON refusals); else a plain ``uvicorn.Config``."""
        import uvicorn

        self.port = free_port()
        if guarded:
            from uniclass.serve.server import server_config

            config = server_config(app, host="127.0.0.1", port=self.port, log_level="warning")
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def post(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    """``POST /v1/classify`` with ``body`` as JSON (httpx imported here: the test modules skip without it)."""
    import httpx

    return httpx.post(f"{url}/v1/classify", json=body, timeout=30, **kwargs)
