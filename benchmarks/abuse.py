"""Abuse benchmark of ``uniclass serve``: a normal client's share and p99 under each hostile pattern.

For every pattern the same server is measured twice for ``--duration`` seconds: normal clients alone, then
normal clients while the abusive clients run the pattern back to back. The report gives, per pattern, the normal
clients' throughput with abuse as a share of theirs without (target >= 0.8) and their p99 with abuse (target
< 1 s), the abusers' status codes, and the machine's load average before and after (run it on an idle
machine: the shares are only meaningful when nothing else competes for the cores).

Normal clients connect from 127.0.1.N, each pattern's abuser from one address 127.0.2.N (Linux routes all of 127/8 to loopback), so the
server tells them apart by remote address as it would real clients. Patterns:

- ``uploads``: six concurrent 150-label uploads (PUT /v1/label-sets) from one address, unique labels each time;
- ``huge_upload``: a 20,000-label upload (540 KB), again and again;
- ``unique_labels``: 16 texts, each with its own 128 unique short labels;
- ``shortlist_unique``: ``shortlist: 1`` over 128 unique labels;
- ``idle_connections``: 257 connections from one address that send nothing (reopened when closed);
- ``half_headers``: 257 connections from one address that send half a request header.

The server's memory (VmRSS of its process, from /proc/PID/status) is recorded at start, after the warm-up, after
each pattern (once the server has been idle for ``--settle`` seconds, so the memory it returns when idle is
counted) and at the end; its peak (VmHWM) at the end. With ``--url``, give ``--server-pid`` for these figures.

Not shipped with the package (a measurement of this repository's server, like the other scripts here); the
client side is ``uniclass.bench.load_test``'s. Run from the repository root:

    python benchmarks/abuse.py --model src/uniclass/models/uniclass-minilm --duration 10 \\
        --output benchmarks/results/abuse.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from uniclass.bench.load_test import Tally, client, connect, percentile, spawned_server

IDLE_CONNECTIONS = 257


def status_mb(pid: int | None, key: str = "VmRSS") -> float | None:
    """A memory figure of process ``pid`` from /proc/PID/status, in MB (None without a pid or off Linux)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def unique_labels(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("bcdfghjk") for _ in range(9)) + f" {rng.randrange(10**6)}" for _ in range(n)]


def request_pattern(kind: str, rng: random.Random) -> tuple[str, str, bytes]:
    """(method, path, body) of one abusive request."""
    if kind == "uploads":
        return "PUT", f"/v1/label-sets/up{rng.randrange(4)}", json.dumps(unique_labels(rng, 150)).encode()
    if kind == "huge_upload":
        return "PUT", "/v1/label-sets/huge", json.dumps(unique_labels(rng, 20_000)).encode()
    if kind == "unique_labels":
        body = {"texts": [f"text {i}" for i in range(16)], "labels": [unique_labels(rng, 128) for _ in range(16)]}
        return "POST", "/v1/classify", json.dumps(body).encode()
    if kind == "shortlist_unique":
        body = {"texts": ["a short text about something"], "labels": unique_labels(rng, 128), "shortlist": 1}
        return "POST", "/v1/classify", json.dumps(body).encode()
    raise ValueError(kind)


def requester(url: str, deadline: float, kind: str, seed: int, source: str, statuses: Counter[str]) -> None:
    """Send ``kind`` requests back to back on one keep-alive connection until the deadline."""
    rng = random.Random(seed)
    connection = connect(url, source, 120)
    while time.monotonic() < deadline:
        method, path, body = request_pattern(kind, rng)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses[str(response.status)] += 1
        except (OSError, http.client.HTTPException) as err:
            statuses[type(err).__name__] += 1
            connection.close()
            connection = connect(url, source, 120)
            time.sleep(0.05)
    connection.close()


