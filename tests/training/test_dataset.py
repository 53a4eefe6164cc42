"""Augmentation draws fresh copies: shuffled labels, sampled negatives, examples; the data never changes."""

from __future__ import annotations

from uniclass.data.formats import load_examples
from uniclass.training.dataset import LabelAugmenter, TrainingDataset

ITEMS = [
    {"text": f"text {i}", "all_labels": [f"l{i}", f"m{i}", "shared"], "true_labels": [f"l{i}", "shared"]} for i in range(6)
]


def test_shuffle_keeps_targets_aligned_and_data_intact() -> None:
    examples = load_examples(ITEMS)
    frozen = [(e.all_labels, e.targets) for e in examples]
    dataset = TrainingDataset(examples, LabelAugmenter(examples, shuffle_labels=True, seed=1))
    orders = set()
    for _ in range(20):
        item = dataset[0]
        truth = dict(zip(item["labels"], item["targets"]))
        assert truth == {"l0": 1.0, "m0": 0.0, "shared": 1.0}
        orders.add(tuple(item["labels"]))
    assert len(orders) > 1  # reshuffled on every draw
    assert [(e.all_labels, e.targets) for e in examples] == frozen


def test_epoch_keyed_draws_are_reproducible_and_new_each_epoch() -> None:
    """After set_epoch an item's draw depends only on (seed, epoch, index): a resumed run reads the same items."""
    examples = load_examples(ITEMS)
    frozen = [(e.all_labels, e.targets) for e in examples]

    def dataset(seed: int = 1) -> TrainingDataset:
        return TrainingDataset(examples, LabelAugmenter(examples, shuffle_labels=True, negatives_per_item=2, seed=seed))

    first = dataset()
    draws = {}
    for epoch in range(8):
        first.set_epoch(epoch)
        draws[epoch] = [first[i] for i in range(len(ITEMS))]
    fresh = dataset()  # as in a resumed process: no earlier draws, items read in another order
    for epoch in (5, 3, 0):
        fresh.set_epoch(epoch)
        assert [fresh[i] for i in reversed(range(len(ITEMS)))] == draws[epoch][::-1]
        assert fresh[0] == draws[epoch][0]  # a second read in the same epoch is the same draw
    # every epoch draws anew: the order changes, and so do the sampled negatives (the label set)
    assert len({tuple(draws[e][0]["labels"]) for e in draws}) > 1
    assert len({frozenset(draws[e][0]["labels"]) for e in draws}) > 1
    other_seed = dataset(seed=2)
    other_seed.set_epoch(0)
    assert [other_seed[i] for i in range(len(ITEMS))] != draws[0]
    for epoch_draws in draws.values():
        for i, item in enumerate(epoch_draws):
            assert {label for label, t in zip(item["labels"], item["targets"]) if t} == set(examples[i].true_labels)
    assert [(e.all_labels, e.targets) for e in examples] == frozen


def test_negatives_come_from_the_pool_and_are_new() -> None:
    examples = load_examples(ITEMS)
    augmenter = LabelAugmenter(examples, shuffle_labels=False, negatives_per_item=2, seed=0)
    item = augmenter(0)
    extra = item["labels"][3:]
    assert len(extra) == 2 and not set(extra) & {"l0", "m0", "shared"}
    assert all(label in augmenter.label_pool for label in extra) and item["targets"][3:] == [0.0, 0.0]


def test_examples_share_a_label_and_removal_keeps_positives() -> None:
    examples = load_examples(ITEMS)
    augmenter = LabelAugmenter(examples, shuffle_labels=False, add_examples_prob=1.0, remove_labels_prob=1.0, seed=0)
    item = augmenter(2)
    assert item["examples"] and all("shared" in e["labels"] for e in item["examples"])
    assert all(e["text"] != "text 2" for e in item["examples"])
    assert {"l2", "shared"} <= set(item["labels"])


def test_collator_drops_negatives_that_do_not_fit(parity_classifier) -> None:
    """Too many labels for the training window: negatives go, positives and the layout stay."""
    from uniclass.training.collator import Collator

    clf = parity_classifier("uni_bert_default")
    collator = Collator(clf.config, clf.tokenizer, max_length=24)
    labels = ["sports", "finance", "science", "health care", "politics", "travel and food", "question",
              "customer complaint", "business and finance", "world news"]
    item = {"text": "a long text " * 20, "labels": labels, "targets": [0.0, 0.0, 1.0] + [0.0] * 7}
    batch = collator([item])
    kept = int(batch["label_mask"].sum())
    assert 1 <= kept < len(labels) and batch["input_ids"].shape[1] <= 24
    assert batch["targets"][0, :kept].tolist().count(1.0) == 1


def test_label_descriptions_and_synonyms(tmp_path) -> None:
    """Official description/synonym augmentations, driven by the official JSON file format."""
    import json

    from uniclass.training.dataset import load_label_descriptions

    path = tmp_path / "descriptions.json"
    path.write_text(json.dumps([{"label": "shared", "descriptions": ["common to all"], "synonyms": ["common"]}]))
    descriptions = load_label_descriptions(path)
    examples = load_examples(ITEMS)
    augmenter = LabelAugmenter(examples, shuffle_labels=False, label_descriptions=descriptions,
                               add_descriptions_prob=1.0, synonyms_prob=1.0, seed=0)
    item = augmenter(1)
    assert "shared: common to all" in item["text"] and "text 1" in item["text"]
    assert item["labels"] == ["l1", "m1", "common"] and item["targets"] == [1.0, 0.0, 1.0]
    assert examples[1].text == "text 1"  # the data itself is untouched


def test_an_empty_text_is_never_drawn_as_a_few_shot_example(tiny_backbone) -> None:
    """Few-shot examples refuse an empty text, so drawing one would stop training at that batch."""
    from transformers import AutoTokenizer

    from uniclass.config import GLiClassConfig
    from uniclass.training.collator import Collator

    rows = [{"text": "", "all_labels": ["shared"], "true_labels": ["shared"]}, *ITEMS[:2]]
    examples = load_examples(rows)
    augmenter = LabelAugmenter(examples, shuffle_labels=False, add_examples_prob=1.0, seed=0)
    drawn = [augmenter(i, epoch)["examples"] for epoch in range(10) for i in range(3)]
    assert all(e["text"] for group in drawn for e in group) and any(drawn)
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    tokenizer.add_tokens(["<<LABEL>>", "<<SEP>>", "<<EXAMPLE>>"], special_tokens=True)
    config = GLiClassConfig(class_token_index=len(tokenizer) - 3, text_token_index=len(tokenizer) - 2)
    Collator(config, tokenizer, max_length=64)([augmenter(0, 0)])  # the empty text itself still trains
