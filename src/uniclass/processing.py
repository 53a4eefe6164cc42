"""Inputs: validation, the official string layouts, tokenisation, and fitting into the model's window.

The strings are built exactly as the official pipelines build them, so
token ids, and therefore scores, match. What differs is what happens when an input is too long: the official
pipelines cut the whole string from the right, which silently drops labels when the text comes first.
Here only the user's text is ever shortened (or split into chunks); labels, prompt and examples are kept, and
label sets too large for one window are split into groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import CLASS_TOKEN, EXAMPLE_TOKEN, TEXT_TOKEN, GLiClassConfig, find_reserved_marker

LABEL_SEPARATOR = "."


# ====================================================================== request normalisation
@dataclass
class Request:
    """One classification call, normalised to per-text lists."""

    texts: list[str]
    labels: list[list[str]]
    prompts: list[str]
    examples: list[list[dict[str, Any]]]
    multi_label: list[bool]
    label_trees: list[Any] | None = None  # per text, the hierarchical input (for tree-shaped output)
    single_text: bool = False
    # per text, the mean prior cosine over the whole label set when only a shortlist of it is scored (the
    # prior is then centred on the set, not on the shortlist: ``backends.embedding``); None: centre on the labels
    prior_centers: list[float] | None = None


def normalize_request(
    texts: str | Sequence[str],
    labels: Any,
    *,
    multi_label: bool | Sequence[bool] = True,
    prompt: str | Sequence[str] | None = None,
    examples: Any = None,
) -> Request:
    """Validate a call and expand shared arguments to one entry per text. Raises ``TypeError``/``ValueError``."""
    single = isinstance(texts, str)
    text_list: list[str] = [texts] if isinstance(texts, str) else _as_list(texts, "texts", "a str or a list of str")
    for i, text in enumerate(text_list):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        reject_reserved_markers(text, f"texts[{i}]")
    n = len(text_list)

    label_lists, trees = _normalize_labels(labels, n)
    prompts = _per_text(prompt, n, "prompt", str, default="")
    for i, p in enumerate(prompts):
        reject_reserved_markers(p, f"prompt[{i}]" if not isinstance(prompt, str) else "prompt")
    multi = _per_text(multi_label, n, "multi_label", bool)  # no default: None is not read as True silently
    example_lists = _normalize_examples(examples, n)
    return Request(text_list, label_lists, prompts, example_lists, multi, trees, single)


def _as_list(value: Any, name: str, expected: str = "a list") -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return list(value)


def _per_text(value: Any, n: int, name: str, kind: type, default: Any = None) -> list[Any]:
    """``value`` for every text, or its per-text list checked against ``kind``. ``None`` (for all texts or one) means
    ``default`` where there is one (a prompt: none); without one it is a wrong type like any other."""
    if value is None and default is not None:
        return [default] * n
    if isinstance(value, kind):
        return [value] * n
    values = _as_list(value, name, f"a {kind.__name__} or a list of them (one per text)")
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} texts")
    for i, v in enumerate(values):
        if v is None and default is not None:
            values[i] = default
        elif not isinstance(v, kind):
            raise TypeError(f"{name}[{i}] must be {kind.__name__}, got {type(v).__name__}")
    return values


def reject_reserved_markers(value: str, where: str) -> None:
    """Reserved markers would corrupt the layout; lone surrogates (valid JSON, invalid Unicode) break the tokenizer."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{where} contains a lone surrogate at character {err.start}: not valid Unicode") from None
    token = find_reserved_marker(value)
    if token is not None:
        raise ValueError(f"{where} contains the reserved marker {token!r}, which would corrupt the input layout")


