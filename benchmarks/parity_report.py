"""Max |Δscore| between uniclass and the official gliclass 0.1.21 outputs stored with the parity checkpoints.

    python benchmarks/parity_report.py

Compares every call of tests/fixtures/parity/*/expected.json that the batch-invariant implementation must
reproduce (see tests/test_parity.py for what is excluded by design and why) and prints a markdown table.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    import torch

    from conftest import PARITY, PARITY_CHECKPOINTS, load_expected
    from test_parity import _comparable_calls, _multi_label
    from uniclass import Classifier

    torch.set_num_threads(1)
    cases = _comparable_calls()
    print("| checkpoint | calls compared | max abs score diff |")
    print("|---|---|---|")
    for name in PARITY_CHECKPOINTS:
        clf = Classifier.from_pretrained(PARITY / name)
        expected = {c["id"]: c for c in load_expected(name)["calls"]}
        worst, count = 0.0, 0
        for case_name, call_id in cases:
            if case_name != name:
                continue
            call = expected[call_id]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = clf.scores(call["texts"], call["labels"], multi_label=_multi_label(call),
                                 prompt=call["kwargs"].get("prompt"), examples=call["kwargs"].get("examples"),
                                 batch_size=call["kwargs"]["batch_size"], max_length=call["pipeline_init"]["max_length"])
            worst = max(worst, max(abs(a - b) for g, w in zip(got, call["scores"]) for a, b in zip(g, w)))
            count += 1
        print(f"| {name} | {count} | {worst:.2e} |")


if __name__ == "__main__":
    main()
