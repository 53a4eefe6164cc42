"""The analytic FLOPs count of ``python -m uniclass_lab bench efficiency``, against hand counts and torch's own counter."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from uniclass_lab.bench.common import BatchShape
from uniclass_lab.bench.efficiency import EncoderShape, batches_flops, encoder_flops, head_flops

PARITY = Path(__file__).parents[2] / "fixtures" / "parity"


def test_encoder_flops_hand_count() -> None:
    shape = EncoderShape(layers=2, hidden=4, ffn=8)
    # per layer, T=3: projections 2*3*(4*4^2 + 2*4*8) = 6*(64+64) = 768; attention 4*3^2*4 = 144 -> 912
    assert encoder_flops(shape, rows=1, seq_len=3) == 2 * 912
    assert encoder_flops(shape, rows=5, seq_len=3) == 5 * 2 * 912


def test_encoder_flops_match_torch_flop_counter_on_a_bert() -> None:
    """The formula counts exactly the matrix products torch counts in an (eager-attention) BERT encoder."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=40,
                        max_position_embeddings=64, attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).eval()
    ids = torch.ones(3, 11, dtype=torch.long)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert counter.get_total_flops() == encoder_flops(EncoderShape.from_config(config), rows=3, seq_len=11)


def test_encoder_shape_from_config_names() -> None:
    assert EncoderShape.from_config({"num_hidden_layers": 6, "hidden_size": 384, "intermediate_size": 1536}) == EncoderShape(6, 384, 1536)
    assert EncoderShape.from_config(SimpleNamespace(num_layers=4, d_model=8, d_ff=16)) == EncoderShape(4, 8, 16)
    with pytest.raises(ValueError):
        EncoderShape.from_config({"hidden_size": 3})


def _config(scorer: str, d: int = 4, h: int = 6) -> SimpleNamespace:
    return SimpleNamespace(encoder_config={"num_hidden_layers": 1, "hidden_size": d, "intermediate_size": 8},
                           hidden_size=h, scorer_type=scorer)


def test_head_flops_hand_count() -> None:
    # projector d->h->d: 2*(4*6 + 6*4) = 96 FLOPs per vector; 2 texts x 3 slots: 2 text + 6 label vectors
    flops, exact = head_flops(_config("simple"), rows=2, label_slots=3)
    assert exact and flops == 8 * 96 + 6 * 2 * 4  # + one dot product of d per (text, label)
    flops, exact = head_flops(_config("mlp"), rows=1, label_slots=1)
    assert exact and flops == 2 * 96 + 2 * (2 * 4 * 256 + 256 * 128 + 128)
    _, exact = head_flops(_config("hopfield"), rows=1, label_slots=1)
    assert not exact


def test_batches_flops_adds_encoder_and_head_per_batch() -> None:
    config = _config("simple")
    batches = [BatchShape(rows=2, seq_len=5, real_tokens=9, label_slots=3), BatchShape(rows=1, seq_len=2, real_tokens=2, label_slots=1)]
    shape = EncoderShape(1, 4, 8)
    expected = (encoder_flops(shape, 2, 5) + head_flops(config, 2, 3)[0] + encoder_flops(shape, 1, 2)
                + head_flops(config, 1, 1)[0])
    assert batches_flops(config, batches) == (expected, True)


def test_efficiency_quick_run_on_a_tiny_checkpoint(tmp_path, monkeypatch) -> None:
    """The whole benchmark on the tiny parity checkpoint; the dev mix is replaced (no corpus download)."""
    from uniclass_lab import cli
    from uniclass_lab.bench import efficiency

    monkeypatch.setattr(efficiency, "dev_mix", lambda n, seed=0: [{"text": f"short text number {i}", "source": "x"} for i in range(n)])
    out = tmp_path / "out"
    code = cli.main(["bench", "efficiency", "--quick", "--model", str(PARITY / "uni_bert_default"), "--lengths", "12",
                     "--texts", "3", "--labels", "2", "--matmul-sizes", "16", "--threads", "1", "--out", str(out)])
    assert code == 0
    payload = json.loads((out / "efficiency.json").read_text())
    assert payload["header"]["threads"] == 1 and payload["header"]["quick"] is True
    assert set(payload["workloads"]) == {"dev mix (RT + BBC)", "synthetic ~12 tokens"}
    for workload in payload["workloads"].values():
        assert workload["texts"] == 3 and workload["labels"] == 2
        assert workload["flops_per_call"] > 0 and workload["batches"]["rows"] == 3
        assert 0 < workload["fraction_of_peak"]
    assert payload["peak"]["peak_gflops"] > 0
    assert "| workload |" in (out / "efficiency.md").read_text()
