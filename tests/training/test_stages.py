"""Multi-stage recipes: supervised -> RL -> LoRA+EWC end to end, chaining, skip on re-run, resume, CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import topic_items
from uniclass import Classifier
from uniclass.data.formats import write_jsonl
from uniclass.training import run_stages

pytestmark = pytest.mark.usefixtures("one_torch_thread")


PROBE = ["goal team won final", "bank shares price fund"]
LABELS = ["sports", "finance"]
COMMON = {"per_device_train_batch_size": 8, "save_steps": 2, "logging_steps": 2, "max_length": 64, "use_cpu": True}


def _recipe(tmp_path, tiny_backbone) -> tuple[dict, str]:
    """A three-stage recipe file whose data paths are relative to it."""
    folder = tmp_path / "recipe"
    folder.mkdir()
    write_jsonl(topic_items(24), folder / "pretrain.jsonl")
    write_jsonl(topic_items(16, seed=1), folder / "rl.jsonl")
    write_jsonl(topic_items(16, seed=2), folder / "post.jsonl")
    recipe = {
        "backbone": str(tiny_backbone),
        "options": {"pooling_strategy": "avg", "prompt_first": True},
        "stages": [
            {"name": "pretrain", "kind": "supervised", "train": "pretrain.jsonl",
             "args": {**COMMON, "max_steps": 4, "learning_rate": 3e-3, "disable_tqdm": True}},
            {"name": "rl", "kind": "rl", "train": "rl.jsonl", "args": {**COMMON, "max_steps": 4, "learning_rate": 5e-4}},
            {"name": "post", "kind": "supervised", "train": "post.jsonl", "lora": True, "ewc_previous": "pretrain.jsonl",
             "args": {**COMMON, "max_steps": 2, "learning_rate": 1e-3, "lora_r": 2, "ewc_lambda": 100.0, "ewc_samples": 8,
                      "disable_tqdm": True}},
        ],
    }
    path = folder / "recipe.json"
    path.write_text(json.dumps(recipe))
    return recipe, str(path)


def _scores(clf: Classifier) -> np.ndarray:
    return np.array(clf.scores(PROBE, LABELS))


def test_three_stages_chain_and_rerun_skips(tiny_backbone, tmp_path) -> None:
    _, path = _recipe(tmp_path, tiny_backbone)
    out = tmp_path / "out"
    starts: dict[str, np.ndarray] = {}
    summaries = run_stages(path, out, on_stage_start=lambda name, clf: starts.__setitem__(name, _scores(clf)))
    assert [(s["name"], s["skipped"], s["steps"]) for s in summaries] == [("pretrain", False, 4), ("rl", False, 4), ("post", False, 2)]
    finals = {name: Classifier.from_pretrained(out / name / "final", device="cpu") for name in ("pretrain", "rl", "post")}
    # each stage starts exactly where the previous one ended
    assert np.allclose(starts["rl"], _scores(finals["pretrain"]), atol=1e-6)
    assert np.allclose(starts["post"], _scores(finals["rl"]), atol=1e-6)
    # and each one trained: its final differs from its start
    assert not np.allclose(starts["rl"], _scores(finals["rl"]), atol=1e-6)
    assert not np.allclose(starts["post"], _scores(finals["post"]), atol=1e-6)
    # the LoRA stage's final is a plain merged checkpoint
    assert not any("lora_" in n or "base_layer" in n for n, _ in finals["post"].model.named_parameters())
    assert (out / "rl" / "checkpoint-4" / "rl_state.pt").is_file()
    stamp = (out / "post" / "final" / "model.safetensors").stat().st_mtime_ns

    called: list[str] = []
    again = run_stages(path, out, on_stage_start=lambda name, clf: called.append(name))
    assert [s["skipped"] for s in again] == [True, True, True] and called == []
    assert (out / "post" / "final" / "model.safetensors").stat().st_mtime_ns == stamp


def test_interrupted_stage_resumes_from_its_last_checkpoint(tiny_backbone, tmp_path) -> None:
    _, path = _recipe(tmp_path, tiny_backbone)
    out = tmp_path / "out"
    first = run_stages(path, out, until="rl")
    assert [s["name"] for s in first] == ["pretrain", "rl"]
    assert not (out / "post").exists()
    rl_final = _scores(Classifier.from_pretrained(out / "rl" / "final", device="cpu"))
    # simulate a crash of the RL stage after its step-2 checkpoint
    for name in ("final", "checkpoint-4", "stage.json"):
        target = out / "rl" / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    resumed = run_stages(path, out, until="rl")
    assert resumed[0]["skipped"] is True
    assert resumed[1]["skipped"] is False and resumed[1]["resumed_from"].endswith("checkpoint-2") and resumed[1]["steps"] == 4
    assert np.allclose(_scores(Classifier.from_pretrained(out / "rl" / "final", device="cpu")), rl_final, atol=1e-6)
    # the supervised stage resumes the same way (transformers' checkpoint + GLiClass weights)
    for name in ("final", "checkpoint-4", "stage.json"):
        target = out / "pretrain" / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    again = run_stages(path, out, until="pretrain")
    assert again[0]["resumed_from"].endswith("checkpoint-2") and again[0]["steps"] == 4


def test_recipe_validation(tiny_backbone, tmp_path) -> None:
    recipe, _ = _recipe(tmp_path, tiny_backbone)
    bad = [
        {**recipe, "model": "x"},  # both backbone and model
        {**recipe, "stages": []},
        {**recipe, "stagez": []},
        {**recipe, "stages": [recipe["stages"][0], recipe["stages"][0]]},  # duplicate names
        {**recipe, "stages": [{**recipe["stages"][2], "args": {"lora_r": 2}}]},  # ewc_previous without ewc_lambda
        {**recipe, "stages": [{**recipe["stages"][1], "kind": "dpo"}]},
        {**recipe, "stages": [{**recipe["stages"][1], "args": {"output_dir": "elsewhere"}}]},
    ]
    for config in bad:
        with pytest.raises(ValueError):
            run_stages(config, tmp_path / "never")
    with pytest.raises(ValueError, match="not a stage"):
        run_stages(recipe, tmp_path / "never", until="missing")


def test_cli_recipe_and_rl_stage(tiny_backbone, tmp_path, capsys) -> None:
    from uniclass.cli import main

    _, path = _recipe(tmp_path, tiny_backbone)
    out = tmp_path / "out"
    assert main(["train", "--recipe", path, "--out", str(out), "--stage", "pretrain"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()  # transformers prints its logs to stdout too
    assert json.loads(lines[-1]) == {"model": str(out / "pretrain" / "final"), "stages": ["pretrain"]}
    assert json.loads(lines[-2])["name"] == "pretrain" and json.loads(lines[-2])["steps"] == 4
    data = str(tmp_path / "recipe" / "rl.jsonl")
    rl_out = tmp_path / "rl-cli"
    assert main(["train", "--model", str(out / "pretrain" / "final"), "--train", data, "--out", str(rl_out), "--stage", "rl",
                 "--max-steps", "2", "--batch-size", "8", "--lr", "5e-4", "--kl-coef", "0.1", "--reward", "f1=1",
                 "--reward", "recall=0.5", "--save-steps", "2", "--max-length", "64"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and Classifier.from_pretrained(summary["model"], device="cpu").config.prompt_first is True
    assert (rl_out / "checkpoint-2" / "rl_state.pt").is_file()
    assert main(["train", "--model", "m", "--train", data, "--out", str(rl_out), "--stage", "nope"]) == 2
    assert main(["train", "--out", str(rl_out)]) == 2
