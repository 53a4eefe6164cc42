"""Zero tracebacks over the bad-file suite and the server fuzz, checked in one place.

Every broken checkpoint, input, output and labels file that the other tests cover (tests/test_bad_files.py, the
one-line-error tests of tests/test_cli_classify.py; and a few more) is given to ``uniclass classify``: each must
exit with status 2 and print exactly one line on stderr, naming the file. Then whatever a client sends the server
(fuzzed JSON bodies and bytes on every ``/v1`` route, malformed HTTP on a real socket), the answer is never a 5xx.
In both, nothing written to stdout or stderr (captured at the file-descriptor level, so native code's writes count
too) and nothing logged by any logger may contain a traceback.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PARITY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = PARITY / "uni_bert_default"
LOGGERS = ["", "uniclass", "uniclass.serve", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette"]


class Records(logging.Handler):
    """Every record of the watched loggers, formatted as a handler prints it (with its traceback, if any)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Records]:
    records = Records()
    for name in LOGGERS:  # one by one: a logger that does not propagate (uvicorn's) is still seen
        logging.getLogger(name).addHandler(records)
    try:
        yield records
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(records)


def assert_no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


# ---------------------------------------------------------------- bad files
Case = Callable[[Path], tuple[list[str], str]]  # makes the broken file(s) in a folder: (classify options, named)


def checkpoint(tmp_path: Path, breaks: Callable[[Path], Any]) -> Path:
    folder = tmp_path / "ck"
    shutil.copytree(MODEL, folder)
    breaks(folder)
    return folder


def edit_json(name: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))

    return edit


def broken_model(breaks: Callable[[Path], Any], named: str) -> Case:
    def case(tmp_path: Path) -> tuple[list[str], str]:
        folder = checkpoint(tmp_path, breaks)
        return ["--model", str(folder)], str(folder / named)

    return case


