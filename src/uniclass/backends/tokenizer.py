"""A ``tokenizers.Tokenizer`` that answers the few calls uniclass makes on a transformers tokenizer.

The ONNX Runtime path must not import transformers. ``processing.InputBuilder`` and ``Classifier`` only call a
tokenizer on a list of strings (with offsets), look up the marker ids and the pad id, and save it; the fast
transformers tokenizers are themselves ``tokenizers.Tokenizer`` objects built from ``tokenizer.json``, so
loading that file directly gives the same ids (tests/backends/test_tokenizer.py checks it against
transformers on every fixture tokenizer).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"
# Files written by transformers' save_pretrained that a transformers user may want next to tokenizer.json.
_COMPANION_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


class FastTokenizer:
    """``tokenizer.json`` loaded with ``tokenizers`` only, with the transformers call signature uniclass uses.

    Truncation and padding stored in the file are switched off (uniclass fits inputs into the window itself,
    as transformers does for ``truncation=False`` without ``padding``).

    Example:
        >>> tok = FastTokenizer.from_folder("tests/fixtures/parity/uni_bert_default")
        >>> tok(["hello world"])["input_ids"][0] == tok(["hello world"])["input_ids"][0]
        True
        >>> tok.convert_tokens_to_ids("<<LABEL>>") == tok.backend_tokenizer.token_to_id("<<LABEL>>")
        True
    """

    is_fast = True

    def __init__(self, tokenizer: Tokenizer, *, pad_token: str | None = None, folder: Path | None = None):
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.backend_tokenizer = tokenizer
        self.pad_token = pad_token
        self.pad_token_id = tokenizer.token_to_id(pad_token) if pad_token is not None else None
        self._folder = folder

    @classmethod
    def from_folder(cls, folder: str | Path) -> FastTokenizer:
        """Load ``folder/tokenizer.json``; the pad token is from ``tokenizer_config.json`` (or the file's padding)."""
        folder = Path(folder)
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} has no {TOKENIZER_FILE}: the torch-free path needs the fast tokenizer file "
                "(`uniclass export onnx` writes it)"
            )
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception for a broken file: name it, one line
            raise ValueError(f"{path}: cannot be loaded as a tokenizer ({err})") from None
        return cls(tokenizer, pad_token=_pad_token(folder, tokenizer), folder=folder)

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def __call__(
        self,
        texts: str | Sequence[str],
        *,
        add_special_tokens: bool = True,
        return_offsets_mapping: bool = False,
        truncation: bool = False,
        verbose: bool = False,
        **unsupported: Any,
    ) -> dict[str, list[Any]]:
        """``{"input_ids": [[...]], "attention_mask": [[...]] (, "offset_mapping": [[(start, end)]])}`` per text."""
        if truncation or unsupported:
            raise TypeError(
                "FastTokenizer supports only add_special_tokens and return_offsets_mapping "
                f"(got truncation={truncation!r}, {sorted(unsupported)})"
            )
        batch = [texts] if isinstance(texts, str) else list(texts)
        encodings = self.backend_tokenizer.encode_batch(batch, add_special_tokens=add_special_tokens)
        out: dict[str, list[Any]] = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        if isinstance(texts, str):
            return {key: value[0] for key, value in out.items()}
        return out

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self.backend_tokenizer.token_to_id(token)

    def save_pretrained(self, directory: str | Path) -> tuple[str, ...]:
        """Write ``tokenizer.json`` (and copy the companion config files it was loaded with)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backend_tokenizer.save(str(directory / TOKENIZER_FILE))
        written = [str(directory / TOKENIZER_FILE)]
        if self._folder is not None and self._folder.resolve() != directory.resolve():
            for name in _COMPANION_FILES:
                if (self._folder / name).is_file():
                    shutil.copyfile(self._folder / name, directory / name)
                    written.append(str(directory / name))
        return tuple(written)


def _pad_token(folder: Path, tokenizer: Tokenizer) -> str | None:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("pad_token")
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                return value
    padding = tokenizer.padding
    return padding.get("pad_token") if padding else None
