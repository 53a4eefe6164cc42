"""`uniclass train`: new model from a backbone, checkpoints, resume, final model loads; contrastive term runs."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass.data.formats import write_jsonl


def test_train_command_and_resume(tiny_backbone, tmp_path, capsys) -> None:
    from uniclass.cli import main

    data = write_jsonl(topic_items(32), tmp_path / "train.jsonl")
    out = tmp_path / "run"
    common = ["train", "--backbone", str(tiny_backbone), "--train", str(data), "--eval", str(data), "--out", str(out),
              "--batch-size", "8", "--lr", "1e-3", "--save-steps", "4", "--eval-steps", "4", "--logging-steps", "2",
              "--option", "pooling_strategy=avg", "--option", "prompt_first=true", "--max-length", "64"]
    assert main([*common, "--max-steps", "4"]) == 0
    assert (out / "checkpoint-4" / "config.json").is_file()
    assert main([*common, "--max-steps", "8", "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 8
    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "loss" in h][0] == 2  # history carried over from the first run
    assert any("eval_loss" in h for h in state["log_history"])
    final = Classifier.from_pretrained(summary["model"])
    assert final.config.pooling_strategy == "avg" and final.config.prompt_first is True
    assert len(final.scores("goal", ["sports", "finance"])) == 2


def test_train_command_reports_bad_data(tiny_backbone, tmp_path, capsys) -> None:
    from uniclass.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "all_labels": ["a"], "true_labels": ["b"]}\n')
    assert main(["train", "--backbone", str(tiny_backbone), "--train", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:1" in capsys.readouterr().err


GOOD_LINE = '{"text": "goal", "all_labels": ["sports", "finance"], "true_labels": ["sports"]}\n'


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"", "train.jsonl: no items"),  # was torch's "num_samples should be a positive integer value"
        (GOOD_LINE.encode() + b"\xff\xfe\n", "train.jsonl:2: not UTF-8 text (byte 0xff)"),  # named no file
        # a typo'd key read as "'true_labels' must be a list of labels"
        (GOOD_LINE.encode() + b'{"text": "x", "all_labels": ["a"], "true_label": []}', "jsonl:2: no 'true_labels'"),
        (
            GOOD_LINE.encode() + b'{"text": "x", "all_labels": ["a"], "true_labels": [], "examples": [{"text": "e"}]}',
            "train.jsonl:2: examples[0] has no 'labels'",
        ),
    ],
)
def test_train_command_reports_a_bad_file_in_one_line(tiny_backbone, tmp_path, capsys, content, named) -> None:
    from uniclass.cli import main

    data = tmp_path / "train.jsonl"
    data.write_bytes(content)
    command = ["train", "--backbone", str(tiny_backbone), "--train", str(data), "--out", str(tmp_path / "o")]
    assert main(command) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("uniclass: error")]
    assert len(errors) == 1 and named in errors[0] and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "0"], "batch size must be an int >= 1, got 0"),
        (["--lr", "nan"], "learning_rate must be a finite number >= 0, got nan"),
        (["--epochs", "0"], "nothing to train"),
        (["--stage", "rl", "--batch-size", "0"], "batch size must be an int >= 1, got 0"),
    ],
)
def test_train_command_refuses_a_bad_schedule_in_one_line(tiny_backbone, tmp_path, capsys, options, message) -> None:
    from uniclass.cli import main

    data = write_jsonl(topic_items(4), tmp_path / "train.jsonl")
    command = ["train", "--backbone", str(tiny_backbone), "--train", str(data), "--out", str(tmp_path / "o"), *options]
    assert main(command) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("uniclass: error")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err, err


def test_a_table_is_refused_as_training_data(tmp_path) -> None:
    from uniclass.data.formats import DataFormatError, load_examples

    (tmp_path / "train.csv").write_text("text,label\ngoal,sports\n")
    with pytest.raises(DataFormatError, match=r"train\.csv: training and evaluation files are JSON or JSONL"):
        load_examples(tmp_path / "train.csv")  # was "train.csv:1: invalid JSON (Expecting value)"


def test_contrastive_term_is_added(tiny_backbone, tmp_path) -> None:
    from uniclass.training import Trainer, TrainingArguments

    torch.manual_seed(0)
    clf = Classifier.from_backbone(tiny_backbone, pooling_strategy="avg")
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, save_strategy="no",
                             use_cpu=True, contrastive_coef=0.5, disable_tqdm=True)
    trainer = Trainer(clf, args, train_data=topic_items(4))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    clf.model.eval()  # no dropout: both losses see the same forward pass
    with_term = trainer.compute_loss(clf.model, batch).item()
    trainer.args.contrastive_coef = 0.0
    without = trainer.compute_loss(clf.model, batch).item()
    assert with_term > without


def test_train_without_model_fine_tunes_the_bundled_model(tmp_path, monkeypatch, capsys) -> None:
    """`uniclass train --train X --out Y` starts from the bundled model (as classify does), not an error."""
    from uniclass.classifier import Classifier
    from uniclass.cli import main

    asked: list[object] = []

    def fake(cls, name=None, **kwargs):
        asked.append(name)
        raise ValueError("stop here")

    monkeypatch.setattr(Classifier, "from_pretrained", classmethod(fake))
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "a", "all_labels": ["x", "y"], "true_labels": ["x"]}\n')
    assert main(["train", "--train", str(data), "--out", str(tmp_path / "out")]) == 2
    assert asked == [None] and "stop here" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--train", "{bad}"], "bad.jsonl:2: examples[0] has no 'labels'"),
        (["--train", "{good}", "--eval", "{bad}"], "bad.jsonl:2: examples[0] has no 'labels'"),
        (["--train", "{good}", "--ewc-previous", "{bad}", "--ewc-lambda", "1"], "bad.jsonl:2: examples[0] has no"),
        (["--train", "{bad}", "--stage", "rl"], "bad.jsonl:2: examples[0] has no 'labels'"),
        (["--train", "{bad}", "--backbone", "some-backbone"], "bad.jsonl:2: examples[0] has no 'labels'"),
    ],
)
def test_train_command_reads_the_files_before_loading_the_model(tmp_path, monkeypatch, capsys, flags, named) -> None:
    """A malformed file is reported at once: the model (a slow load) is not touched."""
    from uniclass.classifier import Classifier
    from uniclass.cli import main

    def no_load(cls, *args, **kwargs):
        raise AssertionError("the model was loaded before the data was read")

    monkeypatch.setattr(Classifier, "from_pretrained", classmethod(no_load))
    monkeypatch.setattr(Classifier, "from_backbone", classmethod(no_load))
    good = tmp_path / "good.jsonl"
    good.write_text(GOOD_LINE)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(GOOD_LINE + '{"text": "x", "all_labels": ["a"], "true_labels": [], "examples": [{"text": "e"}]}\n')
    command = ["train", *(flag.format(good=good, bad=bad) for flag in flags), "--out", str(tmp_path / "o")]
    assert main(command) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("uniclass: error")]
    assert len(errors) == 1 and named in errors[0] and "Traceback" not in err, err


def test_a_bad_training_file_is_reported_before_torch_and_transformers_load(tmp_path) -> None:
    """Importing the training stack takes seconds; a malformed file is reported without it."""
    import subprocess
    import sys

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "all_labels": ["a"], "true_label": ["a"]}\n')
    script = (
        "import sys; from uniclass.cli import main; "
        f"code = main(['train', '--train', {str(bad)!r}, '--out', {str(tmp_path / 'o')!r}]); "
        "print(code, sorted(m for m in ('torch', 'transformers', 'uniclass.training') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "2 []", run.stdout + run.stderr
    assert "bad.jsonl:1: no 'true_labels'" in run.stderr
