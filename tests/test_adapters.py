"""LoRA adapters chosen per text: a mixed batch gives each text exactly what its adapter's merged model gives alone."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from tests.conftest import PARITY

TEXTS = ["The striker scored twice in the derby", "Shares fell after the earnings call", "The lease ends in May",
         "A new phone with a bigger battery", "Parliament passed the budget", "The recipe needs two eggs"]
LABELS = ["sports", "finance", "law", "technology", "politics", "food"]
REFERENCE: list = []  # a classifier without adapters: adapters are made from it and merged into copies of it


def close(ours, expected, atol: float) -> None:
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), atol=atol, rtol=0)


def make_adapter(clf, folder, seed: int, *, r: int = 4, targets=("query", "value", "dense"), **extra) -> None:
    """A PEFT LoRA adapter of the text encoder with random (non-zero) B, as after training."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    encoder = copy.deepcopy(clf.model.model.encoder_model)
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets), init_lora_weights=False, **extra)
    peft_encoder = get_peft_model(encoder, config)
    with torch.no_grad():
        for name, param in peft_encoder.named_parameters():
            if "lora_" in name:
                param.mul_(0.5)  # strong enough to move the scores, small enough to keep them off 0 and 1
    peft_encoder.save_pretrained(str(folder), save_embedding_layers=False)