def flatten_label_tree(tree: Any, prefix: str = "", separator: str = LABEL_SEPARATOR) -> list[str]:
    """``{"a": ["x", "y"], "b": {"c": ["z"]}}`` -> ``["a.x", "a.y", "b.c.z"]`` (official layout).

    A key whose value is ``None`` (JSON ``null``) is a label itself: ``{"sports": None, "finance": ["stocks"]}``
    -> ``["sports", "finance.stocks"]``, so a level may mix plain labels and sub-trees (what
    ``label_tree_from_paths`` builds from ``["sports", "finance.stocks"]``).
    """
    if isinstance(tree, str):
        return [f"{prefix}{separator}{tree}" if prefix else tree]
    if tree is None and prefix:
        return [prefix]
    if isinstance(tree, Mapping):
        out: list[str] = []
        for key, value in tree.items():
            if not isinstance(key, str):
                raise TypeError(f"label tree keys must be str, got {type(key).__name__}")
            out.extend(flatten_label_tree(value, f"{prefix}{separator}{key}" if prefix else key, separator))
        return out
    if isinstance(tree, Sequence):
        out = []
        for item in tree:
            if not isinstance(item, str):
                raise TypeError(f"labels must be str, got {type(item).__name__} ({item!r})")
            out.append(f"{prefix}{separator}{item}" if prefix else item)
        return out
    raise TypeError(f"labels must be str, list or dict, got {type(tree).__name__}")


def build_label_tree(tree: Any, scores: Mapping[str, float], prefix: str = "", separator: str = LABEL_SEPARATOR) -> Any:
    """The input tree with each leaf label replaced by its score (a ``None`` leaf key gets its own score)."""
    if isinstance(tree, Mapping):
        return {
            key: scores[f"{prefix}{separator}{key}" if prefix else key]
            if value is None
            else build_label_tree(value, scores, f"{prefix}{separator}{key}" if prefix else key, separator)
            for key, value in tree.items()
        }
    leaves = [tree] if isinstance(tree, str) else list(tree)
    return {leaf: scores[f"{prefix}{separator}{leaf}" if prefix else leaf] for leaf in leaves}


def label_tree_from_paths(paths: Sequence[str], separator: str = LABEL_SEPARATOR) -> dict[str, Any]:
    """Dotted labels -> the tree they name: ``["sports", "finance.stocks", "finance.bonds"]`` ->
    ``{"sports": None, "finance": {"stocks": None, "bonds": None}}`` (``None``: a label, see
    ``flatten_label_tree``), which flattens back to the same labels in the same order.

    For command lines and the demo page, where a tree is typed as ``parent.child`` labels. Parts are stripped of
    spaces; an empty part, a label given twice, or a label that is also the parent of another (its score would
    come from its children under ``hierarchy``) is a ``ValueError`` naming the label.
    """
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Sequence):
        raise TypeError("labels must be a list of str")
    tree: dict[str, Any] = {}
    seen: set[tuple[str, ...]] = set()
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"labels must be str, got {type(path).__name__} ({path!r})")
        parts = tuple(part.strip() for part in path.split(separator))
        if not all(parts):
            raise ValueError(f"label {path!r} has an empty level (write parent{separator}child)")
        node = tree
        for depth, part in enumerate(parts[:-1]):
            if part in node and node[part] is None:
                raise ValueError(
                    f"label {separator.join(parts[: depth + 1])!r} is also the parent of {path!r}: "
                    "a parent's score comes from its children, so give only the children"
                )
            node = node.setdefault(part, {})
        leaf = parts[-1]
        if parts in seen:
            raise ValueError(f"label {path!r} is given twice")
        if leaf in node:
            raise ValueError(
                f"label {path!r} is also the parent of other labels: a parent's score comes from its "
                "children, so give only the children"
            )
        node[leaf] = None
        seen.add(parts)
    return tree


