"""Running the app under uvicorn: connection guards (``connections``) and a shutdown that meets its deadline.

``server_config`` builds the ``uvicorn.Config`` of ``uniclass serve`` from the app's ``Limits``: the guarded
HTTP protocol (per-address and total connection limits, header-read timeout, JSON refusals) in place of
uvicorn's ``limit_concurrency``. ``graceful_server`` makes the server whose SIGTERM/SIGINT handling has a
deadline: stop accepting, refuse new work with a JSON 503, let queued work finish for ``shutdown_timeout``
seconds, answer what is left (queued, being planned, in the running call) with a JSON 503, and exit; if
anything still holds the process (a model call that cannot be interrupted) it is ended at
``shutdown_timeout + 0.9`` s. A second signal exits at once (status 1).

Example:
    >>> config = server_config(create_app(None), host="127.0.0.1", port=8000)  # doctest: +SKIP
    >>> graceful_server(config, config.app.state.batcher, shutdown_timeout=10).run()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from .connections import ConnectionGate, guarded_protocol

logger = logging.getLogger("uniclass.serve")


def server_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    timeout_keep_alive: float = 5.0,
    shutdown_timeout: float = 10.0,
    **uvicorn_options: Any,
) -> Any:
    """The ``uvicorn.Config`` serving ``app`` (from ``create_app``) with its connection limits."""
    import uvicorn

    limits = app.state.limits
    gate = ConnectionGate(limits.max_connections, limits.max_connections_per_client, limits.header_timeout_s)
    app.state.connections = gate
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=int(max(timeout_keep_alive, 1)),
        limit_concurrency=None,
        http=guarded_protocol(gate),
        # the batcher answers every request by shutdown_timeout; this only catches what it could not
        timeout_graceful_shutdown=shutdown_timeout + 0.5,  # type: ignore[arg-type]
        **uvicorn_options,
    )


def graceful_server(config: Any, batcher: Any, shutdown_timeout: float, *, hard_deadline: bool = True) -> Any:
    """A uvicorn server whose shutdown meets ``shutdown_timeout`` (module docstring); ``hard_deadline``: end the
    process at ``shutdown_timeout + 0.9`` s if it is still running then (off for servers inside tests)."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.should_exit:
                logger.warning("second signal: exiting now")
                os._exit(1)
            logger.warning("shutting down: draining for at most %g s", shutdown_timeout)
            self.should_exit = True
            batcher.begin_shutdown(shutdown_timeout)
            if hard_deadline:
                watchdog = threading.Timer(shutdown_timeout + 0.9, _exit_now)
                watchdog.daemon = True
                watchdog.start()

    return GracefulServer(config)


def _exit_now() -> None:
    logger.warning("shutdown deadline passed with work still running: exiting now")
    logging.shutdown()
    os._exit(0)


def exit_without_waiting_for_threads(status: int = 0) -> None:
    """End the process now, after flushing its output: Python's normal exit joins executor threads (a model
    call still running would hold it) and then tears down the interpreter, which with a model loaded took
    seconds on a busy machine; daemon threads (the shutdown watchdog) cannot run during that teardown, so
    only exiting here keeps the shutdown deadline."""
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