def merged_scores(clf, folder, texts, multi_label=True) -> list[list[float]]:
    """The reference: the adapter merged into a copy of the model (peft), scored alone."""
    from peft import PeftModel

    from uniclass import Classifier

    clf = REFERENCE[0]
    model = copy.deepcopy(clf.model)
    model.model.encoder_model = PeftModel.from_pretrained(model.model.encoder_model, str(folder)).merge_and_unload()
    merged = Classifier(model, clf.tokenizer, clf.label_tokenizer, max_length=clf.max_length)
    return merged.scores(texts, LABELS, multi_label=multi_label)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    from uniclass import Classifier

    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    REFERENCE.append(Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu"))  # never gets adapters
    base = clf.scores(TEXTS, LABELS)
    folders = {}
    for i, (name, extra) in enumerate([("a", {}), ("b", {"r": 8}), ("c", {"targets": ("query",)}),
                                       ("d", {"use_rslora": True})]):
        folders[name] = tmp_path_factory.mktemp(f"adapter-{name}")
        make_adapter(REFERENCE[0], folders[name], seed=i, **extra)
        clf.load_adapter(folders[name], name=name)
    return clf, folders, base


def test_adapters_are_listed(adapters):
    clf, _folders, _ = adapters
    assert clf.adapters == ["a", "b", "c", "d"]


def test_base_model_unchanged_after_loading(adapters):
    clf, _, base = adapters
    assert clf.scores(TEXTS, LABELS) == base  # bit for bit: the wrapped layers add nothing without adapter=
    assert clf.scores(TEXTS, LABELS, adapter=None) == base
    assert clf.scores(TEXTS, LABELS, adapter="__base__") == base  # the official server's base-model id


def test_one_adapter_for_all_equals_its_merged_model(adapters):
    clf, folders, base = adapters
    ours = clf.scores(TEXTS, LABELS, adapter="b")
    assert ours != base  # the adapter does something
    close(ours, merged_scores(clf, folders["b"], TEXTS), 1e-5)


@pytest.mark.parametrize("multi_label", [True, False])
def test_mixed_batch_equals_each_merged_model_alone(adapters, multi_label):
    clf, folders, _base = adapters
    per_text = ["a", None, "b", "c", "d", "a"]
    ours = clf.scores(TEXTS, LABELS, adapter=per_text, multi_label=multi_label, batch_size=32)
    for i, name in enumerate(per_text):
        if name is None:
            expected = clf.scores([TEXTS[i]], LABELS, multi_label=multi_label)[0]
        else:
            expected = merged_scores(clf, folders[name], [TEXTS[i]], multi_label)[0]
        close(ours[i], expected, 1e-5)


def test_classify_and_predict_take_adapter(adapters):
    clf, folders, _ = adapters
    top = clf.classify(TEXTS[0], LABELS, adapter="a", multi_label=False)
    merged = merged_scores(clf, folders["a"], [TEXTS[0]], multi_label=False)[0]
    assert top[0]["label"] == LABELS[max(range(len(LABELS)), key=merged.__getitem__)]
    close(clf.predict(TEXTS[:2], LABELS, adapter=["a", "b"])[1].scores, merged_scores(clf, folders["b"], [TEXTS[1]])[0], 1e-5)


def test_bad_adapter_arguments(adapters):
    clf, folders, _ = adapters
    with pytest.raises(ValueError, match="unknown adapter 'zz'.*loaded: a, b, c, d"):
        clf.scores(TEXTS, LABELS, adapter="zz")
    with pytest.raises(ValueError, match="adapter has 2 entries but there are 6 texts"):
        clf.scores(TEXTS, LABELS, adapter=["a", "b"])
    with pytest.raises(ValueError, match="loaded already"):
        clf.load_adapter(folders["a"], name="a")
    with pytest.raises(ValueError, match="adapter name must be"):
        clf.load_adapter(folders["a"], name="bad name!")
    with pytest.raises(ValueError, match="reserved for the base model"):
        clf.load_adapter(folders["a"], name="__base__")
    with pytest.raises(ValueError, match="label_order='given'"):
        clf.scores(TEXTS, LABELS, adapter="a", label_order="permutations")


def test_refused_adapter_folders(adapters, tmp_path):
    clf, folders, _ = adapters
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        clf.load_adapter(tmp_path, name="x")
    for change, message in [({"use_dora": True}, "DoRA"), ({"modules_to_save": ["pooler"]}, "modules_to_save"),
                            ({"bias": "all"}, "bias")]:
        bad = tmp_path / message
        bad.mkdir()
        config = json.loads((folders["a"] / "adapter_config.json").read_text())
        (bad / "adapter_config.json").write_text(json.dumps({**config, **change}))
        (bad / "adapter_model.safetensors").write_bytes((folders["a"] / "adapter_model.safetensors").read_bytes())
        with pytest.raises(ValueError, match=message):
            clf.load_adapter(bad, name="x")
    assert "x" not in clf.adapters


def test_unload_and_save_keep_official_weights(adapters, tmp_path):
    from uniclass import Classifier

    clf, folders, base = adapters
    names = set(clf.model.state_dict())
    assert not any(".base." in n or n.endswith((".A", ".B")) for n in names)  # official names, adapters not saved
    clf.save_pretrained(tmp_path / "saved")
    close(Classifier.from_pretrained(tmp_path / "saved", device="cpu").scores(TEXTS, LABELS), base, 1e-6)
    clf.unload_adapter("d")
    assert clf.adapters == ["a", "b", "c"]
    close(clf.scores(TEXTS, LABELS, adapter="c"), merged_scores(clf, folders["c"], TEXTS), 1e-5)
    clf.load_adapter(folders["d"], name="d")


def test_save_adapter_after_lora_training_round_trips(tmp_path):
    """save_adapter writes what load_adapter reads: the trained encoder LoRA, scored as when it was enabled."""
    from uniclass import Classifier

    trained = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu")
    trained.enable_lora(r=4, alpha=8, dropout=0.0, target_modules=["query", "value"])
    with torch.no_grad():
        for name, param in trained.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)  # as if trained
    expected = trained.scores(TEXTS, LABELS)
    trained.save_adapter(tmp_path / "trained")
    clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu").load_adapter(tmp_path / "trained")
    assert clf.adapters == ["trained"]
    close(clf.scores(TEXTS, LABELS, adapter="trained"), expected, 1e-5)


def test_cli_adapter_option(adapters, tmp_path, capsys):
    """``uniclass classify --adapter NAME=PATH`` scores with the adapter, as the library does."""
    from uniclass.cli import main

    clf, folders, _ = adapters
    out = tmp_path / "out.jsonl"
    assert main(["classify", *TEXTS[:2], "--labels", ",".join(LABELS), "--model", str(PARITY / "uni_bert_default"),
                 "--device", "cpu", "--threshold", "0", "--adapter", f"legal={folders['a']}", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = merged_scores(clf, folders["a"], TEXTS[:2])
    for row, scores in zip(rows, expected, strict=True):
        got = {item["label"]: item["score"] for item in row["labels"]}
        close([got[label] for label in LABELS], scores, 1e-5)
    capsys.readouterr()
    assert main(["classify", "x", "--labels", "a,b", "--model", str(PARITY / "uni_bert_default"), "--device", "cpu",
                 "--adapter", str(tmp_path / "missing")]) == 2
    assert "--adapter: " in capsys.readouterr().err  # one line, exit code 2