def _normalize_labels(labels: Any, n: int) -> tuple[list[list[str]], list[Any] | None]:
    if isinstance(labels, str):
        raise TypeError("labels must be a list of str (or a list per text, or a dict tree), not a single str")
    if isinstance(labels, Mapping):
        flat = flatten_label_tree(labels)
        check_label_list(flat, "labels")
        return [flat] * n, [labels] * n
    labels = _as_list(labels, "labels", "a list of str (or a list per text, or a dict tree)")
    if not labels:
        raise ValueError("labels is empty: give at least one label")
    per_text = all(isinstance(x, (list, tuple, Mapping)) for x in labels)
    if not per_text:
        check_label_list(labels, "labels")
        return [list(labels)] * n, None
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} per-text lists but there are {n} texts")
    out, trees = [], []
    for i, item in enumerate(labels):
        flat = flatten_label_tree(item)
        check_label_list(flat, f"labels[{i}]")
        out.append(flat)
        trees.append(item)
    has_tree = any(isinstance(t, Mapping) for t in trees)
    return out, trees if has_tree else None


def check_label_list(labels: list[Any], where: str) -> None:
    if not labels:
        raise ValueError(f"{where} is empty: give at least one label")
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise TypeError(f"{where}[{i}] must be a str, got {type(label).__name__} ({label!r})")
        if not label.strip():
            raise ValueError(f"{where}[{i}] is an empty label")
        reject_reserved_markers(label, f"{where}[{i}]")
        if label in seen:
            raise ValueError(f"{where} has the label {label!r} twice; labels must be unique")
        seen.add(label)


def _normalize_examples(examples: Any, n: int) -> list[list[dict[str, Any]]]:
    if not examples:
        return [[] for _ in range(n)]
    examples = _as_list(examples, "examples", f"a list of dicts with {EXAMPLE_KEYS}")
    per_text = all(e is None or isinstance(e, (list, tuple)) for e in examples)
    if per_text:
        if len(examples) != n:
            raise ValueError(f"examples has {len(examples)} per-text lists but there are {n} texts")
        return [
            [check_example(e, f"examples[{i}][{j}]") for j, e in enumerate(group or [])]
            for i, group in enumerate(examples)
        ]
    shared = [check_example(e, f"examples[{j}]") for j, e in enumerate(examples)]
    return [shared] * n


EXAMPLE_KEYS = "'text' and 'labels' (or 'true_labels')"


def check_example(example: Any, where: str) -> dict[str, Any]:
    """One few-shot example -> ``{"text", "labels"}``. A missing or empty text, or no labels key at all (a typo
    such as ``"label"`` would otherwise lose the user's labels silently), is an error; ``"labels": []`` is a
    legal negative example (a text that none of the labels fits)."""
    if not isinstance(example, Mapping):
        raise TypeError(f"{where} must be a dict with {EXAMPLE_KEYS}, got {type(example).__name__}")
    if "text" not in example:
        raise ValueError(f"{where} has no 'text' (keys: {sorted(map(str, example))}); an example takes {EXAMPLE_KEYS}")
    key = "labels" if "labels" in example else "true_labels" if "true_labels" in example else None
    if key is None:
        raise ValueError(
            f"{where} has no 'labels' (keys: {sorted(map(str, example))}); an example takes {EXAMPLE_KEYS}, "
            "with 'labels': [] for an example that no label fits"
        )
    text, labels = example["text"], example[key]
    if not isinstance(text, str):
        raise TypeError(f"{where}['text'] must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{where}['text'] is empty")
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise TypeError(f"{where}['{key}'] must be a list of str")
    reject_reserved_markers(text, f"{where}['text']")
    for k, label in enumerate(labels):
        if not label.strip():
            raise ValueError(f"{where}['{key}'][{k}] is an empty label")
        reject_reserved_markers(label, f"{where}['{key}']")
    return {"text": text, "labels": list(labels)}


# ====================================================================== official string layouts
def format_examples(examples: Sequence[Mapping[str, Any]]) -> str:
    """``<<EXAMPLE>>{text} \\nLabels:\\n {l1, l2}`` per example, then one ``<<SEP>>`` (official format)."""
    if not examples:
        return ""
    parts = [f"{EXAMPLE_TOKEN}{e['text']} \nLabels:\n {', '.join(e['labels'])}" for e in examples]
    return "".join(parts) + TEXT_TOKEN


