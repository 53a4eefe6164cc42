"""What both training loops share (training/core.py, args.GLiClassArguments, GLiClassModel.param_groups)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from uniclass.data.formats import Example
from uniclass.training import RLTrainingArguments, TrainingArguments
from uniclass.training.args import GLiClassArguments
from uniclass.training.core import build_augmenter, find_checkpoints

PARITY = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
EXAMPLES = [Example("a goal", ("sports", "finance"), (1.0, 0.0)), Example("shares fell", ("sports", "finance"), (0.0, 1.0))]


def test_both_argument_classes_share_the_gliclass_fields() -> None:
    shared = {f.name for f in dataclasses.fields(GLiClassArguments)}
    assert shared <= {f.name for f in dataclasses.fields(TrainingArguments)}
    assert shared <= {f.name for f in dataclasses.fields(RLTrainingArguments)}
    assert RLTrainingArguments("out").head_learning_rate == 3 * RLTrainingArguments("out").learning_rate


def test_rl_augmenter_gets_label_descriptions_and_synonyms(tmp_path) -> None:
    """The RL loop used to build its augmenter without the description and synonym options."""
    path = tmp_path / "descriptions.json"
    path.write_text(json.dumps([{"label": "sports", "descriptions": ["games"], "synonyms": ["athletics"]}]))
    args = RLTrainingArguments(str(tmp_path), label_descriptions_file=str(path), add_descriptions_prob=0.5,
                               synonyms_prob=0.25, seed=3)
    augmenter = build_augmenter(EXAMPLES, args)
    assert augmenter.label_descriptions["sports"]["synonyms"] == ["athletics"]
    assert (augmenter.add_descriptions_prob, augmenter.synonyms_prob, augmenter.seed) == (0.5, 0.25, 3)


def test_checkpoint_discovery_is_numeric_and_needs_the_marker(tmp_path) -> None:
    for step, complete in ((2, True), (10, True), (7, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert [p.name for p in find_checkpoints(tmp_path, "trainer_state.json")] == ["checkpoint-2", "checkpoint-10"]


def test_param_groups_split_encoder_and_head() -> None:
    from uniclass import Classifier

    model = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu").model
    groups = model.param_groups(learning_rate=1.0, head_learning_rate=3.0, weight_decay=0.1, head_weight_decay=0.2)
    by_setting = {(g["lr"], g["weight_decay"]): len(g["params"]) for g in groups}
    assert set(by_setting) == {(1.0, 0.1), (1.0, 0.0), (3.0, 0.2), (3.0, 0.0)}
    assert sum(by_setting.values()) == sum(1 for p in model.parameters() if p.requires_grad)
