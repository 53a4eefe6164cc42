"""Structured decisions (abstain, exclusive groups, min/max labels, hierarchy) on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from uniclass.decisions import (
    DecisionRules,
    ancestor_paths,
    check_rules_against,
    decide,
    make_rules,
    node_scores,
    tree_of,
)
from uniclass.postprocessing import select
from uniclass.processing import build_label_tree, flatten_label_tree, label_tree_from_paths

LABELS = ["positive", "negative", "neutral", "battery", "screen"]
SCORES = np.array([0.40, 0.45, 0.10, 0.80, 0.20])


def labels_of(result):
    return [r["label"] for r in result]


def run(rules: DecisionRules, scores=SCORES, multi_label=True, threshold=0.5, top_k=None, labels=LABELS, tree=None):
    return decide(labels, np.asarray(scores), multi_label=multi_label, threshold=threshold, top_k=top_k, rules=rules,
                  tree=tree)


def test_no_rules_is_plain_select() -> None:
    for multi in (True, False):
        assert run(DecisionRules(), multi_label=multi) == select(LABELS, SCORES, multi_label=multi, threshold=0.5, top_k=None)


def test_abstain_is_a_floor_in_both_modes() -> None:
    assert labels_of(run(make_rules(abstain=0.9))) == []  # nothing reaches 0.9: "none of these"
    assert labels_of(run(make_rules(abstain=0.3), threshold=0.0)) == ["battery", "negative", "positive"]
    softmax = np.array([0.30, 0.25, 0.25, 0.10, 0.10])
    assert labels_of(run(make_rules(abstain=0.35), scores=softmax, multi_label=False)) == []
    assert labels_of(run(make_rules(abstain=0.3), scores=softmax, multi_label=False)) == ["positive"]


def test_exclusive_group_keeps_the_best_and_forces_one() -> None:
    sentiment = [["positive", "negative", "neutral"]]
    # below the threshold: the group's best is forced in (exactly one of these)
    assert labels_of(run(make_rules(groups=sentiment))) == ["battery", "negative"]
    # several above the threshold: only the best of the group survives
    assert labels_of(run(make_rules(groups=sentiment), threshold=0.0)) == ["battery", "negative", "screen"]
    # abstain beats the forcing
    assert labels_of(run(make_rules(groups=sentiment, abstain=0.5))) == ["battery"]


def test_min_and_max_labels() -> None:
    assert labels_of(run(make_rules(min_labels=3))) == ["battery", "negative", "positive"]
    assert labels_of(run(make_rules(max_labels=1), threshold=0.0)) == ["battery"]
    # min_labels never adds a second label of an exclusive group
    got = run(make_rules(min_labels=4, groups=[["positive", "negative", "neutral"]]))
    assert labels_of(got) == ["battery", "negative", "screen"]
    assert labels_of(run(make_rules(min_labels=2, abstain=0.5))) == ["battery"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_labels": 3, "max_labels": 2}, "larger than max_labels"),
        ({"max_labels": 0}, "max_labels must be >= 1"),
        ({"min_labels": -1}, "min_labels must be an int"),
        ({"abstain": 1.5}, "outside"),
        ({"groups": [["a"]]}, "at least 2"),
        ({"groups": [["a", "a"]]}, "twice"),
        ({"groups": "a,b"}, "list of label lists"),
        ({"groups": [["a", 3]]}, "str labels"),
        ({"abstain": "high"}, "abstain must be"),
    ],
)
def test_bad_options_raise(options, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make_rules(**options)


def test_unknown_group_label_and_hierarchy_without_tree() -> None:
    with pytest.raises(ValueError, match="'happy', which is not among labels"):
        check_rules_against(make_rules(groups=[["positive", "happy"]]), LABELS, None)
    with pytest.raises(ValueError, match="hierarchical labels"):
        check_rules_against(make_rules(hierarchy=True), LABELS, None)


TREE = {"sentiment": ["positive", "negative"], "topic": {"device": ["battery", "screen"], "U.S.": ["politics"]}}
FLAT = flatten_label_tree(TREE)
TREE_SCORES = np.array([0.2, 0.7, 0.9, 0.3, 0.6])  # per FLAT label


def test_ancestors_come_from_the_tree_not_the_dots() -> None:
    paths = ancestor_paths(TREE)
    assert paths["topic.U.S..politics"] == ["topic", "topic.U.S."]
    assert paths["sentiment.positive"] == ["sentiment"]
    inner = node_scores(TREE, FLAT, TREE_SCORES)
    assert inner == {"sentiment": 0.7, "topic": 0.9, "topic.device": 0.9, "topic.U.S.": 0.6}


def test_hierarchy_brings_parents_with_consistent_scores() -> None:
    got = run(make_rules(hierarchy=True), scores=TREE_SCORES, labels=FLAT, tree=TREE)
    assert labels_of(got) == ["topic", "topic.device", "topic.device.battery", "sentiment", "sentiment.negative",
                              "topic.U.S.", "topic.U.S..politics"]
    score = {r["label"]: r["score"] for r in got}
    for label, above in ancestor_paths(TREE).items():
        for parent in above:
            if label in score:
                assert parent in score and score[parent] >= score[label]
    # ancestors are not counted by max_labels
    capped = run(make_rules(hierarchy=True, max_labels=1), scores=TREE_SCORES, labels=FLAT, tree=TREE)
    assert labels_of(capped) == ["topic", "topic.device", "topic.device.battery"]


def test_tree_output_never_contradicts_itself() -> None:
    kept = run(make_rules(hierarchy=True), scores=TREE_SCORES, labels=FLAT, tree=TREE)
    tree = tree_of(kept, TREE)
    assert list(tree) == ["sentiment", "topic"]  # the input's order
    assert tree["sentiment"] == {"score": 0.7, "children": {"negative": {"score": 0.7}}}

    def check(node, ceiling):
        for child in node.values():
            assert child["score"] <= ceiling
            check(child.get("children", {}), child["score"])

    check(tree, 1.0)
    assert tree_of([], TREE) == {}


# ---------------------------------------------------------------- through Classifier.classify
TEXT = "The new phone has a great battery but the screen scratches easily."


@pytest.fixture(scope="module")
def clf(parity_classifier):
    return parity_classifier("uni_bert_default")


def test_classify_applies_the_rules(clf) -> None:
    scores = dict(zip(LABELS, clf.scores(TEXT, LABELS)))
    group = ["positive", "negative", "neutral"]
    got = clf.classify(TEXT, LABELS, threshold=0.0, groups=[group])
    assert sum(r["label"] in group for r in got) == 1
    assert max(group, key=scores.get) in labels_of(got)
    assert clf.classify(TEXT, LABELS, abstain=1.0) == []
    assert clf.classify(TEXT, LABELS, multi_label=False, abstain=1.0) == []
    assert len(clf.classify(TEXT, LABELS, threshold=1.0, min_labels=2)) == 2
    assert len(clf.classify(TEXT, LABELS, threshold=0.0, max_labels=2)) == 2


def test_classify_rejects_bad_rules_before_model_work(clf, monkeypatch) -> None:
    monkeypatch.setattr(clf.engine, "run", lambda *a, **k: pytest.fail("the model ran"))
    with pytest.raises(ValueError, match="'happy', which is not among labels"):
        clf.classify(TEXT, LABELS, groups=[["positive", "happy"]])
    with pytest.raises(ValueError, match="labels of texts\\[1\\]"):
        clf.classify([TEXT, TEXT], [LABELS, ["battery", "screen"]], groups=[["positive", "negative"]])
    with pytest.raises(ValueError, match="larger than max_labels"):
        clf.classify(TEXT, LABELS, min_labels=2, max_labels=1)
    with pytest.raises(ValueError, match="hierarchical labels"):
        clf.classify(TEXT, LABELS, hierarchy=True)


def test_classify_tree_labels(clf) -> None:
    flat_scores = dict(zip(FLAT, clf.scores(TEXT, FLAT)))
    got = clf.classify(TEXT, TREE, threshold=0.0, hierarchy=True)
    score = {r["label"]: r["score"] for r in got}
    assert score["topic"] == pytest.approx(max(v for k, v in flat_scores.items() if k.startswith("topic.")))
    assert score["sentiment"] >= score["sentiment.positive"]
    tree = clf.classify(TEXT, TREE, threshold=0.0, as_tree=True)
    assert tree["topic"]["children"]["device"]["children"]["battery"]["score"] == pytest.approx(flat_scores["topic.device.battery"])
    groups = clf.classify(TEXT, TREE, threshold=0.0, as_tree=True, groups=[["sentiment.positive", "sentiment.negative"]])
    assert len(groups["sentiment"]["children"]) == 1
    assert clf.classify([TEXT], TREE, abstain=1.0, as_tree=True) == [{}]


# ---------------------------------------------------------------- dotted labels -> a tree (CLI, server, page)
MIXED = ["news", "sport.football", "sport.tennis", "finance.markets.stocks", "finance.bonds"]


def test_dotted_labels_make_a_tree_that_flattens_back() -> None:
    tree = label_tree_from_paths(MIXED)
    assert tree == {"news": None, "sport": {"football": None, "tennis": None},
                    "finance": {"markets": {"stocks": None}, "bonds": None}}
    assert flatten_label_tree(tree) == MIXED
    assert label_tree_from_paths([" sport . football "]) == {"sport": {"football": None}}
    assert ancestor_paths(tree)["news"] == [] and ancestor_paths(tree)["finance.markets.stocks"] == ["finance", "finance.markets"]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["sport", "sport.football"], "'sport' is also the parent of 'sport.football'"),
        (["sport.football", "sport"], "'sport' is also the parent of other labels"),
        (["a.b", "a.b"], "given twice"),
        (["a..b"], "empty level"),
        (["a."], "empty level"),
    ],
)
def test_dotted_labels_that_are_not_a_tree(paths: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        label_tree_from_paths(paths)


def test_hierarchy_with_labels_at_every_level() -> None:
    tree = label_tree_from_paths(MIXED)
    flat = flatten_label_tree(tree)
    scores = np.array([0.8, 0.6, 0.1, 0.7, 0.2])
    got = run(make_rules(hierarchy=True), scores=scores, labels=flat, tree=tree)
    assert labels_of(got) == ["news", "finance", "finance.markets", "finance.markets.stocks", "sport", "sport.football"]
    assert tree_of(got, tree) == {
        "news": {"score": 0.8},
        "sport": {"score": 0.6, "children": {"football": {"score": 0.6}}},
        "finance": {"score": 0.7, "children": {"markets": {"score": 0.7, "children": {"stocks": {"score": 0.7}}}}},
    }
    assert build_label_tree(tree, dict(zip(flat, scores))) == {
        "news": 0.8, "sport": {"football": 0.6, "tennis": 0.1}, "finance": {"markets": {"stocks": 0.7}, "bonds": 0.2}}