def label_block(labels: Sequence[str]) -> str:
    return "".join(f"{CLASS_TOKEN}{label}" for label in labels) + TEXT_TOKEN


@dataclass
class Layout:
    """A formatted input string and the character span of the user's text inside it."""

    string: str
    text_start: int
    text_end: int


def _place(before: str, text: str, after: str) -> Layout:
    return Layout(before + text + after, len(before), len(before) + len(text))


def uni_encoder_layout(text: str, labels: Sequence[str], prompt: str, examples: str, prompt_first: bool) -> Layout:
    """Labels -> <<SEP>> -> prompt -> text -> examples (or text first); no separators between the pieces."""
    head = label_block(labels) + prompt
    return _place(head, text, examples) if prompt_first else _place("", text, head + examples)


def fused_layout(text: str, labels: Sequence[str], prompt: str, examples: str, prompt_first: bool) -> Layout:
    """bi-encoder-fused text input: ``prompt + " "`` then one bare ``<<LABEL>>`` per label and ``<<SEP>>``."""
    head = (f"{prompt} " if prompt else "") + CLASS_TOKEN * len(labels) + TEXT_TOKEN
    return _place(head, text, examples) if prompt_first else _place("", text, head + examples)


def label_encoder_ids(
    label_tokenizer: Any, config: GLiClassConfig, labels: Sequence[str], *, truncation: bool = False
) -> list[list[int]]:
    """A bi-encoder's label-encoder token ids, one list per label, each label written as the config's
    ``label_template`` says (inference, ONNX export and training all tokenise labels here)."""
    strings = [config.label_input(label) for label in labels]
    return label_tokenizer(strings, add_special_tokens=True, truncation=truncation, verbose=False)["input_ids"]


def bi_encoder_layout(text: str, prompt: str, text_prefix: str = "") -> Layout:
    """``text_prefix`` (the backbone's input convention, e.g. e5's ``"query: "``), ``prompt + " "``, then the text."""
    return _place(text_prefix + (f"{prompt} " if prompt else ""), text, "")


def encoder_decoder_layouts(text: str, labels: Sequence[str], prompt: str, examples: str) -> tuple[Layout, str]:
    """(encoder-side text + examples, decoder-side ``<<LABEL>>l1...<<SEP>>prompt``)."""
    return _place("", text, examples), label_block(labels) + prompt


# ====================================================================== tokenisation and windows
@dataclass
class Encoded:
    """Token ids of a formatted string; ``ids[text_start:text_end]`` are the user's text tokens."""

    ids: list[int]
    text_start: int
    text_end: int

    @property
    def text_tokens(self) -> int:
        return self.text_end - self.text_start

    @property
    def fixed_tokens(self) -> int:
        return len(self.ids) - self.text_tokens

    def with_text(self, start: int, stop: int) -> list[int]:
        """Ids with the text reduced to its tokens ``[start, stop)``."""
        return (
            self.ids[: self.text_start]
            + self.ids[self.text_start + start : self.text_start + stop]
            + self.ids[self.text_end :]
        )


def encode_layouts(tokenizer: Any, layouts: Sequence[Layout]) -> list[Encoded]:
    """Tokenise whole strings (so ids equal the official ones) and locate the text tokens by offsets."""
    if not layouts:
        return []
    batch = tokenizer(
        [layout.string for layout in layouts],
        add_special_tokens=True,
        return_offsets_mapping=True,
        truncation=False,
        verbose=False,
    )
    out = []
    for layout, ids, offsets in zip(layouts, batch["input_ids"], batch["offset_mapping"], strict=True):
        inside = [
            i
            for i, (start, end) in enumerate(offsets)
            if end > start and start >= layout.text_start and end <= layout.text_end
        ]
        if inside:
            # text tokens are contiguous; anything straddling the boundary stays with the fixed part
            out.append(Encoded(list(ids), inside[0], inside[-1] + 1))
        else:
            position = next((i for i, (s, e) in enumerate(offsets) if e > s and s >= layout.text_end), None)
            if position is None:
                position = _insertion_point(offsets, layout)
            out.append(Encoded(list(ids), position, position))
    return out


