"""The torch-free tokenizer (tokenizers + tokenizer.json) gives exactly the transformers tokenizer's ids and offsets."""

from __future__ import annotations

import pytest
from tests.conftest import PARITY
from tests.backends.onnx_helpers import ref

DEFAULT_MODEL = PARITY.parents[2] / "src" / "uniclass" / "models" / "uniclass-minilm"
FOLDERS = {
    "bert": PARITY / "uni_bert_default",
    "deberta-v3": PARITY / "uni_deberta_default",
    "bi-text": PARITY / "biencoder_bert",
    "bi-labels": PARITY / "biencoder_bert" / "label_tokenizer",
    "default-minilm": DEFAULT_MODEL,
}
STRINGS = [
    *ref.TEXTS,
    "",
    "   leading and trailing spaces   ",
    "UPPER lower MiXeD 123 4.5e-3 https://example.com/a?b=c",
    "tabs\tand\nnewlines\r\nand  double  spaces",
    "<<LABEL>>sports<<LABEL>>business and finance<<SEP>>Classify:The striker scored",
    "The striker scored<<LABEL>>sports<<LABEL>>finance<<SEP>><<EXAMPLE>>A goal \nLabels:\n sports<<SEP>>",
    "日本語のテキスト、中文文本，한국어 텍스트",
    "emoji 👍🏽 and zero\u200bwidth and combining é",
]


@pytest.mark.parametrize("name", list(FOLDERS))
def test_ids_and_offsets_equal_transformers(name: str) -> None:
    from uniclass.backends.tokenizer import FastTokenizer

    folder = FOLDERS[name]
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"{folder} has no tokenizer.json")
    expected = ref.load_tokenizer(folder)
    ours = FastTokenizer.from_folder(folder)
    want = expected(STRINGS, add_special_tokens=True, return_offsets_mapping=True, truncation=False, verbose=False)
    got = ours(STRINGS, add_special_tokens=True, return_offsets_mapping=True, truncation=False, verbose=False)
    assert got["input_ids"] == want["input_ids"]
    assert [[tuple(o) for o in row] for row in got["offset_mapping"]] == [[tuple(o) for o in row] for row in want["offset_mapping"]]
    assert ours.pad_token_id == expected.pad_token_id
    assert len(ours) == len(expected)
    for token in ("<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"):
        assert ours.convert_tokens_to_ids(token) == expected.convert_tokens_to_ids(token) or (
            token not in expected.get_vocab() and ours.convert_tokens_to_ids(token) is None
        )


@pytest.mark.parametrize("checkpoint", ["uni_bert_default", "uni_deberta_default", "biencoder_bert"])
def test_input_builder_plans_are_identical(checkpoint: str) -> None:
    """Every segment the classifier would run (labels, prompts, examples, truncation) has the same ids."""
    from uniclass.backends.tokenizer import FastTokenizer
    from uniclass.config import GLiClassConfig
    from uniclass.processing import InputBuilder, WindowPolicy, normalize_request

    folder = PARITY / checkpoint
    config = GLiClassConfig.from_json_file(folder / "config.json", plain_backbones=True)
    plans = {}
    for kind, tokenizer in (("transformers", ref.load_tokenizer(folder)), ("tokenizers", FastTokenizer.from_folder(folder))):
        builder = InputBuilder(config, tokenizer)
        segments = []
        for call_name in ("L8", "per_text_prompts_examples"):
            call = ref.CALLS[call_name]
            request = normalize_request(ref.TEXTS, call.labels, prompt=call.prompt, examples=call.examples)
            for policy in (WindowPolicy(512), WindowPolicy(160), WindowPolicy(160, long_text="chunk", chunk_overlap=8)):
                segments += [(s.item, s.labels, s.input_ids) for p in builder.build(request, policy) for s in p.segments]
        plans[kind] = segments
    assert plans["tokenizers"] == plans["transformers"]


def test_single_string_and_unsupported_options() -> None:
    from uniclass.backends.tokenizer import FastTokenizer

    tok = FastTokenizer.from_folder(PARITY / "uni_bert_default")
    assert tok("hello world")["input_ids"] == tok(["hello world"])["input_ids"][0]
    with pytest.raises(TypeError, match="truncation"):
        tok(["x"], truncation=True)
    with pytest.raises(TypeError, match="padding"):
        tok(["x"], padding=True)


def test_truncation_and_padding_in_the_file_are_ignored(tmp_path) -> None:
    """A tokenizer.json saved with truncation/padding on must still give whole, unpadded ids (as transformers
    does with truncation=False and no padding)."""
    from tokenizers import Tokenizer

    from uniclass.backends.tokenizer import FastTokenizer

    raw = Tokenizer.from_file(str(PARITY / "uni_bert_default" / "tokenizer.json"))
    raw.enable_truncation(max_length=4)
    raw.enable_padding(length=64)
    raw.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text('{"pad_token": "[PAD]"}')
    tok = FastTokenizer.from_folder(tmp_path)
    long = " ".join(["word"] * 20)
    plain = Tokenizer.from_file(str(PARITY / "uni_bert_default" / "tokenizer.json")).encode(long).ids
    assert len(plain) > 20 and tok([long])["input_ids"][0] == plain  # no truncation, no padding
    assert tok.pad_token_id == raw.token_to_id("[PAD]")


def test_missing_tokenizer_json_is_a_clear_error(tmp_path) -> None:
    from uniclass.backends.tokenizer import FastTokenizer

    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        FastTokenizer.from_folder(tmp_path)
