"""The load test's abusive clients send the requests issue 16 names, and its comparison adds up phases right."""

from __future__ import annotations

import argparse
import json
import random

from uniclass.bench.load_test import ABUSE, compare


def test_abusive_requests_are_the_issue_s() -> None:
    rng = random.Random(0)
    bodies = {kind: make(rng) for kind, make in ABUSE.items()}
    assert 50_000 < len(json.dumps(bodies["huge_prompt"])) < 53_000  # the 51 KB request
    assert len(bodies["huge_prompt"]["labels"]) == 128 and bodies["huge_prompt"]["prompt"] == "word " * 10_000
    big = bodies["long_prompt_128x128"]
    assert len(big["texts"]) == len(big["labels"]) == 128 and big["prompt"] == "word " * 502
    assert len(bodies["heavy_128x128"]["prompt"]) <= 2_000  # within the default prompt limit: must be planned
    assert len(bodies["failing"]["examples"][0]["text"]) <= 2_000  # within the example limit, fails in planning
    assert len(bodies["hangup"]["texts"]) == 128


def test_compare_sums_phases() -> None:
    phase = {"requests": 100, "duration_s": 10.0, "latency_ms": {"p99": 500.0}, "errors": 0, "server_cpu_s": 5.0}
    slow = {**phase, "requests": 80, "latency_ms": {"p99": 900.0}}
    args = argparse.Namespace(abuse_clients=1, abuse_kinds=list(ABUSE), rounds=2)
    report = compare({"without_abuse": [phase, phase], "with_abuse": [slow, phase]}, args)
    assert report["throughput_kept"] == 0.9 and report["p99_ms_with_abuse"] == 900.0
    assert report["requests_per_server_cpu_s"] == {"without_abuse": 20.0, "with_abuse": 18.0}
