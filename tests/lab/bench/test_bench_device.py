"""``--device`` of the speed benchmarks (issue 13 item 5): it reaches every model load and the official runner's
request, cuda without a GPU is a one-line error, and CPU-only fast modes are skipped with a note on cuda.

No GPU is needed: where a run would touch CUDA, the loads are replaced by fakes that record what they were asked.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from uniclass_lab import cli
from uniclass_lab.bench import common, efficiency, labels, official, official_runner
from uniclass_lab.bench.common import Timing

PARITY = Path(__file__).parents[2] / "fixtures" / "parity"


class _Stop(Exception):
    """Raised by a fake load once it has recorded its arguments: the rest of the run needs a GPU."""


@pytest.fixture
def no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def loads(monkeypatch):
    """``Classifier.from_pretrained`` replaced: records each call's keyword arguments, then stops the run."""
    from uniclass import classifier

    calls: list[dict] = []

    def from_pretrained(path, **kwargs):
        calls.append(kwargs)
        raise _Stop

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", staticmethod(from_pretrained))
    return calls


# ====================================================================== resolving the device
def test_cuda_without_a_gpu_is_a_one_line_error(no_gpu, capsys) -> None:
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        common.resolve_device("cuda")
    assert common.resolve_device("auto") == "cpu" and common.resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="--device must be one of"):
        common.resolve_device("tpu")
    for name in ("labels", "official", "efficiency"):
        assert cli.main(["bench", name, "--quick", "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("uniclass_lab: error: --device cuda:") and "\n" not in err


def test_every_bench_subcommand_takes_the_device_option() -> None:
    parser = cli._build_parser()
    for name in ("labels", "official", "efficiency"):
        assert parser.parse_args(["bench", name]).device == "cpu"  # default: no behaviour change
        assert parser.parse_args(["bench", name, "--device", "auto"]).device == "auto"
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", name, "--device", "tpu"])


def test_the_cpu_header_names_the_cpu_and_a_cuda_header_the_gpu() -> None:
    header = common.run_header(1)
    assert header["device"]["type"] == "cpu"
    assert "Device:" not in common.setup_lines(header)
    gpu = header | {"device": {"type": "cuda", "name": "NVIDIA H200", "capability": "9.0", "memory_gib": 139.8,
                               "cuda": "13.0"}}
    assert common.setup_lines(gpu).startswith("Device: NVIDIA H200 (compute capability 9.0, 139.8 GiB, CUDA 13.0)")


# ====================================================================== the device reaches the loads
def test_labels_loads_the_uni_encoder_on_the_device_in_its_precision(loads) -> None:
    setup = labels.LabelsSetup(model=None, backbone=None, models=("uni",), device="cuda", precision="bf16", prior=False)
    with pytest.raises(_Stop):
        labels.build_contenders(setup)
    assert loads == [{"device": "cuda", "max_length": 512, "precision": "bf16", "prior": False}]
    args = cli._build_parser().parse_args(["bench", "labels", "--device", "cuda", "--precision", "fp16", "--no-prior"])
    parsed = labels.setup_from_args(args)
    assert (parsed.device, parsed.precision, parsed.prior) == ("cuda", "fp16", False)
    assert labels.setup_from_args(cli._build_parser().parse_args(["bench", "labels"])).prior is True


def test_efficiency_loads_on_the_device_and_sizes_the_peak_for_it(loads) -> None:
    args = cli._build_parser().parse_args(["bench", "efficiency", "--precision", "fp16"])
    args.device = "cuda"  # what uniclass_lab.bench.cli.run leaves after resolving it
    setup = efficiency.setup_from_args(args)
    assert setup.device == "cuda" and setup.matmul_sizes == efficiency.CUDA_MATMUL_SIZES and setup.precision == "fp16"
    with pytest.raises(_Stop):
        efficiency.run(setup, "unused")
    assert loads[0]["device"] == "cuda" and loads[0]["precision"] == "fp16"
    cpu = efficiency.setup_from_args(cli._build_parser().parse_args(["bench", "efficiency"]))
    assert cpu.device == "cpu" and cpu.matmul_sizes == efficiency.DEFAULT_MATMUL_SIZES


def test_matmul_peak_on_the_cpu_still_measures_every_size() -> None:
    peak = efficiency.matmul_peak((8, 16), repeats=1, device="cpu")
    assert set(peak["gflops_by_size"]) == {"8", "16"} and peak["peak_gflops"] > 0
    assert set(efficiency.peaks((8,), "cpu")) == {"float32", "bfloat16"}
    assert efficiency.PEAK_DTYPES["cuda"] == ("float32", "bfloat16", "float16")


def _official_fakes(monkeypatch, tmp_path):
    """``official.run`` with every heavy part faked; returns what the fakes saw."""
    seen: dict = {"loads": [], "requests": []}
    texts = [{"text": f"text {i}", "source": "x"} for i in range(2)]
    monkeypatch.setattr(official, "dev_mix", lambda n, seed=0: texts)
    monkeypatch.setattr(official, "run_header", lambda threads, device="cpu", **kw: {"device": {"type": device}, **kw})
    monkeypatch.setattr(official, "describe_texts", lambda items, tokenizer: {"count": len(items)})
    monkeypatch.setattr(official, "render_markdown", lambda payload: "")

    def run_official(python, request, workdir):
        seen["requests"].append(request)
        n, k = len(request["texts"]), len(request["labels"])
        return {"timings_s": [1.0], "scores": [[0.5] * k] * n, "reference_scores": [[0.5] * k] * n,
                "versions": {}, "threads": 1}

    monkeypatch.setattr(official, "run_official", run_official)
    monkeypatch.setattr(official, "prepare_classifier", lambda clf, texts, labels, setup: None)
    monkeypatch.setattr(official, "time_round",
                        lambda clf, texts, labels, setup, clock: (Timing(len(texts), [0.5]), [[0.5] * len(labels)] * len(texts)))
    from uniclass import classifier

    def from_pretrained(path, **kwargs):
        seen["loads"].append(kwargs)
        return types.SimpleNamespace(calibration="fitted", tokenizer=None)

    monkeypatch.setattr(classifier.Classifier, "from_pretrained", staticmethod(from_pretrained))
    return seen


def test_official_passes_the_device_to_the_runner_and_to_uniclass_and_skips_int8_on_cuda(monkeypatch, tmp_path) -> None:
    seen = _official_fakes(monkeypatch, tmp_path)
    setup = official.OfficialSetup(model=None, python="unused", device="cuda", precisions=("bf16", "int8", "fp16"),
                                   repeats=1, warmup_texts=1)
    payload = official.run(setup, tmp_path)
    assert seen["requests"][0]["device"] == "cuda"
    assert [load["device"] for load in seen["loads"]] == ["cuda"] * 3
    assert [load.get("precision") for load in seen["loads"]] == [None, "bf16", "fp16"]  # no int8 load on cuda
    assert [row["name"] for row in payload["rows"]] == ["official gliclass (torch)", "uniclass torch",
                                                        "uniclass torch bf16", "uniclass torch fp16"]
    assert len(payload["precision_notes"]) == 1 and "int8" in payload["precision_notes"][0]
    assert "CPU only" in payload["precision_notes"][0]
    assert payload["onnx_note"].startswith("ONNX rows skipped") and "cuda" in payload["onnx_note"]
    assert payload["precision_notes"][0] in official.headline(payload)
    written = json.loads((tmp_path / "official.json").read_text())
    assert written["setup"]["device"] == "cuda"


def test_official_fast_modes_default_by_device() -> None:
    parser = cli._build_parser()
    assert official.setup_from_args(parser.parse_args(["bench", "official"])).precisions == ("bf16", "int8")
    args = parser.parse_args(["bench", "official"])
    args.device = "cuda"
    assert official.setup_from_args(args).precisions == ("bf16", "fp16")
    args = parser.parse_args(["bench", "official", "--precisions", "fp16, int8"])
    args.device = "cuda"
    assert official.setup_from_args(args).precisions == ("fp16", "int8")  # kept; int8 skipped at run time
    assert official.fast_modes(("bf16", "int8"), "cpu") == (("bf16", "int8"), [])
    kept, notes = official.fast_modes(("int8", "fp16"), "cuda")
    assert kept == ("fp16",) and len(notes) == 1 and notes[0].startswith("uniclass torch int8 skipped")


def test_official_request_carries_the_device() -> None:
    setup = official.OfficialSetup(model=None, device="cuda")
    request = official.official_request(setup, "ckpt", ["a"], ["x"], 1)
    assert request["device"] == "cuda" and set(official_runner.REQUIRED) <= set(request)


def test_runner_refuses_cuda_without_a_gpu_instead_of_falling_back() -> None:
    assert official_runner.pipeline_device("cpu", False) == "cpu"
    assert official_runner.pipeline_device("cuda", True) == "cuda:0"
    with pytest.raises(RuntimeError, match="sees no CUDA GPU"):
        official_runner.pipeline_device("cuda", False)
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        official_runner.pipeline_device("tpu", True)


# ====================================================================== the official environment's requirements
def test_official_requirements_come_from_the_option_then_the_variable(monkeypatch) -> None:
    monkeypatch.delenv(official.REQUIREMENTS_VAR, raising=False)
    assert official.official_requirements() == official.OFFICIAL_REQUIREMENTS
    monkeypatch.setenv(official.REQUIREMENTS_VAR, "--no-index --find-links .whl gliclass==0.1.21")
    assert official.official_requirements() == ("--no-index", "--find-links", ".whl", "gliclass==0.1.21")
    assert official.official_requirements("gliclass==0.1.21") == ("gliclass==0.1.21",)
    monkeypatch.setenv(official.SYSTEM_SITE_VAR, "1")
    args = cli._build_parser().parse_args(["bench", "official"])
    setup = official.setup_from_args(args)
    assert setup.requirements[-1] == "gliclass==0.1.21" and setup.system_site_packages is True


def test_official_env_is_made_with_the_requirements_and_remade_when_they_change(monkeypatch, tmp_path) -> None:
    commands: list[list[str]] = []

    def check_call(cmd, what):
        commands.append(cmd)
        if "venv" in cmd:
            python = official.env_python(cmd[-1])
            python.parent.mkdir(parents=True)
            python.write_text("")
        return '{"gliclass": "0.1.21"}'

    monkeypatch.setattr(official, "_check_call", check_call)
    env = tmp_path / "env"
    official.ensure_official_env(env, ("gliclass==0.1.21",), system_site_packages=True)
    assert "--system-site-packages" in commands[0] and commands[1][-1] == "gliclass==0.1.21"
    commands.clear()
    official.ensure_official_env(env, ("gliclass==0.1.21",))
    assert commands == []  # ready, same requirements
    official.ensure_official_env(env, official.OFFICIAL_REQUIREMENTS)
    assert len(commands) == 2 and commands[0][-len(official.OFFICIAL_REQUIREMENTS):] == list(official.OFFICIAL_REQUIREMENTS)
