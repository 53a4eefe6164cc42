"""Max |Δscore| between uniclass and the official gliclass 0.1.21 outputs stored with the parity checkpoints.

    python benchmarks/parity_report.py

Compares every call of tests/fixtures/parity/*/expected.json that the batch-invariant implementation must
reproduce (see tests/test_parity.py for what is excluded by design and why) and prints a markdown table.
"""

from __future__ import annotations

import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARITY = ROOT / "tests" / "fixtures" / "parity"  # data files of the repository; no test code is imported


def main() -> None:
    import torch

    from uniclass import Classifier
    from uniclass.bench.parity import checkpoints, comparable_calls, load_expected, multi_label

    torch.set_num_threads(1)
    cases = comparable_calls(PARITY)
    print("| checkpoint | calls compared | max abs score diff |")
    print("|---|---|---|")
    for name in checkpoints(PARITY):
        clf = Classifier.from_pretrained(PARITY / name)
        expected = {c["id"]: c for c in load_expected(PARITY, name)["calls"]}
        worst, count = 0.0, 0
        for case_name, call_id in cases:
            if case_name != name:
                continue
            call = expected[call_id]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = clf.scores(call["texts"], call["labels"], multi_label=multi_label(call),
                                 prompt=call["kwargs"].get("prompt"), examples=call["kwargs"].get("examples"),
                                 batch_size=call["kwargs"]["batch_size"], max_length=call["pipeline_init"]["max_length"])
            worst = max(worst, max(abs(a - b) for g, w in zip(got, call["scores"]) for a, b in zip(g, w)))
            count += 1
        print(f"| {name} | {count} | {worst:.2e} |")


if __name__ == "__main__":
    main()