def _insertion_point(offsets: Sequence[tuple[int, int]], layout: Layout) -> int:
    """Where an empty text sits: after the last token that ends before it (skipping the leading [CLS])."""
    position = 1 if offsets and offsets[0] == (0, 0) else 0
    for i, (start, end) in enumerate(offsets):
        if end > start and end <= layout.text_start:
            position = i + 1
    return position


def text_windows(num_text_tokens: int, budget: int, *, chunk: bool, overlap: int) -> list[tuple[int, int]]:
    """Token ranges of the text to score: the whole text, its first ``budget`` tokens, or overlapping chunks."""
    if num_text_tokens <= budget:
        return [(0, num_text_tokens)]
    if not chunk:
        return [(0, max(budget, 0))]
    step = max(budget - overlap, 1)
    count = math.ceil(max(num_text_tokens - budget, 0) / step) + 1
    return [(i * step, min(i * step + budget, num_text_tokens)) for i in range(count)]


@dataclass
class Segment:
    """One model input: part of a text (a window) against part of its labels (a group)."""

    item: int
    label_offset: int  # index of this segment's first label in the item's label list
    labels: list[str]
    input_ids: list[int]
    class_input_ids: list[int] | None = None
    text_tokens_used: int = 0
    # models with a learned calibrator: the window's text vector [D] and label vectors [n, D] (engine.run)
    representations: tuple[Any, Any] | None = None

    def class_ids(self) -> list[int]:
        """``class_input_ids``, which every segment built for an encoder-decoder model has."""
        if self.class_input_ids is None:
            raise ValueError("this segment has no class_input_ids: it was not built for an encoder-decoder model")
        return self.class_input_ids


@dataclass
class ItemPlan:
    """How one text was fitted: what was kept, how many passes it needs."""

    text_tokens: int = 0
    text_tokens_used: int = 0
    label_groups: int = 1
    chunks: int = 1
    segments: list[Segment] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.text_tokens_used < self.text_tokens


@dataclass
class WindowPolicy:
    """How inputs are fitted into ``max_length`` tokens."""

    max_length: int
    long_text: str = "truncate"  # or "chunk"
    chunk_overlap: int = 64
    split_labels: bool = True
    # a label group must leave at least this share of the window to the text (or the whole text if shorter)
    min_text_share: float = 0.5

    def __post_init__(self) -> None:
        if self.long_text not in ("truncate", "chunk"):
            raise ValueError(f"long_text must be 'truncate' or 'chunk', got {self.long_text!r}")
        if self.max_length < 8:
            raise ValueError(f"max_length={self.max_length} is too small")
        if not self.chunk_overlap >= 0:
            raise ValueError("chunk_overlap must be >= 0")

    def text_reserve(self, text_tokens: int) -> int:
        return min(text_tokens, int(self.max_length * self.min_text_share))


