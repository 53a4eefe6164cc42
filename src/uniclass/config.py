"""GLiClass configuration: reads and writes the official ``config.json`` (gliclass 0.1.21 layout).

The official config is a ``transformers.PretrainedConfig`` subclass with ~70 keyword arguments. Here it is a
dataclass with the fields that change the computation, plus ``extra``: every other key of the file (training
switches, 0.1.21 recurrent/calibrator fields, keys from future versions) is kept verbatim and written back, so
a checkpoint survives a load/save round trip through uniclass unchanged.

transformers is imported only to build backbone configs for the torch backend: the ONNX Runtime path loads the
nested backbone configs as plain ``BackboneConfig`` objects (``from_dict(..., plain_backbones=True)``), so it
runs without transformers installed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PretrainedConfig

CLASS_TOKEN = "<<LABEL>>"
TEXT_TOKEN = "<<SEP>>"
EXAMPLE_TOKEN = "<<EXAMPLE>>"
SPECIAL_TOKENS = (CLASS_TOKEN, TEXT_TOKEN, EXAMPLE_TOKEN)

# File names of a checkpoint folder, defined here (torch-free) so every layer can name them.
WEIGHTS_FILE = "model.safetensors"
LABEL_TOKENIZER_DIR = "label_tokenizer"
# uniclass-only config keys and their defaults (not written to config.json when at the default)
UNICLASS_ONLY_DEFAULTS: dict[str, Any] = {"backbone_similarity_weight": 0.0, "text_prefix": "", "label_template": "{}"}

ARCHITECTURES = ("uni-encoder", "bi-encoder", "bi-encoder-fused", "encoder-decoder", "encoder-decoder-cls")
BI_ENCODERS = ("bi-encoder", "bi-encoder-fused")
ENCODER_DECODERS = ("encoder-decoder", "encoder-decoder-cls")
POOLINGS = ("first", "last", "avg", "max", "sum", "rms", "abs_max", "abs_avg", "pass")
SCORERS = ("simple", "weighted-dot", "mlp", "hopfield", "cross-attn")
CLASS_TOKEN_POOLINGS = ("first", "average")

# Fields of the official GLiClassModelConfig that uniclass reads, with the official defaults.
# Everything else in config.json goes to ``GLiClassConfig.extra``.
_CONFIG_FILE = "config.json"


@dataclass
class GLiClassConfig:
    """Configuration of a GLiClass model, compatible with the official ``config.json``.

    Example:
        >>> from transformers import BertConfig
        >>> cfg = GLiClassConfig(encoder_config=BertConfig(hidden_size=32, num_hidden_layers=1,
        ...                      num_attention_heads=2, intermediate_size=64, vocab_size=100))
        >>> cfg.class_token_index, cfg.text_token_index, cfg.hidden_size
        (100, 101, 32)
    """

    encoder_config: PretrainedConfig | BackboneConfig = field(default_factory=lambda: _backbone_config({}))
    architecture_type: str = "uni-encoder"
    encoder_model_name: str | None = None
    label_model_config: PretrainedConfig | BackboneConfig | None = None
    label_model_name: str | None = None
    # Ids of the added tokens; -1 means "vocab_size (+1, +2)" as in the official config.
    class_token_index: int = -1
    text_token_index: int = -1
    example_token_index: int = -1
    hidden_size: int | None = None  # projector inner width; defaults to the encoder hidden size
    vocab_size: int | None = None  # embedding rows after adding the special tokens
    projector_hidden_act: str = "gelu"
    prompt_first: bool = False
    pooling_strategy: str = "first"
    class_token_pooling: str = "first"
    embed_class_token: bool = True
    extract_text_features: bool = False
    use_lstm: bool = False
    use_segment_embeddings: bool = False
    normalize_features: bool = False
    logit_scale_init_value: float = 2.6592
    encoder_layer_id: int = -1
    squeeze_layers: bool = False
    layer_wise: bool = False
    scorer_type: str = "simple"
    scorer_num_heads: int = 16
    scorer_mlp_hidden_size: int = 1024
    scorer_attn_dropout: float = 0.1
    max_labels_alloc: str | int = "dynamic"
    max_num_classes: int = 25
    dropout: float = 0.1
    initializer_range: float = 0.03
    problem_type: str = "single_label_classification"
    focal_loss_alpha: float = 0.5
    focal_loss_gamma: float = 2
    focal_loss_reduction: str | None = None
    contrastive_loss_coef: float = 0
    ignore_index: int = -100
    # Learned calibrator (``modeling.calibrator``): an MLP over the text/label vectors and logit statistics that
    # predicts an inverse temperature in (0, calibrator_beta_max) and, with calibrator_use_bias, a logit bias.
    use_calibrator: bool = False
    calibrator_hidden_size: int = 256
    calibrator_beta_max: float = 3.0
    calibrator_dropout: float = 0.1
    calibrator_use_bias: bool = False
    # uniclass only (not an official key; written to config.json only when non-zero, so other checkpoints
    # round-trip unchanged): plain bi-encoders add this weight times the cosine of the backbones' own pooled
    # text and label vectors (before the projectors) to every logit, a similarity the pass computes anyway.
    backbone_similarity_weight: float = 0.0
    # uniclass only, plain bi-encoders (written only when set): the text encoder reads ``text_prefix + text`` and
    # the label encoder ``label_template.format(label)``. Why: an embedding backbone's own similarity depends on
    # its input convention (multilingual-e5 expects "query: " before every input).
    text_prefix: str = ""
    label_template: str = "{}"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        text_config = self.encoder_config.get_text_config()
        if self.hidden_size is None:
            self.hidden_size = text_config.hidden_size
        if self.vocab_size is None:
            self.vocab_size = text_config.vocab_size
        if self.class_token_index == -1:
            self.class_token_index = self.vocab_size
        if self.text_token_index == -1:
            self.text_token_index = self.vocab_size + 1
        if self.example_token_index == -1:
            self.example_token_index = self.vocab_size + 2
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ``ValueError`` for options uniclass cannot run (instead of failing deep inside torch)."""
        if self.architecture_type == "decoder-kv":
            raise ValueError("architecture_type 'decoder-kv' is not supported by uniclass.")
        _check_choice("architecture_type", self.architecture_type, ARCHITECTURES)
        _check_choice("pooling_strategy", self.pooling_strategy, POOLINGS)
        _check_choice("scorer_type", self.scorer_type, SCORERS)
        _check_choice("class_token_pooling", self.class_token_pooling, CLASS_TOKEN_POOLINGS)
        if self.squeeze_layers:
            # the official LayerwiseAttention is built for L layers but fed L+1
            # hidden states, so no working official checkpoint can use it.
            raise ValueError("squeeze_layers=True is broken in the official code and is not supported.")
        self._validate_input_convention()
        self._validate_backbone_similarity()  # and the checks that follow it

    def _validate_backbone_similarity(self) -> None:
        weight = self.backbone_similarity_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"backbone_similarity_weight must be a finite number >= 0, got {weight!r}")
        if weight and self.architecture_type != "bi-encoder":
            raise ValueError(
                f"backbone_similarity_weight needs architecture_type 'bi-encoder', not {self.architecture_type!r}"
            )
        if weight and self.label_model_config is not None:
            # a cosine between the two backbones' pooled vectors needs one width for both
            text_width = self.encoder_config.get_text_config().hidden_size
            label_width = self.label_model_config.get_text_config().hidden_size
            if text_width != label_width:
                raise ValueError(
                    f"backbone_similarity_weight needs text and label encoders of one hidden size "
                    f"(here {text_width} and {label_width})"
                )
        if self.scorer_type == "cross-attn" and self.pooling_strategy != "pass":
            raise ValueError("scorer_type 'cross-attn' needs pooling_strategy 'pass' (it attends over text tokens).")
        if self.pooling_strategy == "pass" and self.scorer_type != "cross-attn":
            raise ValueError("pooling_strategy 'pass' only works with scorer_type 'cross-attn'.")
        if self.scorer_type == "cross-attn" and self.architecture_type not in ("uni-encoder", "encoder-decoder"):
            # bi-encoders pool labels with the text pooler ("pass" keeps label tokens) and encoder-decoder-cls has
            # one text vector, not text tokens: the official forward raises for all three.
            raise ValueError(
                f"scorer_type 'cross-attn' is not supported with architecture_type {self.architecture_type!r} "
                "(the official code cannot run it either); use a uni-encoder or encoder-decoder."
            )
        if self.hidden_size != self.encoder_hidden_size:
            # hidden_size is the projectors' inner width, but the official scorers (all but "simple") and the
            # LSTM are built with it while they receive encoder-width vectors: the official forward raises.
            lstm_used = self.use_lstm and self.architecture_type in ("uni-encoder", "encoder-decoder")
            if self.scorer_type != "simple" or lstm_used:
                raise ValueError(
                    f"hidden_size={self.hidden_size} differs from the encoder's {self.encoder_hidden_size}: only the "
                    "'simple' scorer without LSTM supports that (the official code cannot run it either)."
                )
        if self.is_bi_encoder and self.label_model_config is None:
            raise ValueError(f"{self.architecture_type} needs label_model_config (the label encoder's config).")
        if self.use_calibrator:
            self._validate_calibrator()
        alloc = self.max_labels_alloc
        if not (alloc in ("dynamic", "fixed") or (isinstance(alloc, int) and not isinstance(alloc, bool))):
            raise ValueError(f"max_labels_alloc must be 'dynamic', 'fixed' or an int, got {alloc!r}.")

    def _validate_input_convention(self) -> None:
        prefix, template = self.text_prefix, self.label_template
        if not isinstance(prefix, str):
            raise ValueError(f"text_prefix must be a string, got {prefix!r}")
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ValueError(f"label_template must be a string with one {{}} for the label, got {template!r}")
        if (prefix or template != "{}") and self.architecture_type != "bi-encoder":
            raise ValueError(
                f"text_prefix and label_template need architecture_type 'bi-encoder', not {self.architecture_type!r}"
            )

    def label_input(self, label: str) -> str:
        """The string the label encoder reads for ``label`` (``label_template`` applied)."""
        return label if self.label_template == "{}" else self.label_template.replace("{}", label)

    def _validate_calibrator(self) -> None:
        if self.pooling_strategy == "pass":
            # the calibrator reads one text vector; "pass" keeps every token (the official forward raises too)
            raise ValueError("use_calibrator needs one text vector: pooling_strategy 'pass' cannot carry a calibrator.")
        size = self.calibrator_hidden_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"calibrator_hidden_size must be a positive int, got {size!r}.")
        beta_max = self.calibrator_beta_max
        if isinstance(beta_max, bool) or not isinstance(beta_max, (int, float)) or not beta_max > 0:
            raise ValueError(f"calibrator_beta_max must be a number > 0, got {beta_max!r}.")

    # ------------------------------------------------------------------ derived values
    @property
    def is_bi_encoder(self) -> bool:
        """Labels have their own encoder (``bi-encoder``, ``bi-encoder-fused``): label vectors can be cached."""
        return self.architecture_type in BI_ENCODERS

    @property
    def is_encoder_decoder(self) -> bool:
        """Labels go to the decoder as a second sequence (``encoder-decoder``, ``encoder-decoder-cls``)."""
        return self.architecture_type in ENCODER_DECODERS

    @property
    def encoder_hidden_size(self) -> int:
        return self.encoder_config.get_text_config().hidden_size

    @property
    def pad_token_id(self) -> int:
        pad = getattr(self.encoder_config.get_text_config(), "pad_token_id", None)
        return 0 if pad is None else int(pad)

    def label_slots(self, num_labels: int) -> int:
        """Number of label slots K the official code allocates for a text with ``num_labels`` labels.

        Only the hopfield scorer looks at padded slots (its softmax runs over all K). The official
        encoder-decoder forward never receives ``max_num_classes`` per call, so it always uses
        ``max_num_classes``. K is never below the real number of labels: the official code silently drops
        labels beyond K, uniclass scores them.
        """
        if self.is_encoder_decoder or self.max_labels_alloc == "fixed":
            slots = self.max_num_classes
        elif self.max_labels_alloc == "dynamic":
            slots = num_labels
        else:
            slots = int(self.max_labels_alloc)
        return max(slots, num_labels)

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, plain_backbones: bool = False) -> GLiClassConfig:
        """Build from a parsed ``config.json``; unknown keys are kept in ``extra``.

        ``plain_backbones=True`` keeps the nested backbone configs as ``BackboneConfig`` (no transformers
        import): enough to plan inputs and run an exported ONNX graph, not to build a torch model.
        """
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "encoder_config", "label_model_config"}
        kwargs: dict[str, Any] = {}
        encoder_dict = data.pop("encoder_config", None)
        kwargs["encoder_config"] = _backbone_config(encoder_dict or {}, plain=plain_backbones)
        label_dict = data.pop("label_model_config", None)
        kwargs["label_model_config"] = _backbone_config(label_dict, plain=plain_backbones) if label_dict else None
        for key in list(data):
            if key in known:
                kwargs[key] = data.pop(key)
        # The official file stores booleans/ints loosely (e.g. max_labels_alloc may be "8"); normalise.
        alloc = kwargs.get("max_labels_alloc")
        if isinstance(alloc, str) and alloc.isdigit():
            kwargs["max_labels_alloc"] = int(alloc)
        for key in ("model_type", "architectures"):
            data.pop(key, None)
        return cls(**kwargs, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The official ``config.json`` content (all keys the official loader needs, plus ``extra``)."""
        out: dict[str, Any] = {"architectures": ["GLiClassModel"], "model_type": "GLiClass"}
        out.update(self.extra)
        for f in dataclasses.fields(self):
            if f.name in ("extra", "encoder_config", "label_model_config"):
                continue
            if f.name in UNICLASS_ONLY_DEFAULTS and getattr(self, f.name) == UNICLASS_ONLY_DEFAULTS[f.name]:
                continue  # defaults are not written: official checkpoints round-trip byte for byte
            out[f.name] = getattr(self, f.name)
        out["encoder_config"] = self.encoder_config.to_dict()
        out["label_model_config"] = self.label_model_config.to_dict() if self.label_model_config else None
        out["pad_token_id"] = self.pad_token_id
        try:
            import transformers

            out["transformers_version"] = transformers.__version__
        except ImportError:  # torch-free install: keep the version the file was written with (in ``extra``)
            pass
        return dict(sorted(out.items()))

    @classmethod
    def from_json_file(cls, path: str | Path, *, plain_backbones: bool = False) -> GLiClassConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        _check_int_fields(data, path)
        try:
            return cls.from_dict(data, plain_backbones=plain_backbones)
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001 - transformers' validation errors are not ValueError: one line
            first = str(err).strip().splitlines()
            raise ValueError(
                f"{path}: invalid config ({type(err).__name__}: {' '.join(x.strip() for x in first)})"
            ) from None

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / _CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


_INT_FIELDS = (
    "hidden_size",
    "max_position_embeddings",
    "vocab_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "class_token_index",
    "text_token_index",
    "example_token_index",
    "pad_token_id",
)


def _check_int_fields(data: dict[str, Any], path: Path) -> None:
    """Sizes must be integers: ``"hidden_size": "32"`` would otherwise fail deep inside model construction."""
    for where, block in (
        ("", data),
        ("encoder_config.", data.get("encoder_config")),
        ("label_model_config.", data.get("label_model_config")),
    ):
        if not isinstance(block, dict):
            continue
        for key in _INT_FIELDS:
            value = block.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{path}: {where}{key} must be an integer, got {type(value).__name__} {value!r}")


# transformers' per-model ``attribute_map`` for the fields uniclass reads (T5/BART: d_model, DistilBERT: dim...).
_ATTRIBUTE_ALIASES = {
    "hidden_size": ("d_model", "dim", "n_embd"),
    "max_position_embeddings": ("n_positions",),
}


class BackboneConfig:
    """A nested backbone config read as plain attributes (the torch-free path; no transformers needed).

    It answers what input planning and the ONNX backend read (``hidden_size``, ``vocab_size``,
    ``pad_token_id``, ``model_type``, ``max_position_embeddings``...); building a torch model needs the
    transformers config instead (``GLiClassConfig.from_dict(..., plain_backbones=False)``).
    """

    def __init__(self, data: dict[str, Any]):
        self._data = dict(data)
        self._data.setdefault("model_type", "deberta-v2")  # the official default backbone type

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private and dunder lookups (copy, pickle) must not recurse into _data
            raise AttributeError(name)
        for key in (name, *_ATTRIBUTE_ALIASES.get(name, ())):
            if key in self._data:
                return self._data[key]
        raise AttributeError(f"backbone config ({self._data['model_type']}) has no field {name!r}")

    def get_text_config(self) -> BackboneConfig:
        text = self._data.get("text_config")
        return BackboneConfig(text) if isinstance(text, dict) else self

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"BackboneConfig(model_type={self._data['model_type']!r})"


def _backbone_config(data: Any, *, plain: bool = False) -> Any:
    """Rebuild a nested backbone config; the official default model_type is deberta-v2."""
    if not isinstance(data, dict):
        return data  # already a config object (transformers PretrainedConfig or BackboneConfig)
    if plain:
        return BackboneConfig(data)
    from transformers import AutoConfig

    data = dict(data)
    model_type = data.pop("model_type", "deberta-v2")
    try:
        return AutoConfig.for_model(model_type, **data)
    except ValueError as err:
        raise ValueError(
            f"Backbone model_type {model_type!r} is not known to this transformers version: {err}"
        ) from err


# Backbones whose positions are relative: the window is not limited by a position-embedding table.
_RELATIVE_POSITION_TYPES = {"t5", "mt5", "umt5", "longt5"}
# Backbones whose learned position ids start after the padding index (RoBERTa family): 2 rows are lost.
_OFFSET_POSITION_TYPES = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer", "bart", "mbart"}


def find_reserved_marker(value: str) -> str | None:
    """The first of the model's own markers (``<<LABEL>>``...) found in ``value``, else None.

    User text containing one would be read as input structure; every entry point (requests, training data,
    corpora) rejects or skips such text through this one check.
    """
    return next((token for token in SPECIAL_TOKENS if token in value), None)


def max_positions(config: Any) -> int | None:
    """Longest sequence the backbone can read, or ``None`` when positions are relative/unbounded.

    The official pipelines default to ``max_length=1024``, which crashes BERT/MiniLM-style backbones with 512
    learned positions on long inputs; uniclass caps the window with this value. Reads only config fields, so
    it works on transformers configs and on torch-free ``BackboneConfig`` alike.
    """
    config = config.get_text_config()
    model_type = getattr(config, "model_type", "")
    if model_type in _RELATIVE_POSITION_TYPES:
        return None
    if model_type in ("deberta-v2", "deberta") and not getattr(config, "position_biased_input", True):
        return None
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if model_type in _OFFSET_POSITION_TYPES:
        positions -= 2
    return int(positions)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(choices)}.")
