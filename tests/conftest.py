from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
PARITY = FIXTURES / "parity"
PARITY_CHECKPOINTS = sorted(p.name for p in PARITY.iterdir() if (p / "expected.json").is_file())

torch.set_num_threads(2)


def load_expected(name: str) -> dict[str, Any]:
    return json.loads((PARITY / name / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (the machine may be shared with other jobs); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def parity_classifier():
    """Classifier per parity checkpoint, loaded once per session."""
    from uniclass import Classifier

    cache: dict[str, Classifier] = {}

    def get(name: str) -> Classifier:
        if name not in cache:
            cache[name] = Classifier.from_pretrained(PARITY / name, device="cpu")
        return cache[name]

    return get


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """A tiny random BERT backbone folder (weights + WordPiece tokenizer), like a downloaded encoder."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(PARITY / "uni_bert_default")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def topic_items(n: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """A separable synthetic task: sports words vs finance words."""
    import random

    rng = random.Random(seed)
    sports = "goal match team won player score league final coach stadium".split()
    finance = "stock market shares bank rates profit investor price trade fund".split()
    items = []
    for i in range(n):
        label = "sports" if i % 2 == 0 else "finance"
        words = rng.sample(sports if label == "sports" else finance, 5)
        items.append({"text": " ".join(words), "all_labels": ["sports", "finance"], "true_labels": [label]})
    return items
