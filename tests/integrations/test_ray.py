"""The Ray Data job on a local Ray instance: Parquet and JSONL in, a pool of actors, Parquet out; every output
row equals Classifier.classify for its text. One Ray start for the module, a few dozen rows.

Skipped only when Ray is not installed and UNICLASS_REQUIRE_RAY is unset (.ci/run sets it, so CI fails
instead of skipping)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import ray
    import ray.data
except ImportError:
    if os.environ.get("UNICLASS_REQUIRE_RAY"):
        raise
    pytest.skip("Ray is not installed (pip install 'uniclass[ray]'); UNICLASS_REQUIRE_RAY=1 makes this an error",
                allow_module_level=True)

pd = pytest.importorskip("pandas")

from tests.conftest import PARITY
from uniclass.cli import main
from uniclass.integrations import Predictor
from uniclass.integrations.ray import classify_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = PARITY / "uni_bert_default"
LABELS = ["sports", "finance", "politics"]
WORDS = ["the team won the final", "shares fell after the call", "the senate passed the bill", "rain all week",
         "the striker scored twice", "bank rates rose again"]
TEXTS = [f"{WORDS[i % len(WORDS)]} ({i})" for i in range(24)]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """2 logical CPUs, no dashboard; few read blocks so a few dozen rows do not become dozens of tasks."""
    for attempt in (1, 2):
        try:
            ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
            break
        except Exception as err:  # Ray gives its raylet a fixed 30 s to start: too short on a busy machine
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(err):
                raise
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.read_op_min_num_blocks = 2
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")


# Scores equal classify's up to float noise: actors run other batch sizes, so other padding (as in the server tests).
TOLERANCE = 1e-5


def read_output(folder: Path) -> Any:
    files = sorted(folder.glob("*.parquet"))
    assert files, f"no Parquet files in {folder}"
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("id", ignore_index=True)


def test_parquet_folder_with_a_pool_of_two_actors(local_ray: None, clf: Any, tmp_path: Path) -> None:
    source = tmp_path / "in"  # a folder of files
    source.mkdir()
    frame = pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS})
    half = len(TEXTS) // 2
    frame[:half].to_parquet(source / "part-0.parquet")
    frame[half:].to_parquet(source / "part-1.parquet")
    out = tmp_path / "out"
    # 2 actors x 0.5 CPU leave 1 of the 2 CPUs for the read and write tasks; 4 blocks give both actors work.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = classify_dataset(source, out, LABELS, model=MODEL, num_actors=2, num_cpus_per_actor=0.5,
                                  num_blocks=4, rows_per_batch=6, batch_size=4, return_scores=True, device="cpu")
    assert not [w for w in caught if "won't fully utilize" in str(w.message)]  # Ray's "only 1 input" warning
    assert result == str(out)
    frame = read_output(out)
    assert frame["id"].tolist() == list(range(len(TEXTS))) and frame["text"].tolist() == TEXTS
    want = clf.classify(TEXTS, LABELS, multi_label=False)
    assert frame["label"].tolist() == [w[0]["label"] for w in want]
    assert frame["score"].tolist() == pytest.approx([w[0]["score"] for w in want], abs=TOLERANCE)
    scores = [list(row) for row in frame["scores"]]
    assert scores == [pytest.approx(row, abs=TOLERANCE) for row in clf.scores(TEXTS, LABELS, multi_label=False)]


def test_cli_engine_ray_over_jsonl(local_ray: None, clf: Any, tmp_path: Path, capsys: Any) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["classify", "--engine", "ray", "--input", str(source), "--output", str(out), "--text-column", "body",
                 "--labels", ",".join(LABELS), "--multi-label", "--threshold", "0.3", "--model", str(MODEL),
                 "--num-actors", "1", "--chunk-size", "8", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"output": str(out)}
    frame = read_output(out)
    want = clf.classify(TEXTS, LABELS, multi_label=True, threshold=0.3)
    assert [list(labels) for labels in frame["label"]] == [[r["label"] for r in w] for w in want]
    for got, w in zip(frame["score"], want, strict=True):
        assert list(got) == pytest.approx([r["score"] for r in w], abs=TOLERANCE)


@pytest.mark.parametrize("batch_format", ["numpy", "pandas"])
def test_predictor_in_a_users_map_batches(local_ray: None, clf: Any, batch_format: str) -> None:
    """The Predictor class as is, in map_batches with the older concurrency= form, numpy or pandas batches."""
    texts = TEXTS[:10]
    options = {"model": str(MODEL), "labels": LABELS, "multi_label": True, "threshold": 0.3, "return_scores": True,
               "device": "cpu"}
    dataset = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # concurrency= is deprecated in favour of compute=
        scored = dataset.map_batches(Predictor, fn_constructor_kwargs=options, concurrency=1, batch_size=4,
                                     batch_format=batch_format)
        rows = sorted(scored.take_all(), key=lambda row: row["id"])
    want = clf.classify(texts, LABELS, multi_label=True, threshold=0.3)
    assert [list(row["label"]) for row in rows] == [[r["label"] for r in w] for w in want]
    for row, w in zip(rows, want, strict=True):
        assert list(row["score"]) == pytest.approx([r["score"] for r in w], abs=TOLERANCE)
    every = clf.scores(texts, LABELS, multi_label=True)
    assert [list(row["scores"]) for row in rows] == [pytest.approx(s, abs=TOLERANCE) for s in every]


def test_refusals_before_any_work(local_ray: None, tmp_path: Path, capsys: Any) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"text": ["a"]}).to_parquet(source)
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not empty"):
        classify_dataset(source, full, LABELS, model=MODEL)
    with pytest.raises(ValueError, match="leave less than 1 of the cluster's 2 CPUs"):
        classify_dataset(source, tmp_path / "o1", LABELS, model=MODEL, num_actors=2)
    with pytest.raises(ValueError, match="cannot tell the format"):
        classify_dataset(tmp_path / "in.csv", tmp_path / "o2", LABELS, model=MODEL)
    with pytest.raises(ValueError, match="repeated"):
        classify_dataset(source, tmp_path / "o3", ["a", "a"], model=MODEL)

    def cli_error(*argv: str) -> str:
        assert main(["classify", "--labels", "a,b", *argv]) == 2
        return capsys.readouterr().err

    assert "--engine ray needs --input" in cli_error("--engine", "ray", "--output", str(tmp_path / "o4"))
    assert "does not support --resume" in cli_error("--engine", "ray", "--input", str(source), "--output",
                                                    str(tmp_path / "o5"), "--resume")
    assert "--num-actors needs --engine ray" in cli_error("--num-actors", "2", "some text")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o4").exists()


def test_cli_engine_ray_with_shortlist(local_ray: None, tmp_path: Path, capsys: Any) -> None:
    """--shortlist K --retriever model reach every actor's Predictor: each row picks among its K candidates."""
    from uniclass import Classifier

    many = [*LABELS, "weather", "music", "cooking", "travel", "science"]
    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": range(8), "text": TEXTS[:8]}).to_parquet(source)
    out = tmp_path / "out"
    code = main(["classify", "--engine", "ray", "--input", str(source), "--output", str(out), "--labels", ",".join(many),
                 "--single-label", "--shortlist", "3", "--retriever", "model", "--model", str(MODEL), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    frame = read_output(out)
    clf = Classifier.from_pretrained(MODEL, device="cpu")
    clf.shortlist_retriever = "model"
    want = clf.classify(TEXTS[:8], many, multi_label=False, shortlist=3)
    assert list(frame["label"]) == [w[0]["label"] for w in want]
    assert list(frame["score"]) == pytest.approx([w[0]["score"] for w in want], abs=TOLERANCE)
