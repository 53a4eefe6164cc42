"""The pure helpers of ``python -m uniclass_lab bench``: timing loop logic (with a fake clock), batch recording, result files."""

from __future__ import annotations

import json

import pytest
import torch

from uniclass_lab.bench.common import (
    BatchRecorder,
    BatchShape,
    Timing,
    machine_info,
    markdown_table,
    measure,
    measure_recorded,
    setup_lines,
    summarize_batches,
    versions,
    write_results,
)


class FakeClock:
    """Each call to ``fn`` advances time by ``step`` seconds; no real time is measured."""

    def __init__(self, step: float):
        self.now, self.step, self.calls = 0.0, step, 0

    def __call__(self) -> float:
        return self.now

    def fn(self) -> None:
        self.calls += 1
        self.now += self.step


def test_measure_runs_warmup_then_at_least_repeats_calls() -> None:
    clock = FakeClock(0.5)
    timing = measure(clock.fn, items=10, repeats=3, min_time=0.0, warmup=2, clock=clock)
    assert clock.calls == 5  # 2 untimed + 3 timed
    assert timing.seconds == [0.5, 0.5, 0.5]
    assert timing.per_second == pytest.approx(20.0)


def test_measure_keeps_calling_until_min_time() -> None:
    clock = FakeClock(0.25)
    timing = measure(clock.fn, items=1, repeats=1, min_time=1.0, warmup=0, clock=clock)
    assert len(timing.seconds) == 4
    capped = measure(FakeClock(0.0).fn, items=1, repeats=1, min_time=1.0, warmup=0, max_calls=7, clock=FakeClock(0.0))
    assert len(capped.seconds) == 7  # a call that takes no time cannot loop forever


def test_timing_uses_the_median_call() -> None:
    timing = Timing(items=4, seconds=[1.0, 9.0, 2.0])
    assert timing.median_s == 2.0 and timing.per_second == 2.0
    assert timing.as_dict()["calls"] == 3
    with pytest.raises(ValueError):
        measure(lambda: None, items=1, repeats=0)


class Echo(torch.nn.Module):
    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return batch["input_ids"].float()


def test_batch_recorder_reads_shapes_from_model_inputs() -> None:
    module, recorder = Echo(), BatchRecorder()
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    with recorder.attach(module):
        module(input_ids=torch.zeros(2, 4, dtype=torch.long), attention_mask=mask, slot_counts=torch.tensor([3, 5]))
    module(input_ids=torch.zeros(1, 1, dtype=torch.long))  # after the block: not recorded
    assert len(recorder.batches) == 1
    shape = recorder.batches[0]
    assert (shape.rows, shape.seq_len, shape.real_tokens, shape.label_slots) == (2, 4, 5, 5)
    assert shape.forward_s >= 0.0
    summary = summarize_batches(recorder.batches)
    assert summary["padded_tokens"] == 8 and summary["real_tokens"] == 5 and summary["padding_fraction"] == 0.375
    with pytest.raises(TypeError, match="torch module"), recorder.attach(object()):
        pass


def test_measure_recorded_separates_warmup_shapes_from_timed_calls() -> None:
    module = Echo()
    calls = []

    def fn() -> None:
        calls.append(1)
        module(input_ids=torch.zeros(3, 2, dtype=torch.long), attention_mask=torch.ones(3, 2, dtype=torch.long))

    shapes, timing, forward_s = measure_recorded(fn, module, items=3, repeats=2)
    assert len(calls) == 3 and len(shapes) == 1 and len(timing.seconds) == 2
    assert shapes[0] == BatchShape(3, 2, 6, 0, shapes[0].forward_s)
    assert forward_s >= 0.0


def test_markdown_table_and_result_files(tmp_path) -> None:
    table = markdown_table(["model", "texts/s", "diff"], [["a", 12.3456, 2.5e-7], ["b", None, 1234.5]])
    assert table.splitlines() == [
        "| model | texts/s | diff |",
        "|---|---|---|",
        "| a | 12.346 | 2.50e-07 |",
        "| b | - | 1234.5 |",
    ]
    with pytest.raises(ValueError, match="2 cells for 3 headers"):
        markdown_table(["a", "b", "c"], [[1, 2]])
    paths = write_results(tmp_path / "out", "demo", {"x": 1, "shape": BatchShape(1, 2, 2), "path": tmp_path}, table)
    assert json.loads(paths["json"].read_text())["shape"]["seq_len"] == 2
    assert paths["md"].read_text() == table


def test_machine_and_versions_describe_the_run() -> None:
    machine = machine_info()
    assert {"cpu_model", "logical_cores", "usable_cores", "load_average_1_5_15"} <= set(machine)
    assert versions()["torch"] is not None
    header = {"command": "uniclass bench x", "machine": machine, "versions": versions(), "threads": 2,
              "git_commit": None, "quick": True}
    text = setup_lines(header)
    assert "not a measurement" in text and "Threads: 2" in text


def test_torch_module_finds_the_model_behind_a_classifier() -> None:
    from types import SimpleNamespace

    from uniclass_lab.bench.common import torch_module

    module = Echo()
    assert torch_module(SimpleNamespace(model=module)) is module
    assert torch_module(SimpleNamespace(model=None, backend=SimpleNamespace(model=module))) is module
    with pytest.raises(TypeError, match="torch backend"):
        torch_module(SimpleNamespace(model="an onnx session", backend=SimpleNamespace()))

    class OnnxLike:
        backend = SimpleNamespace(session="onnx")

        @property
        def model(self):
            raise NotImplementedError("clf.model needs the torch backend")

    with pytest.raises(TypeError, match="torch backend"):
        torch_module(OnnxLike())
