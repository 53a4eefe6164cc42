"""The ONNX path classifies with torch and transformers genuinely absent.

A subprocess runs ``python -I -S`` (no site-packages, no PYTHONPATH, no user site) whose ``sys.path`` holds only
``src/`` and a folder of symlinks to what ``pip install "uniclass[onnx]"`` installs: the base dependencies
(numpy, tokenizers, safetensors, huggingface_hub, tqdm) and onnxruntime, with their requirements (read from the
installed package metadata). It checks that torch and transformers cannot be imported there, loads exported models with
``backend="onnx"`` and prints their scores, which must equal the torch scores computed here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import PARITY
from tests.backends.onnx_helpers import exported_fixture, ref  # noqa: F401 (fixture)

SRC = Path(__file__).resolve().parents[2] / "src"
# what `pip install "uniclass[onnx]"` brings: the base dependencies and onnxruntime, with their own requirements
ONNX_INSTALL = ["numpy", "tokenizers", "safetensors", "huggingface_hub", "tqdm", "onnxruntime"]
LABELS = ref.LABELS_8
PER_TEXT = ref.PER_TEXT_LABELS

CHILD = r"""
import json, sys
args = json.loads(sys.argv[1])
sys.path[:0] = [args["src"], args["site"]]
out = {}
for name in ("torch", "transformers"):
    try:
        __import__(name)
        out[name] = "importable"
    except ImportError:
        out[name] = "absent"
from uniclass import Classifier
try:
    Classifier.from_pretrained(args["uni"])
    out["default_backend"] = "loaded"
except ImportError as err:
    out["default_backend"] = str(err)
for key in ("uni", "bi"):
    clf = Classifier.from_pretrained(args[key], backend="onnx", num_threads=1)
    out[key] = {"shared": clf.scores(args["texts"], args["labels"], batch_size=3),
                "per_text": clf.scores(args["texts"], args["per_text"], batch_size=2),
                "classify": clf.classify(args["texts"][0], args["labels"], threshold=0.0, top_k=2)}
from uniclass.backends.onnx_runtime import verify_export
out["verify"] = verify_export(args["uni"])["summary"]["max_abs_logit_diff"]
from uniclass.cli import main
try:
    main(["export", "onnx", "--help"])
except SystemExit as exit:
    out["cli_help"] = exit.code
out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "onnx", "peft", "accelerate"))
print(json.dumps(out))
"""


def _requirement_closure(roots: list[str]) -> set[str]:
    """Distributions installed for ``roots`` and, recursively, their unconditional requirements."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        try:
            requirements = distribution(name).requires or []
        except PackageNotFoundError:  # an optional platform dependency that is not installed here
            continue
        seen.add(name)
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(requirement.name)
    return seen


def _site_of_links(folder: Path) -> Path:
    """A folder of symlinks to the top-level modules of the ``ONNX_INSTALL`` closure (and their ``*.libs``)."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    folder.mkdir()
    wanted = _requirement_closure(ONNX_INSTALL)
    assert not wanted & {"torch", "transformers"}, wanted
    modules = {module for module, dists in packages_distributions().items()
               if any(canonicalize_name(d) in wanted for d in dists)}
    for module in sorted(modules):
        spec = importlib.util.find_spec(module)
        if spec is None or (spec.origin is None and not spec.submodule_search_locations):
            continue
        location = Path(spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin)
        if not (folder / location.name).exists():
            (folder / location.name).symlink_to(location)
        libs = location.parent / f"{module}.libs"
        if libs.is_dir() and not (folder / libs.name).exists():
            (folder / libs.name).symlink_to(libs)
    return folder


@pytest.fixture(scope="module")
def torch_free_run(exported, tmp_path_factory):
    from uniclass import Classifier

    uni_clf, uni = exported("torch-free-uni", lambda: Classifier.from_pretrained(PARITY / "uni_bert_promptfirst_avg_wdot", device="cpu"))
    bi_clf, bi = exported("torch-free-bi", lambda: Classifier.from_pretrained(PARITY / "biencoder_bert", device="cpu"))
    site = _site_of_links(tmp_path_factory.mktemp("torch-free") / "site")
    args = {"src": str(SRC), "site": str(site), "uni": str(uni), "bi": str(bi), "texts": ref.TEXTS, "labels": LABELS,
            "per_text": PER_TEXT}
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1", "HOME": str(tmp_path_factory.getbasetemp())}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD, json.dumps(args)], capture_output=True,
                            text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), {"uni": uni_clf, "bi": bi_clf}


def test_torch_and_transformers_are_absent(torch_free_run) -> None:
    out, _ = torch_free_run
    assert out["torch"] == "absent" and out["transformers"] == "absent"
    assert out["modules"] == []  # nothing on the way imported them (or onnx, peft, accelerate)


def test_onnx_scores_without_torch_equal_torch_scores(torch_free_run) -> None:
    out, torch_classifiers = torch_free_run
    for key, clf in torch_classifiers.items():
        assert ref.max_abs_diff(out[key]["shared"], clf.scores(ref.TEXTS, LABELS)) <= 1e-5
        assert ref.max_abs_diff(out[key]["per_text"], clf.scores(ref.TEXTS, PER_TEXT)) <= 1e-5
        expected = clf.classify(ref.TEXTS[0], LABELS, threshold=0.0, top_k=2)
        assert [r["label"] for r in out[key]["classify"]] == [r["label"] for r in expected]
    assert out["verify"] <= 1e-4


def test_default_backend_without_torch_says_what_to_install(torch_free_run) -> None:
    out, _ = torch_free_run
    message = out["default_backend"]
    assert "uniclass[torch]" in message and "backend='onnx'" in message


def test_export_help_needs_no_torch(torch_free_run) -> None:
    out, _ = torch_free_run
    assert out["cli_help"] == 0