def holder(url: str, deadline: float, half: bool, source: str, statuses: Counter[str]) -> None:
    """Keep IDLE_CONNECTIONS connections from ``source`` open (sending nothing, or half a header), reopening
    each one the server closes, until the deadline."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    open_: list[socket.socket] = []
    while time.monotonic() < deadline:
        while len(open_) < IDLE_CONNECTIONS and time.monotonic() < deadline:
            try:
                sock = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
                if half:
                    sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-")
                sock.setblocking(False)
                open_.append(sock)
                statuses["opened"] += 1
            except OSError as err:
                statuses[type(err).__name__] += 1
                time.sleep(0.05)
        time.sleep(0.2)
        for sock in list(open_):  # forget (and count) the ones the server closed
            try:
                data = sock.recv(4096)
                statuses["answered by server" if data else "closed by server"] += 1  # a JSON 503/408, or idle close
                sock.close()
                open_.remove(sock)
            except BlockingIOError:
                pass
            except OSError:
                statuses["reset"] += 1
                sock.close()
                open_.remove(sock)
    for sock in open_:
        sock.close()


def abuse_process(url: str, deadline: float, kind: str, clients: int, source: str, out: Any) -> None:
    """The pattern's clients as threads of a separate process (their GIL does not slow the normal clients)."""
    statuses: Counter[str] = Counter()
    if kind in ("idle_connections", "half_headers"):
        threads = [threading.Thread(target=holder, args=(url, deadline, kind == "half_headers", source, statuses))]
    else:
        n = 6 if kind == "uploads" else clients
        # one abusive address (as one hostile client would be), several connections from it
        threads = [threading.Thread(target=requester, args=(url, deadline, kind, 100 + i, source, statuses),
                                    daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + 130)
    out.put(dict(statuses))


def phase(url: str, args: argparse.Namespace, kind: str | None, source: str = "127.0.2.1") -> dict[str, Any]:
    """Normal clients for ``args.duration`` seconds, with the pattern ``kind`` running (None: alone)."""
    tallies = [Tally() for _ in range(args.clients)]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    started = time.monotonic()
    deadline = started + args.duration
    attack = None
    if kind is not None:
        attack = context.Process(target=abuse_process, args=(url, deadline, kind, args.abuse_clients, source, out),
                                 daemon=True)
        attack.start()
        time.sleep(min(1.0, args.duration / 4))  # the pattern is in place before the normal clients are measured
        deadline = time.monotonic() + args.duration
    threads = [threading.Thread(target=client, args=(url, deadline, i, args, tallies[i], f"127.0.1.{i + 1}"))
               for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = args.duration
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors: Counter[str] = sum((t.errors for t in tallies), Counter())
    report: dict[str, Any] = {
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "mean_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else None,
        "errors": dict(errors.most_common(5)),
    }
    if attack is not None:
        report["abusive_statuses"] = out.get(timeout=300)
        attack.join(timeout=10)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--model", help="start `uniclass serve --model MODEL` on a free port for the run")
    parser.add_argument("--patterns", nargs="+", default=["uploads", "huge_upload", "unique_labels", "shortlist_unique",
                                                          "idle_connections", "half_headers"])
    parser.add_argument("--clients", type=int, default=2, help="normal clients (one 1-text request at a time each)")
    parser.add_argument("--abuse-clients", type=int, default=1, help="abusive clients per request pattern")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--output", type=Path, default=None, help="write the JSON report here too")
    parser.add_argument("--server-threads", type=int, default=None, help="with --model: the server's torch threads")
    parser.add_argument("--server-option", action="append", default=None,
                        help="with --model: one more argument for `uniclass serve` (repeat, e.g. "
                        "--server-option=--upload-weight=1)")
    parser.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid (memory figures)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the server is left idle after each pattern before its memory is read")
    args = parser.parse_args(argv)
    # what load_test.client and spawned_server read
    args.texts_per_request, args.labels, args.api_key, args.same_address = 1, 4, None, False
    args.max_wait_ms, args.max_batch_texts = 10.0, 64
    load_before = os.getloadavg()

    memory: dict[str, Any] = {}

    def measure(url: str, pid: int | None) -> dict[str, Any]:
        memory["start"] = status_mb(pid)
        warm = Tally()
        client(url, time.monotonic() + 2, -1, args, warm, "127.0.1.250")
        time.sleep(args.settle)
        memory["after_warmup"] = status_mb(pid)
        memory["after_pattern"] = {}
        results = {}
        for n, kind in enumerate(args.patterns):
            alone = phase(url, args, None)
            # each pattern from its own address: the refusal pacing owed for one pattern does not carry over
            attacked = phase(url, args, kind, f"127.0.2.{n + 1}")
            results[kind] = {
                "normal_share": round(attacked["throughput_rps"] / alone["throughput_rps"], 3) if alone["throughput_rps"] else None,
                "normal_p99_ms_with_abuse": attacked["p99_ms"],
                "without_abuse": alone,
                "with_abuse": attacked,
            }
            time.sleep(args.settle)  # idle: what the server gives back once the abuse stops
            memory["after_pattern"][kind] = status_mb(pid)
            print(kind, json.dumps({k: results[kind][k] for k in ("normal_share", "normal_p99_ms_with_abuse")}),
                  f"rss {memory['after_pattern'][kind]} MB", flush=True)
        memory["end"] = status_mb(pid)
        memory["peak"] = status_mb(pid, "VmHWM")
        return results

    if args.model:
        with spawned_server(args) as (url, pid):
            results = measure(url, pid)
    else:
        results = measure(args.url, args.server_pid)
    report = {
        "command": "python benchmarks/abuse.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "clients": args.clients, "duration_s": args.duration,
        "targets": {"normal_share": ">= 0.8", "normal_p99_ms_with_abuse": "< 1000"},
        "patterns": results,
        "server_rss_mb": memory,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