def write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def replace_with_folder(name: str) -> Callable[[Path], None]:
    def replace(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return replace


def bad_input(name: str, content: bytes | None) -> Case:
    """``content`` None: the input is a folder."""

    def case(tmp_path: Path) -> tuple[list[str], str]:
        path = tmp_path / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        return ["--input", str(path)], str(path)

    return case


def bad_output_to_resume(name: str, content: bytes) -> Case:
    def case(tmp_path: Path) -> tuple[list[str], str]:
        (tmp_path / "in.jsonl").write_text('{"text": "a text"}\n')
        (tmp_path / name).write_bytes(content)
        return ["--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / name), "--resume"], name

    return case


def symlink_loop(option: str) -> Case:
    def case(tmp_path: Path) -> tuple[list[str], str]:
        (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
        (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
        (tmp_path / "in.jsonl").write_text('{"text": "a text"}\n')
        paths = {"--input": str(tmp_path / "in.jsonl"), "--output": str(tmp_path / "out.jsonl")}
        paths[option] = str(tmp_path / "loop1")
        return ["--input", paths["--input"], "--output", paths["--output"]], "loop1"

    return case


def labels_file(content: bytes | None, name: str = "labels.txt") -> Case:
    def case(tmp_path: Path) -> tuple[list[str], str]:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        return ["--labels-file", str(path)], str(path)

    return case


def missing_output_folder(tmp_path: Path) -> tuple[list[str], str]:
    return ["--output", str(tmp_path / "nowhere" / "out.jsonl")], str(tmp_path / "nowhere")


CASES: dict[str, Case] = {
    # checkpoints
    "negative-hidden-size": broken_model(
        edit_json("config.json", lambda c: c["encoder_config"].update(hidden_size=-384)), "config.json"
    ),
    "config-type": broken_model(
        edit_json("config.json", lambda c: c["encoder_config"].update(max_position_embeddings="1024")), "config.json"
    ),
    "config-not-json": broken_model(write("config.json", b"{not json"), "config.json"),
    "config-a-list": broken_model(write("config.json", b"[1, 2]"), "config.json"),
    "tokenizer-not-json": broken_model(write("tokenizer.json", b"{not json"), "tokenizer.json"),
    "no-tokenizer": lambda tmp_path: (
        ["--model", str(checkpoint(tmp_path, lambda f: (f / "tokenizer.json").unlink()))],
        f"{tmp_path / 'ck'} has no tokenizer.json",
    ),
    "calibration-not-json": broken_model(write("calibration.json", b"{not json"), "calibration.json"),
    "weights-truncated": broken_model(
        lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
        "model.safetensors",
    ),
    "weights-a-folder": broken_model(replace_with_folder("model.safetensors"), "model.safetensors"),
    "weights-empty": broken_model(write("model.safetensors", b""), "model.safetensors"),
    "prior-not-json": broken_model(write("prior.json", b"{not json"), "prior.json"),
    "not-a-checkpoint": lambda tmp_path: (["--model", str(tmp_path)], str(tmp_path)),
    # inputs
    "empty-csv": bad_input("empty.csv", b""),
    "unterminated-quote-csv": bad_input("quote.csv", b'text\n"unterminated\nmore\n'),
    "garbage-parquet": bad_input("garbage.parquet", b"PAR1 not really parquet " * 4),
    "null-text-jsonl": bad_input("null.jsonl", b'{"text": "ok"}\n{"text": null}\n'),
    "invalid-utf8-jsonl": bad_input("bad.jsonl", b'{"text": "ok"}\n{"text": "\xff"}\n'),
    "not-an-object-jsonl": bad_input("list.jsonl", b"[1, 2]\n"),
    "broken-json-line": bad_input("broken.jsonl", b'{"text": "ok"}\n{"text": \n'),
    "no-text-column": bad_input("other.jsonl", b'{"body": "ok"}\n'),
    "binary-jsonl": bad_input("binary.jsonl", bytes(range(256))),
    "input-a-folder": bad_input("folder.jsonl", None),
    "input-missing": lambda tmp_path: (["--input", str(tmp_path / "missing.jsonl")], str(tmp_path / "missing.jsonl")),
    "input-symlink-loop": symlink_loop("--input"),
    # outputs
    "output-symlink-loop": symlink_loop("--output"),
    "output-folder-missing": missing_output_folder,
    "resume-garbage-parquet": bad_output_to_resume("out.parquet", b"PAR1 not really parquet " * 4),
    "resume-csv-without-header": bad_output_to_resume("out.csv", b"a,b\nc,d\n"),
    # labels files
    "labels-file-missing": labels_file(None),
    "labels-file-empty": labels_file(b"\n\n"),
    "labels-file-not-utf8": labels_file(b"sports\n\xff\xfe\n"),
    "labels-file-duplicate": labels_file(b"sports\nfinance\nsports\n"),
    "labels-file-marker": labels_file(b"sports\nfin<<SEP>>ance\n"),
    "labels-json-not-labels": labels_file(b'["sports", 3]', name="labels.json"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_file_is_one_line_naming_it_and_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], logs: Records, name: str
) -> None:
    from uniclass import cli

    options, named = CASES[name](tmp_path)
    if "--input" not in options:
        (tmp_path / "texts.jsonl").write_text('{"text": "a text"}\n')
        options = [*options, "--input", str(tmp_path / "texts.jsonl")]
    if "--model" not in options:
        options = [*options, "--model", str(MODEL)]
    if "--labels-file" not in options:
        options = [*options, "--labels", "a,b"]
    status = cli.main(["classify", *options])
    out, err = capfd.readouterr()
    assert_no_traceback(out, err, *logs.lines)
    assert status == 2, err
    assert err.startswith("uniclass: error: ") and err.count("\n") == 1, err
    assert named in err, err


def test_a_corrupt_prior_reference_is_one_line_naming_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], logs: Records, tiny_backbone: Path
) -> None:
    from uniclass import cli

    folder = checkpoint(tmp_path, lambda f: None)
    prior = {
        "kind": "embedding-similarity",
        "weight": 1.0,
        "backbone": {"folder": str(tiny_backbone)},
        "reference": "prior_reference.safetensors",
        "reference_scale": 1.0,
    }
    (folder / "prior.json").write_text(json.dumps(prior))
    (folder / "prior_reference.safetensors").write_bytes(b"garbage" * 10)
    status = cli.main(["classify", "a text", "--model", str(folder), "--labels", "a,b"])
    out, err = capfd.readouterr()
    assert_no_traceback(out, err, *logs.lines)
    assert status == 2 and err.count("\n") == 1 and "prior_reference.safetensors" in err, err


# ---------------------------------------------------------------- the server, fuzzed
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.serve.test_fuzz_schema import anything, body, labels, text  # noqa: E402 (the schema fuzz's strategies)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from uniclass import Classifier
    from uniclass.serve.app import create_app

    clf = Classifier.from_pretrained(MODEL, device="cpu")
    app = create_app(
        clf,
        max_texts=4,
        max_labels=5,
        max_chars=100,
        max_prompt_chars=50,
        max_wait_ms=0,
        max_label_sets=2,
        refusal_share=1.0,
    )  # refusals from one address: pacing is tested elsewhere
    with TestClient(app, raise_server_exceptions=False) as session:
        yield session


def plausible_classify() -> Any:
    """Bodies that pass the schema (short texts, a few labels, options in or near their ranges), so the fuzz also
    reaches planning, the queue, the model and the decisions, not only validation."""
    label = st.text(min_size=1, max_size=12)
    return st.fixed_dictionaries(
        {
            "texts": st.lists(st.text(max_size=40), min_size=1, max_size=4),
            "labels": st.lists(label, min_size=1, max_size=5, unique=True),
        },
        optional={
            "multi_label": st.booleans(),
            "threshold": st.floats(-0.5, 1.5),
            "top_k": st.integers(0, 6),
            "prompt": st.text(max_size=20),
            "shortlist": st.one_of(st.integers(0, 6), st.just("auto")),
            "hierarchy": st.booleans(),
            "label_order": st.sampled_from(["stable", "given", "x"]),
            "groups": st.lists(st.lists(label, max_size=3), max_size=2),
            "min_labels": st.integers(-1, 3),
            "max_labels": st.integers(-1, 3),
        },
    )


def bodies(route: str) -> Any:
    """JSON bodies for ``route``: the request-schema fuzz's (any JSON, classify-shaped), plausible ones, and the
    shapes of the label-set and Hugging Face routes."""
    if route in ("/v1/classify", "/v1/explain"):
        return st.one_of(body, plausible_classify())
    if route.startswith("/v1/label-sets/"):
        return st.one_of(st.lists(text, max_size=6), st.lists(st.text(min_size=1, max_size=12), max_size=8), anything)
    if route == "/v1/hf/zero-shot-classification":
        return st.fixed_dictionaries(
            {"inputs": st.one_of(text, st.lists(text, max_size=3), anything)},
            optional={
                "parameters": st.one_of(
                    st.fixed_dictionaries(
                        {"candidate_labels": st.one_of(labels, text)}, optional={"multi_label": anything}
                    ),
                    anything,
                )
            },
        )
    return anything


@st.composite
def fuzzed_request(draw: Any) -> tuple[str, str, bytes, str]:
    """(method, route, body, content type): mostly JSON for the route, sometimes any bytes or another type."""
    method, route = draw(st.sampled_from(REQUESTS))
    payload = draw(st.one_of(bodies(route).map(lambda b: json.dumps(b).encode()), st.binary(max_size=80)))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    return method, route, payload, content_type


# every /v1 route (classify three times as often), and a few others; adapters are not PUT: a fuzzed path would be
# looked up on disk
REQUESTS = [("POST", "/v1/classify")] * 3 + [
    ("POST", "/v1/explain"),
    ("PUT", "/v1/label-sets/fuzzed"),
    ("PUT", "/v1/label-sets/-bad name"),
    ("GET", "/v1/label-sets"),
    ("POST", "/v1/hf/zero-shot-classification"),
    ("GET", "/v1/adapters"),
    ("DELETE", "/v1/adapters/x"),
    ("POST", "/v1/nothing-here"),
    ("GET", "/metrics"),
]
CONTENT_TYPES = ["application/json"] * 4 + ["text/plain", "application/json; charset=latin-1", ""]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(request=fuzzed_request())
def test_fuzzed_requests_never_give_a_5xx_or_a_traceback(
    client: Any, capfd: pytest.CaptureFixture[str], logs: Records, request: tuple[str, str, bytes, str]
) -> None:
    logs.lines.clear()
    method, route, payload, content_type = request
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.request(method, route, content=payload, headers=headers)
    out, err = capfd.readouterr()
    assert_no_traceback(out, err, *logs.lines)
    assert response.status_code < 500 or response.status_code == 503, (route, method, response.text)
    if response.status_code >= 400 and route.startswith("/v1"):
        assert set(response.json()) == {"error"}, response.text


# ---------------------------------------------------------------- the server, malformed HTTP on a real socket
RAW_REQUESTS = {
    "bad-content-length": b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "two-content-lengths": b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "garbage-request-line": b"GARBAGE\r\n\r\n",
    "unknown-http-version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    "bad-chunk-size": b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "body-cut-short": b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 100\r\n\r\n{"texts": ["a"',
    "nul-in-header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad\x00Header: 1\r\n\r\n",
    "huge-request-line": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "half-a-header": b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-",
    "tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32),
    "non-utf8-path": b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.fixture(scope="module")
def live_server() -> Iterator[str]:
    pytest.importorskip("uvicorn")
    from tests.serve.live_server import LiveServer
    from uniclass import Classifier
    from uniclass.serve.app import create_app

    app = create_app(
        Classifier.from_pretrained(MODEL, device="cpu"),
        header_timeout_s=0.5,
        body_timeout_s=0.5,
        max_wait_ms=0,
        refusal_share=1.0,
    )
    with LiveServer(app, guarded=True) as url:
        yield url


@pytest.mark.parametrize("name", sorted(RAW_REQUESTS))
def test_malformed_http_gets_no_traceback(live_server: str, logs: Records, name: str) -> None:
    """Sent, then the connection closed from our side (as a client that gives up does): whatever uvicorn and the
    connection layer do, nothing they log holds a traceback."""
    import socket
    import time

    port = int(live_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(RAW_REQUESTS[name])
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    time.sleep(0.2)  # what the server logs once the connection is gone
    assert_no_traceback(*logs.lines)
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
    assert not status.startswith(b"5") or status == b"503", answer[:300]
