"""``python -m uniclass_lab bench official``: the runner's JSON contract, the comparison rows, the ONNX skip, and one real
runner subprocess (this environment's interpreter has gliclass from the test extra) on a tiny checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from uniclass_lab.bench import official, official_runner
from uniclass_lab.bench.common import Timing

PARITY = Path(__file__).parents[2] / "fixtures" / "parity"
LABELS = ["sports", "finance"]


def _result(**overrides):
    result = {"runner_version": 1, "versions": {"gliclass": "0.1.21"}, "threads": 2, "dtype": "float32", "load_s": 1.0,
              "timings_s": [2.0, 1.0, 3.0], "scores": [[0.1, 0.9], [0.5, 0.5]], "reference_scores": [[0.1, 0.8]]}
    return result | overrides


def test_parse_runner_result_checks_shapes() -> None:
    assert official.parse_runner_result(_result(), 2, LABELS, 1)["threads"] == 2
    with pytest.raises(ValueError, match="lacks 'scores'"):
        official.parse_runner_result({k: v for k, v in _result().items() if k != "scores"}, 2, LABELS, 1)
    with pytest.raises(ValueError, match="expected 2 rows of 2"):
        official.parse_runner_result(_result(scores=[[0.1]]), 2, LABELS, 1)
    with pytest.raises(ValueError, match="reference_scores"):
        official.parse_runner_result(_result(), 2, LABELS, 2)
    with pytest.raises(ValueError, match="positive"):
        official.parse_runner_result(_result(timings_s=[]), 2, LABELS, 1)


def test_runner_reads_official_results_in_label_order(tmp_path) -> None:
    results = [[{"label": "sports", "score": 0.2}, {"label": "finance", "score": 0.7}]]
    assert official_runner.scores_in_label_order(results, LABELS) == [[0.2, 0.7]]
    with pytest.raises(ValueError, match="every label in order"):
        official_runner.scores_in_label_order([list(reversed(results[0]))], LABELS)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"checkpoint": "x", "texts": []}))
    with pytest.raises(ValueError, match="lacks labels, threads"):
        official_runner.load_request(request)


def _row(seconds, scores, batches=None):
    """A uniclass row of one round per list in ``seconds`` (2 texts per pass)."""
    return official.RowRounds([Timing(2, list(s)) for s in seconds], scores, batches)


def test_comparison_rows_and_verdicts() -> None:
    result = _result()
    ours = {"uniclass torch": _row([[0.25]], [[0.1, 0.8], [0.5, 0.6]])}
    rows = official.comparison_rows([result | {"batch_shapes": [[2, 7]]}], 2, ours)
    assert rows[0]["batches"]["padded_tokens"] == 14 and rows[1]["batches"] is None
    assert rows[0]["name"] == "official gliclass (torch)" and rows[0]["texts_per_s"] == 1.0  # 2 texts / median 2 s
    assert rows[0]["max_abs_diff_vs_official_per_text"] == pytest.approx(0.1)  # its own padding effect
    assert rows[1]["speedup"] == 8.0 and rows[1]["speedup_rounds"] == [8.0]
    assert rows[1]["max_abs_diff_vs_official_batched"] == pytest.approx(0.1)
    assert rows[1]["max_abs_diff_vs_official_per_text"] == 0.0  # only the first text has a reference
    lines = official.verdicts(rows)
    assert "8.00x (paired, 8.00-8.00x over 1 round) -> met" in lines[0] and "not measured" in lines[1]
    assert any("within 1e-05 of official (per-text)" in line and "-> met" in line for line in lines)


def test_speedup_is_the_median_of_per_round_ratios_not_a_ratio_of_medians() -> None:
    """Round 2 ran on a machine 3x slower for both sides: each round's ratio is 2, whatever the drift."""
    officials = [_result(timings_s=[2.0, 2.0]), _result(timings_s=[6.0, 6.0], reference_scores=[]),
                 _result(timings_s=[2.2, 1.8], reference_scores=[], scores=[[0.3, 0.9], [0.5, 0.5]])]
    ours = {"uniclass torch": _row([[1.0, 1.0], [3.0, 3.0], [1.0, 1.0]], [[0.3, 0.9], [0.5, 0.5]])}
    rows = official.comparison_rows(officials, 2, ours)
    assert rows[1]["speedup_rounds"] == pytest.approx([2.0, 2.0, 2.0]) and rows[1]["speedup"] == pytest.approx(2.0)
    # texts/s is texts / the median of all passes of all rounds (unpaired)
    assert rows[1]["texts_per_s"] == 2.0 and rows[0]["texts_per_s"] == pytest.approx(2 / 2.1)
    assert rows[1]["timing"]["calls"] == 6 and len(rows[1]["timing_rounds"]) == 3
    assert rows[0]["speedup_rounds"] == [1.0, 1.0, 1.0]
    # batched scores of the last round, per-text reference of the first
    assert rows[1]["max_abs_diff_vs_official_batched"] == 0.0
    assert rows[1]["max_abs_diff_vs_official_per_text"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="3 official rounds but 2"):
        official.comparison_rows(officials, 2, {"uniclass torch": _row([[1.0], [1.0]], [[0.1, 0.9]] * 2)})


