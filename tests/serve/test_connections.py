"""Connection limits per address and in all, the header-read timeout, and JSON bodies for the refusals that
uvicorn and the CORS middleware used to write as plain text. Clients on other loopback addresses (127.0.0.2)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from tests.serve.live_server import LiveServer, post

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    app = create_app(clf, max_wait_ms=2, max_connections=40, max_connections_per_client=8, header_timeout_s=1.0,
                     cors_origins=["https://allowed.example"], refusal_share=1.0)
    with LiveServer(app, guarded=True) as url:
        yield url


def connect(url: str, source: str = "127.0.0.2") -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the response on ``sock`` (read until the server closes it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), data
    return int(head.split()[1]), json.loads(body)


def test_idle_connections_of_one_address_do_not_lock_out_others(server: str) -> None:
    idle = [connect(server) for _ in range(8)]  # this address's whole allowance, sending nothing
    try:
        extra = connect(server)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = read_response(extra)
        assert status == 503 and body["error"]["code"] == "too_many_connections"
        started = time.monotonic()
        response = post(server, {"texts": ["hello"], "labels": ["x"]})  # another address (127.0.0.1)
        assert response.status_code == 200 and time.monotonic() - started < 5
    finally:
        for sock in idle:
            sock.close()


def test_connections_that_send_nothing_are_closed(server: str) -> None:
    sock = connect(server)
    started = time.monotonic()
    assert sock.recv(100) == b""  # closed by the server, no answer owed
    assert 0.8 < time.monotonic() - started < 4


def test_a_half_sent_header_gets_a_json_408(server: str) -> None:
    sock = connect(server)
    sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-")
    status, body = read_response(sock)
    assert status == 408 and body["error"]["code"] == "header_timeout" and body["error"]["limit"] == 1.0


def test_a_bad_content_length_gets_a_json_400(server: str) -> None:
    sock = connect(server)
    sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    status, body = read_response(sock)
    assert status == 400 and body["error"]["code"] == "bad_request"


def test_keep_alive_connections_get_the_header_timeout_between_requests(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(1.5)  # past the header timeout: the server closed the idle connection; httpx reconnects
        assert client.get("/healthz").status_code == 200


def test_a_disallowed_cors_preflight_is_a_json_400(server: str) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = httpx.options(f"{server}/v1/classify", headers=headers, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["code"] == "cors_refused"
    allowed = httpx.options(f"{server}/v1/classify", headers={**headers, "Origin": "https://allowed.example"}, timeout=10)
    assert allowed.status_code == 200


def test_the_total_limit_is_a_json_503(clf: Any) -> None:
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, max_connections=3, header_timeout_s=5.0), guarded=True) as url:
        held = [connect(url, f"127.0.0.{i}") for i in range(3, 6)]
        try:
            extra = connect(url, "127.0.0.9")
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, body = read_response(extra)
            assert status == 503 and "connections open" in body["error"]["message"]
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
