"""``python -m uniclass_lab bench labels``: synthetic workloads, the ratio summary, and the whole loop on tiny random models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from uniclass_lab.bench.labels import scaling_ratios, target_verdict
from uniclass_lab.bench.workloads import LABEL_WORDS, NLICrossEncoder, label_pool, synthetic_text, synthetic_texts, token_count

PARITY = Path(__file__).parents[2] / "fixtures" / "parity"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(PARITY / "uni_bert_default")


def test_synthetic_texts_hit_the_token_target_from_below(tokenizer) -> None:
    rng = random.Random(0)
    for target in (1, 16, 64):
        text = synthetic_text(tokenizer, target, rng)
        count = token_count(tokenizer, text)
        assert target - 4 <= count <= target, (target, count)
        assert all(word.strip(".").lower() for word in text.split())  # real words, no empty pieces
    texts = synthetic_texts(tokenizer, 16, 3, seed=1)
    assert len(set(texts)) == 3 and texts == synthetic_texts(tokenizer, 16, 3, seed=1)  # different, and seeded
    with pytest.raises(ValueError):
        synthetic_text(tokenizer, 0, rng)


def test_label_pool_is_distinct_and_shortest_first(tokenizer) -> None:
    labels = label_pool(tokenizer, 20)
    assert len(set(labels)) == 20 and set(labels) <= set(LABEL_WORDS)
    counts = [token_count(tokenizer, label) for label in labels]
    assert counts == sorted(counts)
    with pytest.raises(ValueError, match="at most"):
        label_pool(tokenizer, len(LABEL_WORDS) + 1)


def test_nli_cross_encoder_scores_one_pair_per_label(tiny_backbone) -> None:
    model = NLICrossEncoder(tiny_backbone, batch_size=3, max_length=64)
    scores = model.scores(["a first text", "a second, longer text here"], ["sports", "finance"])
    assert len(scores) == 2 and all(len(row) == 2 and all(0.0 < s < 1.0 for s in row) for row in scores)


def _cell(model: str, length: int, labels: int, tps: float) -> dict:
    return {"model": model, "length": length, "labels": labels, "texts_per_s": tps}


def test_scaling_ratios_and_the_target_line() -> None:
    cells = [_cell("uni-encoder", 256, 1, 10.0), _cell("uni-encoder", 256, 128, 7.5), _cell("uni-encoder", 256, 8, 9.0),
             _cell("NLI cross-encoder", 256, 1, 10.0), _cell("NLI cross-encoder", 256, 128, 0.1)]
    ratios = scaling_ratios(cells)
    assert ratios["uni-encoder"]["256"] == {"from_labels": 1, "to_labels": 128, "ratio": 0.75}
    assert ratios["NLI cross-encoder"]["256"]["ratio"] == pytest.approx(0.01)
    assert target_verdict(ratios, [1, 8, 128]).endswith("0.750 -> met.")
    worse = scaling_ratios([_cell("uni-encoder", 256, 1, 10.0), _cell("uni-encoder", 256, 128, 5.0)])
    assert "NOT met" in target_verdict(worse, [1, 128])
    assert "not measured" in target_verdict(scaling_ratios([_cell("uni-encoder", 64, 1, 1.0)]), [1])


def test_label_loop_quick_on_tiny_random_models(tmp_path, tiny_backbone) -> None:
    """The whole benchmark (three models, tables, plot) on the tiny parity checkpoint and a tiny backbone."""
    from uniclass_lab import cli

    out = tmp_path / "out"
    code = cli.main(["bench", "labels", "--quick", "--model", str(PARITY / "uni_bert_default"), "--backbone",
                     str(tiny_backbone), "--lengths", "8", "12", "--labels", "1", "3", "--texts", "2", "--nli-pairs", "4",
                     "--batch-size", "4", "--threads", "1", "--max-length", "128", "--out", str(out)])
    assert code == 0
    payload = json.loads((out / "labels.json").read_text())
    assert payload["header"]["threads"] == 1
    models = ["uni-encoder", "bi-encoder (cached labels)", "NLI cross-encoder"]
    assert [m["name"] for m in payload["models"]] == models
    assert len(payload["cells"]) == 3 * 2 * 2
    for cell in payload["cells"]:
        assert cell["texts_per_s"] > 0 and cell["batches"]["batches"] >= 1
    nli = {c["labels"]: c for c in payload["cells"] if c["model"] == "NLI cross-encoder" and c["length"] == 8}
    assert nli[1]["texts"] == 2 and nli[3]["texts"] == 1  # at most --nli-pairs pairs per call, at least one text
    assert nli[3]["batches"]["rows"] == 3  # one pair per label
    uni = {c["labels"]: c for c in payload["cells"] if c["model"] == "uni-encoder" and c["length"] == 12}
    assert uni[3]["batches"]["seq_len_max"] > uni[1]["batches"]["seq_len_max"]  # labels share the sequence
    bi = {c["labels"]: c for c in payload["cells"] if c["model"].startswith("bi-encoder") and c["length"] == 12}
    assert bi[3]["batches"]["seq_len_max"] == bi[1]["batches"]["seq_len_max"]  # labels are not in the text pass
    assert set(payload["ratios"]) == set(models) and payload["ratios"]["uni-encoder"]["8"]["to_labels"] == 3
    assert payload["text_tokens"]["12"]["max"] <= 12
    markdown = (out / "labels.md").read_text()
    assert "## ~8-token texts" in markdown and "| uni-encoder |" in markdown and "not a measurement" in markdown
    pytest.importorskip("matplotlib")
    assert (out / "labels.png").read_bytes()[:4] == b"\x89PNG"
