"""Load test for ``uniclass serve``: N concurrent clients for a fixed time against a server on loopback.

Reports throughput, latency percentiles, errors, how many requests each model call answered (from the
server's /metrics, i.e. whether micro-batching pays) and the server's peak resident memory.

Against a running server (give its pid for the memory figure):

    python -m uniclass.bench.load_test --url http://127.0.0.1:8000 --pid 12345 --clients 8 --duration 20

Or let the script start ``uniclass serve`` itself on a free port and stop it afterwards:

    python -m uniclass.bench.load_test --model tests/fixtures/parity/uni_bert_default --clients 8 --duration 20

Fairness under abuse: ``--abuse-clients K`` adds K clients of each abusive kind
(``ABUSE``), and the run alternates phases without and with them against the same server, so one report
compares normal clients' throughput and p99 with and without abuse:

    python -m uniclass.bench.load_test --model src/uniclass/models/uniclass-minilm --clients 8 --duration 10 \\
        --abuse-clients 1 --rounds 3

Every simulated client connects from its own loopback address (127.0.1.N normal, 127.0.2.N abusive; Linux
routes all of 127/8 to loopback), because the server shares the model between clients by remote address, as
it would between real clients; ``--same-address`` puts them all on 127.0.0.1 instead.

Only the standard library is needed on the client side (http.client with keep-alive connections, threads).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

WORDS = (
    "the",
    "team",
    "won",
    "the",
    "final",
    "after",
    "extra",
    "time",
    "while",
    "shares",
    "fell",
    "sharply",
    "on",
    "weak",
    "earnings",
    "and",
    "the",
    "forecast",
    "says",
    "heavy",
    "rain",
    "tomorrow",
    "as",
    "parliament",
    "votes",
    "on",
    "the",
    "new",
    "budget",
    "and",
    "the",
    "battery",
    "lasts",
    "two",
    "days",
)
LABELS = ["sports", "finance", "weather", "politics", "technology", "health", "travel", "food"]
MANY_LABELS = [f"l{i}" for i in range(128)]
# The abusive kinds of requests (huge prompts, heavy work, late failures, hang-ups), sent back to back
# (each kind by its own clients):
ABUSE = {
    # 51 KB: 1 text, 128 labels, a 10,000-word prompt (once 62 s of planning and 963 MB)
    "huge_prompt": lambda rng: {"texts": ["a"], "labels": MANY_LABELS, "prompt": "word " * 10_000},
    # 4.4 KB: 128 short texts x 128 labels, a 502-word prompt (once an hour of model time)
    "long_prompt_128x128": lambda rng: {
        "texts": [f"text {i}" for i in range(128)],
        "labels": MANY_LABELS,
        "prompt": "word " * 502,
    },
    # the same within the default character limits (1,995-character prompt): it must be planned to be refused
    "heavy_128x128": lambda rng: {
        "texts": [f"text {i}" for i in range(128)],
        "labels": MANY_LABELS,
        "prompt": "word " * 399,
    },
    # failing late: valid JSON within every character limit, but the examples leave no room in the window
    "failing": lambda rng: {
        "texts": [f"text {i}" for i in range(128)],
        "labels": ["x", "y"],
        "examples": [{"text": "word " * 395, "labels": ["x"]}] * 2,
    },
    # valid work (128 texts) from a client that gives up after HANGUP_S and sends it again
    "hangup": lambda rng: {
        "texts": [" ".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(128)],
        "labels": rng.sample(LABELS, 4),
    },
}
HANGUP_S = 2.0


@dataclass
class Tally:
    """One client's observations; merged at the end, so the hot loop takes no lock."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    texts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # abusive clients: what they got back


def make_body(rng: random.Random, texts: int, labels: int) -> bytes:
    """Texts of 5-60 words (varied lengths, like real traffic: padding matters) and a random label subset."""
    body = {
        "texts": [" ".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(texts)],
        "labels": rng.sample(LABELS, labels),
        "threshold": 0.5,
    }
    return json.dumps(body).encode()


def _host_port(url: str) -> tuple[str, int | None]:
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        raise ValueError(f"no host in the server URL {url!r}")
    return parsed.hostname, parsed.port


def connect(url: str, source: str | None, timeout: float) -> http.client.HTTPConnection:
    """A keep-alive connection from the loopback address ``source`` (None: the system's choice)."""
    host, port = _host_port(url)
    return http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0) if source else None)


def source_address(group: int, index: int, args: argparse.Namespace) -> str | None:
    """127.0.<group>.<index+1>: one address per simulated client, unless ``--same-address``."""
    return None if args.same_address else f"127.0.{group}.{index % 254 + 1}"


def headers_for(args: argparse.Namespace) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    return headers


def client(
    url: str, deadline: float, seed: int, args: argparse.Namespace, tally: Tally, source: str | None = None
) -> None:
    """Send requests back to back on one keep-alive connection until the deadline."""
    rng = random.Random(seed)
    headers = headers_for(args)
    connection = connect(url, source, 60)
    while time.monotonic() < deadline:
        body = make_body(rng, args.texts_per_request, args.labels)
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/classify", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as err:
            tally.errors[type(err).__name__] += 1
            connection.close()
            connection = connect(url, source, 60)
            continue
        elapsed = time.perf_counter() - started
        if response.status != 200:
            tally.errors[f"HTTP {response.status}: {payload[:80]!r}"] += 1
            continue
        tally.latencies.append(elapsed)
        tally.texts += args.texts_per_request
    connection.close()