def test_fast_mode_rows_report_their_agreement_with_fp32() -> None:
    result = _result()
    ours = {"uniclass torch": _row([[0.25]], [[0.1, 0.8], [0.5, 0.6]]),
            "uniclass torch bf16": _row([[0.05]], [[0.12, 0.79], [0.61, 0.6]])}
    rows = official.comparison_rows([result], 2, ours)
    fast = rows[2]
    assert fast["speedup"] == 40.0
    assert fast["argmax_agreement_vs_uniclass_fp32"] == 0.5  # the second text's top label flipped
    assert fast["max_abs_diff_vs_uniclass_fp32"] == pytest.approx(0.11)
    assert rows[1]["argmax_agreement_vs_uniclass_fp32"] == 1.0
    lines = official.verdicts(rows)
    assert "uniclass torch bf16 >= 6x official: 40.00x (paired, 40.00-40.00x over 1 round) -> met." in lines
    assert "uniclass torch bf16 keeps >= 99.5% of the fp32 argmax decisions: 50.0% -> NOT met." in lines
    assert "uniclass torch int8 >= 8x official: not measured." in lines


class _Clock:
    """A fake ``perf_counter``: the fake classifiers advance it by what their passes would cost."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _paired_fakes(monkeypatch, slowdowns, ours_slowdowns=None):
    """``official.run`` with a fake runner and fake classifiers on a machine whose speed in round i is
    ``1 / slowdowns[i]`` (for uniclass ``1 / ours_slowdowns[i]`` when given, else the same); returns the clock
    and a log of what ran, in order."""
    from uniclass import classifier

    clock, log, state = _Clock(), {"events": [], "requests": [], "loads": []}, {"slow": 1.0}
    items = [{"text": f"text {i}", "source": "x"} for i in range(4)]
    monkeypatch.setattr(official, "dev_mix", lambda n, seed=0: items)
    monkeypatch.setattr(official, "describe_texts", lambda items, tokenizer: {
        "count": len(items), "by_source": {"x": len(items)}, "tokens_min": 2, "tokens_max": 2, "tokens_mean": 2.0})

    def run_official(python, request, workdir):
        i = len(log["requests"])
        state["slow"] = (ours_slowdowns or slowdowns)[i]
        log["requests"].append(request)
        log["events"].append("official")
        n, k, repeats = len(request["texts"]), len(request["labels"]), request["repeats"]
        timings = [s * 2.0 * slowdowns[i] for s in (1.1, 0.9, 1.0)[:repeats]]  # per-pass noise, median 2 s x slow
        return {"timings_s": timings, "scores": [[0.5] * k] * n,
                "reference_scores": [[0.5] * k] * request["reference_texts"], "threads": 2, "dtype": "float32",
                "versions": {"gliclass": "0.1.21", "torch": "t", "transformers": "tf"}, "batch_shapes": [[n, 8]]}

    class FakeClassifier:
        tokenizer = None
        calibration = "fitted"

        def __init__(self, name: str, per_text_s: float) -> None:
            self.name, self.per_text_s = name, per_text_s

        def scores(self, texts, labels, batch_size):
            clock.now += self.per_text_s * len(texts) * state["slow"]
            if len(texts) == 4:
                log["events"].append(self.name)
            return [[0.5] * len(labels)] * len(texts)

    def from_pretrained(path, **kwargs):
        log["loads"].append(kwargs.get("precision"))
        precision = kwargs.get("precision")
        return FakeClassifier(" ".join(filter(None, ["uniclass torch", precision])), 0.25 if precision is None else 0.0625)

    monkeypatch.setattr(official, "run_official", run_official)
    monkeypatch.setattr(classifier.Classifier, "from_pretrained", staticmethod(from_pretrained))
    return clock, log


def test_rounds_interleave_both_sides_and_pair_the_speedup(monkeypatch, tmp_path) -> None:
    """Both sides slow down 2x in round 2 (and 1.5x in round 3): every round gives the same paired speed-up."""
    clock, log = _paired_fakes(monkeypatch, [1.0, 2.0, 1.5])
    setup = official.OfficialSetup(model=None, python="unused", texts=4, repeats=3, rounds=3, warmup_texts=1,
                                   onnx=False, precisions=("bf16",))
    payload = official.run(setup, tmp_path, clock=clock)
    assert log["loads"] == [None, "bf16"]  # loaded once, kept across the rounds
    round_events = ["official"] + ["uniclass torch"] * 3 + ["uniclass torch bf16"] * 3
    assert log["events"] == round_events * 3  # the official side once, then every row right after it
    assert [r["reference_texts"] for r in log["requests"]] == [4, 0, 0]  # per-text reference in round 1 only
    by_name = {row["name"]: row for row in payload["rows"]}
    fp32, bf16 = by_name["uniclass torch"], by_name["uniclass torch bf16"]
    assert fp32["speedup_rounds"] == pytest.approx([2.0, 2.0, 2.0]) and fp32["speedup"] == pytest.approx(2.0)
    assert bf16["speedup_rounds"] == pytest.approx([8.0, 8.0, 8.0]) and bf16["speedup"] == pytest.approx(8.0)
    assert fp32["timing"]["calls"] == 9 and fp32["texts_per_s"] == pytest.approx(4 / 1.5)  # median of all passes
    assert payload["official"]["timings_s_rounds"][1] == pytest.approx([4.4, 3.6, 4.0])
    assert len(payload["official"]["timings_s"]) == 9 and payload["official"]["rounds"] == 3
    assert len(payload["official"]["reference_scores"]) == 4
    assert "uniclass torch >= 3x official: 2.00x (paired, 2.00-2.00x over 3 rounds) -> NOT met." in payload["verdicts"]
    written = json.loads((tmp_path / "official.json").read_text())
    assert written["setup"]["rounds"] == 3 and written["rows"][1]["speedup_rounds"] == pytest.approx([2.0] * 3)
    markdown = (tmp_path / "official.md").read_text()
    assert "| implementation | texts/s | vs official (paired, median of rounds) | speed-up range (min-max over rounds) |" in markdown
    assert "| uniclass torch bf16 | 10.667 | 8.00x | 8.00-8.00x |" in markdown
    assert "paired and interleaved" in markdown and "median of the per-round ratios" in markdown
    assert "3 round(s) of 3 timed pass(es)" in markdown


def test_round_ratios_spread_when_only_one_side_slows_down(monkeypatch, tmp_path) -> None:
    """The range column shows a round where the machine changed between the two sides: in round 2 the official
    runner saw a 2x slower machine than uniclass did right after it."""
    clock, log = _paired_fakes(monkeypatch, [1.0, 2.0], ours_slowdowns=[1.0, 1.0])
    setup = official.OfficialSetup(model=None, python="unused", texts=4, repeats=1, rounds=2, warmup_texts=0,
                                   onnx=False, precisions=())
    payload = official.run(setup, tmp_path, clock=clock)
    assert log["events"] == ["official", "uniclass torch"] * 2
    row = payload["rows"][1]
    assert row["speedup_rounds"] == pytest.approx([2.2, 4.4]) and row["speedup"] == pytest.approx(3.3)
    assert "| uniclass torch | 4.000 | 3.30x | 2.20-4.40x |" in (tmp_path / "official.md").read_text()
    assert "(paired, 2.20-4.40x over 2 rounds)" in payload["verdicts"][0]


def test_rounds_option() -> None:
    from uniclass_lab import cli

    parser = cli._build_parser()
    default = official.setup_from_args(parser.parse_args(["bench", "official"]))
    assert (default.rounds, default.repeats) == (5, 1)  # one pass per side per round: the rounds give the median
    assert official.setup_from_args(parser.parse_args(["bench", "official", "--quick"])).rounds == 1
    assert official.setup_from_args(parser.parse_args(["bench", "official", "--quick", "--rounds", "4"])).rounds == 4
    with pytest.raises(ValueError, match="--rounds"):
        official.setup_from_args(parser.parse_args(["bench", "official", "--rounds", "0"]))
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        official.paired_rounds(official.OfficialSetup(model=None, rounds=0), lambda i: {}, {}, ["a"], ["x"])


def test_onnx_rows_are_skipped_with_a_note_when_the_backend_is_missing(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "uniclass.exporters.onnx", None)  # import raises ImportError
    setup = official.OfficialSetup(model=None)
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", setup, tmp_path)
    assert models == {} and note.startswith("ONNX rows skipped")
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", official.OfficialSetup(model=None, onnx=False), tmp_path)
    assert models == {} and "--no-onnx" in note


def test_env_python_path() -> None:
    assert official.env_python("envs/x").as_posix().endswith(("envs/x/bin/python", "envs/x/Scripts/python.exe"))


def test_runner_subprocess_matches_uniclass_per_text(tmp_path) -> None:
    """The real runner, with this interpreter (gliclass is a test dependency), on the tiny parity checkpoint."""
    pytest.importorskip("gliclass")
    from uniclass import Classifier

    checkpoint = PARITY / "uni_bert_default"
    texts = ["The striker scored twice", "Shares fell after the earnings call, and the bank cut its forecast", "ok"]
    request = {"checkpoint": str(checkpoint), "texts": texts, "labels": LABELS, "threads": 1, "batch_size": 2,
               "max_length": 64, "repeats": 2, "warmup_texts": 1, "reference_texts": 2}
    result = official.run_official(sys.executable, request, tmp_path)
    assert len(result["timings_s"]) == 2 and result["threads"] == 1 and result["dtype"] == "float32"
    assert [rows for rows, _ in result["batch_shapes"]] == [2, 1]  # one pass, batch size 2, in the given order
    assert result["versions"]["gliclass"]
    ours = Classifier.from_pretrained(checkpoint, device="cpu", max_length=64).scores(texts, LABELS)
    assert official.max_abs_diff(ours, result["reference_scores"]) < 1e-5
    # this checkpoint pools the first token, so the official batched scores are the same computation too
    assert official.max_abs_diff(ours, result["scores"]) < 1e-5


def test_onnx_rows_use_the_export_api(monkeypatch, tmp_path) -> None:
    """The ONNX rows call ``export_onnx(path, out_dir, quantize=True)`` and load fp32 and int8 with the threads."""
    import types

    from uniclass import classifier

    calls = []
    fake = types.ModuleType("uniclass.exporters.onnx")
    fake.export_onnx = lambda model, out_dir, quantize: calls.append(("export", model, Path(out_dir), quantize))
    monkeypatch.setitem(sys.modules, "uniclass.exporters.onnx", fake)

    def from_pretrained(path, **kwargs):
        calls.append(("load", Path(path), kwargs))
        return types.SimpleNamespace(name=f"clf-{kwargs['quantized']}", calibration="fitted")

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", staticmethod(from_pretrained))
    setup = official.OfficialSetup(model=None, threads=3, max_length=128)
    models, note = official.onnx_classifiers(PARITY / "uni_bert_default", setup, tmp_path)
    assert note is None and {k: m.name for k, m in models.items()} == {"uniclass ONNX fp32": "clf-False",
                                                                       "uniclass ONNX int8": "clf-True"}
    assert all(m.calibration is None for m in models.values())  # raw scores, as the official package's
    export_dir = tmp_path / "onnx-export"
    assert calls[0] == ("export", str(PARITY / "uni_bert_default"), export_dir, True)
    assert calls[1] == ("load", export_dir, {"backend": "onnx", "quantized": False, "num_threads": 3, "max_length": 128,
                                         "prior": False})
    assert calls[2][2]["quantized"] is True