class InputBuilder:
    """Turns a ``Request`` into model ``Segment``s for one architecture family.

    ``fixed`` tokens (labels, markers, prompt, examples, special tokens) are never cut. When they leave less
    than ``WindowPolicy.text_reserve`` tokens for the text, the labels are split into groups that each leave
    that much; every group is scored against the same text.
    """

    def __init__(self, config: GLiClassConfig, tokenizer: Any, label_tokenizer: Any = None):
        self.config = config
        self.tokenizer = tokenizer
        self.label_tokenizer = label_tokenizer
        self.arch = config.architecture_type

    # ---------------------------------------------------------------- public
    def build(self, request: Request, policy: WindowPolicy, items: range | None = None) -> list[ItemPlan]:
        """Plans of every text, or of the texts ``items`` only (indices, and errors, stay the request's)."""
        # One batched tokenizer call for every text with all its labels (the common case: everything fits);
        # only texts whose labels need groups are re-tokenised, group by group.
        indices = range(len(request.texts)) if items is None else items
        first = [self._layouts(request, i, request.labels[i]) for i in indices]
        encoded = encode_layouts(self.tokenizer, [layout for layout, _ in first])
        label_ids = self._tokenize_label_sides([side for _, side in first])
        return [self._plan_item(request, i, policy, encoded[k], label_ids[k]) for k, i in enumerate(indices)]

    # ---------------------------------------------------------------- per item
    def _layouts(self, request: Request, index: int, labels: Sequence[str]) -> tuple[Layout, str | None]:
        text, prompt = request.texts[index], request.prompts[index]
        examples = format_examples(request.examples[index])
        prompt_first = self.config.prompt_first
        if self.arch == "uni-encoder":
            return uni_encoder_layout(text, labels, prompt, examples, prompt_first), None
        if self.arch == "bi-encoder-fused":
            return fused_layout(text, labels, prompt, examples, prompt_first), None
        if self.arch == "bi-encoder":
            return bi_encoder_layout(text, prompt, self.config.text_prefix), None
        return encoder_decoder_layouts(text, labels, prompt, examples)

    def _plan_item(
        self, request: Request, index: int, policy: WindowPolicy, first: Encoded, first_label_ids: list[int] | None
    ) -> ItemPlan:
        labels = request.labels[index]
        groups = [labels]
        encoded, label_ids = [first], [first_label_ids]
        if not self._fits(encoded[0], label_ids[0], policy):
            if not policy.split_labels:
                enc = encoded[0]
                raise ValueError(
                    f"texts[{index}]: {len(labels)} labels need {enc.fixed_tokens} tokens, which leaves less than "
                    f"{policy.text_reserve(enc.text_tokens)} of the {policy.max_length}-token window for the text; "
                    "allow split_labels or use fewer/shorter labels"
                )
            # Contiguous, near-equal groups, the fewest that fit, found arithmetically from each label's token
            # count (tokenised once): trying group counts by re-tokenising the prompt each time was quadratic.
            groups, encoded, label_ids = self._pack_groups(request, index, policy, encoded[0], label_ids[0])
        plan = ItemPlan(text_tokens=encoded[0].text_tokens, label_groups=len(groups))
        offset = 0
        used = encoded[0].text_tokens
        for group, enc, lab in zip(groups, encoded, label_ids):
            budget = policy.max_length - enc.fixed_tokens
            windows = text_windows(
                enc.text_tokens, budget, chunk=policy.long_text == "chunk", overlap=policy.chunk_overlap
            )
            plan.chunks = max(plan.chunks, len(windows))
            covered = windows[-1][1] if policy.long_text == "chunk" else windows[0][1]
            used = min(used, covered)
            for start, stop in windows:
                plan.segments.append(Segment(index, offset, list(group), enc.with_text(start, stop), lab, stop - start))
            offset += len(group)
        plan.text_tokens_used = used
        return plan

    def _pack_groups(
        self, request: Request, index: int, policy: WindowPolicy, first: Encoded, first_label_ids: list[int] | None
    ) -> tuple[list[list[str]], list[Encoded], list[list[int] | None]]:
        """The fewest contiguous near-equal label groups that fit, with one tokenisation of the final groups.

        Each label's cost (its marker and tokens) is measured once; the fixed tokens that do not depend on the
        labels (prompt, examples, specials) are the first encoding's minus the labels'. Group counts are then
        checked by arithmetic only. Tokenisation at group borders can differ by a token, so the encoded result
        is verified, and at most ``_PACK_RETRIES`` larger counts are tried before giving up.
        """
        labels = request.labels[index]
        costs = self._label_costs(labels)
        on_label_side = first_label_ids is not None
        total = len(first_label_ids) if first_label_ids is not None else first.fixed_tokens
        base = max(total - sum(costs), 0)
        room = policy.max_length if on_label_side else policy.max_length - policy.text_reserve(first.text_tokens)
        too_big = (
            f"texts[{index}]: a single label (with the prompt and examples) does not fit the "
            f"{policy.max_length}-token window; shorten it or raise max_length"
        )
        if on_label_side and policy.max_length - first.fixed_tokens < policy.text_reserve(first.text_tokens):
            raise ValueError(
                f"texts[{index}]: the prompt and examples leave no room for the text in the "
                f"{policy.max_length}-token window; shorten them or raise max_length"
            )
        if base + max(costs) > room:
            raise ValueError(too_big)
        count = max(2, self._estimate_groups(first, first_label_ids, len(labels), policy))
        while count <= len(labels) and any(
            base + sum(costs[i] for i in span) > room for span in _spans(len(labels), count)
        ):
            count += 1
        for _ in range(_PACK_RETRIES):
            if count > len(labels):
                break
            groups = split_evenly(labels, count)
            encoded, label_ids = self._encode_groups(request, index, groups)
            if all(self._fits(e, ids, policy) for e, ids in zip(encoded, label_ids)):
                return groups, encoded, label_ids
            count += 1
        raise ValueError(too_big)

    def _label_costs(self, labels: Sequence[str]) -> list[int]:
        """Tokens each label adds to its input: the marker and the label (fused layouts: the marker only)."""
        if self.arch == "bi-encoder":
            return [0] * len(labels)
        if self.arch == "bi-encoder-fused":
            return [1] * len(labels)
        ids = self.tokenizer(
            [f"{CLASS_TOKEN}{label}" for label in labels], add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]
        return [len(row) for row in ids]

    def _fits(self, enc: Encoded, label_ids: list[int] | None, policy: WindowPolicy) -> bool:
        if label_ids is not None and len(label_ids) > policy.max_length:
            return False
        return policy.max_length - enc.fixed_tokens >= policy.text_reserve(enc.text_tokens)

    def _encode_groups(
        self, request: Request, index: int, groups: list[list[str]]
    ) -> tuple[list[Encoded], list[list[int] | None]]:
        layouts, label_strings = zip(*(self._layouts(request, index, g) for g in groups), strict=True)
        return encode_layouts(self.tokenizer, layouts), self._tokenize_label_sides(list(label_strings))

    def _tokenize_label_sides(self, sides: list[str | None]) -> list[list[int] | None]:
        """Token ids of encoder-decoder label prompts (``None`` for architectures without one)."""
        if not sides or sides[0] is None:
            return [None] * len(sides)
        ids = self.tokenizer(sides, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [list(row) for row in ids]

    def _estimate_groups(self, enc: Encoded, label_ids: list[int] | None, num_labels: int, policy: WindowPolicy) -> int:
        """Groups needed if label tokens were all that grew with the label count (a lower bound)."""
        used = len(label_ids) if label_ids is not None else enc.fixed_tokens
        room = policy.max_length - policy.text_reserve(enc.text_tokens)
        return min(num_labels, math.ceil(used / max(room, 1)))


_PACK_RETRIES = 3


def _spans(n: int, count: int) -> list[range]:
    """Index ranges of ``split_evenly(range(n), count)``."""
    size, extra = divmod(n, count)
    spans, start = [], 0
    for g in range(count):
        stop = start + size + (g < extra)
        spans.append(range(start, stop))
        start = stop
    return spans


def split_evenly(labels: Sequence[str], count: int) -> list[list[str]]:
    """``count`` contiguous groups whose sizes differ by at most one (earlier groups are larger)."""
    size, extra = divmod(len(labels), count)
    groups, start = [], 0
    for g in range(count):
        stop = start + size + (g < extra)
        groups.append(list(labels[start:stop]))
        start = stop
    return groups
