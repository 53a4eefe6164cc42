"""Tiny random uniclass models for any option set (shared by the backend tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import official_reference as ref  # configs, tokenizers


def random_classifier(
    options: dict[str, Any] | None = None,
    *,
    backbone: str = "bert",
    tokenizer: str = "bert",
    label_encoder: bool = False,
    seed: int = 0,
    std: float = 0.3,
    std_by_prefix: dict[str, float] | None = None,
) -> Any:
    """A uniclass ``Classifier`` on a tiny random backbone with the given GLiClass options.

    Weights are redrawn from N(0, std) like the official-option parity tests (so scores spread out instead of
    sitting at 0.5). Bi-encoders get a tiny BERT label encoder (hidden 24) and the BERT tokenizer for labels.
    """
    import torch

    from uniclass import Classifier
    from uniclass.config import GLiClassConfig
    from uniclass.modeling import GLiClassModel

    tok = {"deberta": ref.deberta_tokenizer, "bert+example": ref.bert_tokenizer_with_example_token}.get(
        tokenizer, ref.bert_tokenizer
    )()
    options = dict(options or {})
    vocab = tok.get_vocab()
    markers = {
        "class_token_index": tok.convert_tokens_to_ids("<<LABEL>>"),
        "text_token_index": tok.convert_tokens_to_ids("<<SEP>>"),
    }
    if "<<EXAMPLE>>" in vocab:
        markers["example_token_index"] = tok.convert_tokens_to_ids("<<EXAMPLE>>")
    label_tokenizer = None
    if label_encoder:
        options["label_model_config"] = ref.encoder_config("bert", len(tok), hidden_size=24)
        label_tokenizer = ref.bert_tokenizer()
    config = GLiClassConfig(encoder_config=ref.encoder_config(backbone, len(tok)), **markers, **options)
    model = GLiClassModel(config)
    ref.randomize_(model, seed, std, std_by_prefix)
    model.eval()
    torch.manual_seed(seed)
    return Classifier(model, tok, label_tokenizer)


# ---------------------------------------------------------------- fixtures (imported by the test modules)
# A plain module rather than tests/backends/conftest.py, so the fixtures are imported where they are used.
_EXPORTS: dict[str, tuple[Any, Path]] = {}


@pytest.fixture(scope="session", name="exported")
def exported_fixture(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[Any, Path]]:
    """``exported(key, build, **export_kwargs)`` -> (torch classifier, export folder), built once per key."""
    from uniclass.exporters.onnx import export_onnx

    def get(key: str, build: Callable[[], Any], **kwargs: Any) -> tuple[Any, Path]:
        if key not in _EXPORTS:
            clf = build()
            folder = tmp_path_factory.mktemp("onnx-" + "".join(c if c.isalnum() else "-" for c in key)[:40])
            _EXPORTS[key] = (clf, export_onnx(clf, folder, **kwargs))
        return _EXPORTS[key]

    return get


@pytest.fixture(scope="module", name="one_thread_module")
def one_thread_module_fixture() -> Iterator[None]:
    """One torch thread for a whole module (tiny models gain nothing from threads on a shared 2-core box)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
