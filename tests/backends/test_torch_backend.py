"""The torch backend: thread setting, optional torch.compile, and the classifier still exposing its model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import PARITY
from tests.backends.onnx_helpers import ref


def test_num_threads_sets_torch_threads() -> None:
    from uniclass import Classifier

    before = torch.get_num_threads()
    try:
        clf = Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", num_threads=1)
        assert torch.get_num_threads() == 1
        assert clf.backend.name == "torch" and clf.model is clf.backend.model
        with pytest.raises(ValueError, match="num_threads"):
            Classifier.from_pretrained(PARITY / "uni_bert_default", device="cpu", num_threads=-2)
    finally:
        torch.set_num_threads(before)


def test_backend_runs_numpy_batches(parity_classifier) -> None:
    clf = parity_classifier("uni_bert_default")
    ids = np.array([[2, 387, 50, 388, 60, 3], [2, 387, 51, 388, 3, 0]], dtype=np.int64)
    batch = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64), "slot_counts": np.array([1, 1])}
    logits = clf.backend.run(batch)
    assert logits.dtype == np.float32 and logits.shape == (2, 1)
    with torch.inference_mode():
        direct = clf.model(**clf.backend.to_tensors(batch))
    assert np.array_equal(logits, direct.numpy())


@pytest.mark.slow
def test_compile_gives_the_same_scores(one_torch_thread) -> None:
    """torch.compile(dynamic=True) on CPU (needs a C++ compiler): same scores as eager, for several shapes."""
    from uniclass import Classifier

    eager = Classifier.from_pretrained(PARITY / "uni_bert_promptfirst_avg_wdot", device="cpu")
    compiled = Classifier.from_pretrained(PARITY / "uni_bert_promptfirst_avg_wdot", device="cpu", compile=True)
    for labels in (ref.LABELS_3, ref.PER_TEXT_LABELS):
        got, want = compiled.scores(ref.TEXTS, labels, batch_size=4), eager.scores(ref.TEXTS, labels, batch_size=4)
        assert ref.max_abs_diff(got, want) <= 1e-5
    assert compiled.backend._compiled is not None
    compiled.enable_lora()  # new modules: the compiled forward is dropped and rebuilt on the next call
    assert compiled.backend._compiled is None