def abuser(
    url: str, deadline: float, kind: str, seed: int, args: argparse.Namespace, tally: Tally, source: str | None = None
) -> None:
    """Send one kind of abusive request back to back until the deadline; tally the statuses it gets.

    ``hangup`` clients wait at most ``HANGUP_S`` for an answer, then close the connection and send again.
    """
    rng = random.Random(seed)
    headers = headers_for(args)
    timeout = HANGUP_S if kind == "hangup" else 60
    bodies = [json.dumps(ABUSE[kind](rng)).encode() for _ in range(4)]  # built once: the client's CPU is not the test
    connection = connect(url, source, timeout)
    while time.monotonic() < deadline:
        try:
            connection.request("POST", "/v1/classify", body=rng.choice(bodies), headers=headers)
            response = connection.getresponse()
            response.read()
            tally.statuses[str(response.status)] += 1
        except TimeoutError:
            tally.statuses["hung up"] += 1
            connection.close()
            connection = connect(url, source, timeout)
        except (OSError, http.client.HTTPException) as err:
            tally.statuses[type(err).__name__] += 1
            connection.close()
            connection = connect(url, source, timeout)
    connection.close()


def abuse_process(url: str, deadline: float, kinds: list[str], args: argparse.Namespace, out: Any) -> None:
    """Every abusive client, as threads of this separate process (the normal clients' process and its GIL are
    not slowed by them, as they would not be by clients on other machines); puts their statuses on ``out``."""
    abusers = [(kind, Tally()) for kind in kinds for _ in range(args.abuse_clients)]
    threads = [
        threading.Thread(
            target=abuser, args=(url, deadline, kind, 1000 + n, args, tally, source_address(2, n, args)), daemon=True
        )
        for n, (kind, tally) in enumerate(abusers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + HANGUP_S + 1)
    statuses: dict[str, Counter[str]] = {}
    for kind, tally in abusers:
        statuses.setdefault(kind, Counter()).update(tally.statuses)
    out.put({kind: dict(c) for kind, c in statuses.items()})


class MemoryWatch:
    """Peak RSS of the server process: VmHWM from /proc (the kernel's own high-water mark) when available,
    else the highest of RSS samples taken every 100 ms (psutil)."""

    def __init__(self, pid: int | None):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Self:
        if self.pid:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.peak = max(self.peak, self._status_kb("VmHWM") * 1024)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._rss())

    def _rss(self) -> int:
        kb = self._status_kb("VmRSS")
        if kb:
            return kb * 1024
        try:
            import psutil

            return psutil.Process(self.pid).memory_info().rss
        except Exception:  # noqa: BLE001 - memory is a best-effort figure
            return 0

    def _status_kb(self, key: str) -> int:
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere or without a pid)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def scrape(url: str, name: str) -> float:
    """One unlabelled sample from the server's Prometheus /metrics (0 if missing)."""
    connection = http.client.HTTPConnection(*_host_port(url), timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return 0.0
    finally:
        connection.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


@contextmanager
def spawned_server(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """``uniclass serve`` on a free loopback port, waited for until /healthz answers, stopped afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uniclass.cli",
        "serve",
        "--model",
        args.model,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--max-batch-texts",
        str(args.max_batch_texts),
    ]
    if args.api_key:
        command += ["--api-key", args.api_key]
    if args.server_threads:
        command += ["--threads", str(args.server_threads)]
    command += args.server_option or []
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with code {process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 180 s")
            time.sleep(0.25)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(url: str, pid: int | None, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then measure; with ``--abuse-clients`` alternate phases without and with abuse."""
    if args.warmup > 0:  # first calls pay for lazy initialisation; keep them out of the figures
        warm = Tally()
        client(url, time.monotonic() + args.warmup, -1, args, warm, source_address(1, 0, args))
    if not args.abuse_clients:
        return phase(url, pid, args, abusive=False)
    phases: dict[str, list[dict[str, Any]]] = {"without_abuse": [], "with_abuse": []}
    for _ in range(args.rounds):
        phases["without_abuse"].append(phase(url, pid, args, abusive=False))
        phases["with_abuse"].append(phase(url, pid, args, abusive=True))
        time.sleep(HANGUP_S)  # let the abandoned work of the hung-up clients leave the queue
    return compare(phases, args)


def compare(phases: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """Both kinds of phase, and normal clients' throughput with abuse as a share of theirs without."""
    clean = sum(p["requests"] for p in phases["without_abuse"]) / sum(p["duration_s"] for p in phases["without_abuse"])
    dirty = sum(p["requests"] for p in phases["with_abuse"]) / sum(p["duration_s"] for p in phases["with_abuse"])
    return {
        "abuse_clients_per_kind": args.abuse_clients,
        "abuse_kinds": args.abuse_kinds,
        "rounds": args.rounds,
        **phases,
        "normal_throughput_rps": {"without_abuse": round(clean, 2), "with_abuse": round(dirty, 2)},
        "throughput_kept": round(dirty / clean, 3) if clean else None,
        "requests_per_server_cpu_s": {
            "without_abuse": per_cpu(phases["without_abuse"]),
            "with_abuse": per_cpu(phases["with_abuse"]),
        },
        "p99_ms_with_abuse": max(p["latency_ms"]["p99"] for p in phases["with_abuse"]),
        "errors": sum(p["errors"] for ps in phases.values() for p in ps),
    }


def per_cpu(phases: list[dict[str, Any]]) -> float | None:
    """Normal requests per second of server CPU over the phases (None without the server's pid)."""
    cpu = sum(p["server_cpu_s"] or 0 for p in phases)
    return round(sum(p["requests"] for p in phases) / cpu, 2) if cpu else None


def phase(url: str, pid: int | None, args: argparse.Namespace, *, abusive: bool) -> dict[str, Any]:
    """``args.clients`` normal clients for ``args.duration`` seconds (plus the abusive ones if ``abusive``)."""
    calls_before = scrape(url, "uniclass_batch_requests_count")
    requests_before = scrape(url, "uniclass_batch_requests_sum")
    tallies = [Tally() for _ in range(args.clients)]
    cpu_before = cpu_seconds(pid)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    with MemoryWatch(pid) as memory:
        started = time.monotonic()
        deadline = started + args.duration
        if abusive:
            attack = context.Process(
                target=abuse_process, args=(url, deadline, args.abuse_kinds, args, out), daemon=True
            )
            attack.start()
        threads = [
            threading.Thread(target=client, args=(url, deadline, i, args, tallies[i], source_address(1, i, args)))
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(pid)
    calls = scrape(url, "uniclass_batch_requests_count") - calls_before
    merged = scrape(url, "uniclass_batch_requests_sum") - requests_before
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors: Counter[str] = sum((t.errors for t in tallies), Counter())
    report: dict[str, Any] = {
        "clients": args.clients,
        "duration_s": round(elapsed, 2),
        "texts_per_request": args.texts_per_request,
        "labels": args.labels,
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "texts_per_s": round(sum(t.texts for t in tallies) / elapsed, 2),
        "latency_ms": {
            "p50": round(1000 * percentile(latencies, 50), 1),
            "p90": round(1000 * percentile(latencies, 90), 1),
            "p99": round(1000 * percentile(latencies, 99), 1),
            "mean": round(1000 * statistics.fmean(latencies), 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "model_calls": int(calls),
        "requests_per_model_call": round(merged / calls, 2) if calls else None,
        "server_peak_rss_mb": round(memory.peak / 2**20, 1) if pid else None,
        # the server's own CPU time: on a machine shared with other work, requests per server CPU second
        # compares phases without the noise of what else runs (clients included)
        "server_cpu_s": round(cpu_after - cpu_before, 2) if cpu_before is not None and cpu_after is not None else None,
    }
    if report["server_cpu_s"]:
        report["requests_per_server_cpu_s"] = round(len(latencies) / report["server_cpu_s"], 2)
    if abusive:
        report["abusive_statuses"] = out.get(timeout=HANGUP_S + 30)
        attack.join(timeout=10)
    return report


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 is a latency a client actually saw)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uniclass.bench.load_test", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--model", help="start `uniclass serve --model MODEL` on a free port for the test")
    parser.add_argument("--pid", type=int, default=None, help="server process id with --url (for its peak RSS)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of one-client traffic before measuring")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--labels", type=int, default=4, help=f"labels per request (at most {len(LABELS)})")
    parser.add_argument("--api-key", default=os.environ.get("UNICLASS_API_KEY"))
    parser.add_argument("--max-wait-ms", type=float, default=10.0, help="with --model: the server's batching wait")
    parser.add_argument("--max-batch-texts", type=int, default=64, help="with --model: the server's batch cap")
    parser.add_argument("--server-threads", type=int, default=None, help="with --model: the server's torch threads")
    parser.add_argument(
        "--server-option",
        action="append",
        default=None,
        metavar="ARG",
        help="with --model: one more argument for `uniclass serve` (repeat, e.g. --server-option=--refusal-share=1)",
    )
    parser.add_argument(
        "--abuse-clients",
        type=int,
        default=0,
        help=f"clients of each abusive kind ({', '.join(ABUSE)}); alternates phases without and with them",
    )
    parser.add_argument(
        "--abuse-kinds",
        nargs="+",
        choices=list(ABUSE),
        default=list(ABUSE),
        help="with --abuse-clients: which kinds (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --abuse-clients: pairs of phases (without, with)")
    parser.add_argument(
        "--same-address",
        action="store_true",
        help="every client connects from 127.0.0.1 (default: one loopback address per client)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.labels <= len(LABELS):
        parser.error(f"--labels must be between 1 and {len(LABELS)}")
    if args.model:
        with spawned_server(args) as (url, pid):
            report = run(url, pid, args)
    else:
        report = run(args.url, args.pid, args)
    print(json.dumps(report, indent=2))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
