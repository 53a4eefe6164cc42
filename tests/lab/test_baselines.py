"""The one NLI baseline's entailment class, repository-relative result paths and the official env location."""

from __future__ import annotations

from pathlib import Path

from uniclass_lab.bench import official
from uniclass_lab.baselines import entailment_index
from uniclass_lab.bench.common import repo_relative, repo_relative_paths


def test_entailment_index_as_the_pipeline_finds_it() -> None:
    assert entailment_index({"not_entailment": 0, "entailment": 1}, 2) == 1  # benchmarks/train_nli.py's model
    assert entailment_index({"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}, 3) == 2  # unnamed MNLI-order head
    assert entailment_index({"ENTAILMENT": 0, "neutral": 1, "contradiction": 2}, 3) == 0


def test_repo_relative_inside_and_outside_a_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    model = repo / "src" / "m"
    model.mkdir(parents=True)
    assert repo_relative(model) == "src/m"
    outside = tmp_path / "elsewhere"
    assert repo_relative(outside) == str(outside)
    record = {"start": str(model), "rows": [{"model": str(model)}], "n": 3, "text": "not / a path"}
    assert repo_relative_paths(record) == {"start": "src/m", "rows": [{"model": "src/m"}], "n": 3, "text": "not / a path"}


def test_official_env_defaults_to_the_uniclass_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("UNICLASS_CACHE", str(tmp_path))
    assert official.default_env() == tmp_path / "bench-envs" / "official"
    assert official.OfficialSetup(model=None).env is None  # resolved at run time, never a folder under runs/
