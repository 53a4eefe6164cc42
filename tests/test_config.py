"""GLiClassConfig reads every official config.json, keeps unknown keys, and writes them back unchanged."""

from __future__ import annotations

import json

import pytest
from transformers import BertConfig

from tests.conftest import PARITY, PARITY_CHECKPOINTS
from uniclass.config import GLiClassConfig


@pytest.mark.parametrize("name", PARITY_CHECKPOINTS)
def test_round_trip_keeps_every_key(name: str, tmp_path) -> None:
    original = json.loads((PARITY / name / "config.json").read_text())
    config = GLiClassConfig.from_dict(original)
    assert config.architecture_type == original["architecture_type"]
    assert config.class_token_index == original["class_token_index"]
    assert "recurrent_steps" in config.extra  # a 0.1.21 field uniclass does not use is kept
    config.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for key, value in original.items():
        if key in ("encoder_config", "label_model_config") and value is not None:
            assert saved[key]["hidden_size"] == value["hidden_size"]
            assert saved[key]["vocab_size"] == value["vocab_size"]
        elif key != "transformers_version":
            assert saved[key] == value, key
    again = GLiClassConfig.from_json_file(tmp_path / "config.json")
    assert again.to_dict() == config.to_dict()


def test_defaults_follow_the_official_config() -> None:
    config = GLiClassConfig(encoder_config=BertConfig(vocab_size=100, hidden_size=16, num_attention_heads=2))
    assert (config.class_token_index, config.text_token_index, config.example_token_index) == (100, 101, 102)
    assert config.hidden_size == 16 and config.pooling_strategy == "first" and not config.prompt_first
    unknown = GLiClassConfig.from_dict({"encoder_config": {"model_type": "bert", "vocab_size": 50}, "future_key": 1})
    assert unknown.extra == {"future_key": 1}


def test_missing_encoder_model_type_defaults_to_deberta() -> None:
    config = GLiClassConfig.from_dict({"encoder_config": {"hidden_size": 24, "vocab_size": 70}})
    assert config.encoder_config.model_type == "deberta-v2"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"architecture_type": "decoder-kv"}, "decoder-kv"),
        ({"architecture_type": "other"}, "architecture_type"),
        ({"pooling_strategy": "median"}, "pooling_strategy"),
        ({"scorer_type": "cross-attn"}, "pass"),
        ({"pooling_strategy": "pass"}, "cross-attn"),
        ({"squeeze_layers": True}, "squeeze_layers"),
        ({"class_token_pooling": "last"}, "class_token_pooling"),
        ({"max_labels_alloc": "some"}, "max_labels_alloc"),
        ({"architecture_type": "bi-encoder"}, "label_model_config"),
    ],
)
def test_unsupported_options_raise(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GLiClassConfig.from_dict({"encoder_config": {"model_type": "bert", "vocab_size": 50}, **overrides})


def test_label_slots_follow_max_labels_alloc() -> None:
    base = {"encoder_config": {"model_type": "bert", "vocab_size": 50}}
    assert GLiClassConfig.from_dict(base).label_slots(3) == 3
    assert GLiClassConfig.from_dict({**base, "max_labels_alloc": "fixed"}).label_slots(3) == 25
    assert GLiClassConfig.from_dict({**base, "max_labels_alloc": 10}).label_slots(3) == 10
    assert GLiClassConfig.from_dict({**base, "max_labels_alloc": 10}).label_slots(30) == 30  # never drops labels


def test_architecture_family_properties() -> None:
    from uniclass.config import ARCHITECTURES, BI_ENCODERS, ENCODER_DECODERS

    for arch in ARCHITECTURES:
        config = GLiClassConfig.__new__(GLiClassConfig)
        config.architecture_type = arch
        assert config.is_bi_encoder == arch.startswith("bi-encoder") == (arch in BI_ENCODERS)
        assert config.is_encoder_decoder == arch.startswith("encoder-decoder") == (arch in ENCODER_DECODERS)


def test_find_reserved_marker() -> None:
    from uniclass.config import find_reserved_marker

    assert find_reserved_marker("a plain text") is None
    assert find_reserved_marker("x <<SEP>> y <<LABEL>>") == "<<LABEL>>"  # the first marker checked, in SPECIAL_TOKENS order
