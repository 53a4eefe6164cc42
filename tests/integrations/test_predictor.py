"""The picklable batch predictor: same answers as Classifier.classify, for numpy, pandas and pyarrow batches,
through pickle (as Ray, Spark and Dask ship it), with empty batches and bad input."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from tests.conftest import PARITY
from uniclass.integrations import Predictor

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = str(PARITY / "uni_bert_default")
LABELS = ["sports", "finance", "politics"]
TEXTS = ["The team won the final", "Shares fell 5% after the call", "The senate passed the bill", "Rain all week"]


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")


def expected(clf: Any, **options: Any) -> list[list[dict[str, Any]]]:
    return clf.classify(TEXTS, LABELS, **options)


def test_numpy_single_label_equals_classify(clf: Any) -> None:
    predictor = Predictor(MODEL, LABELS, device="cpu")
    ids = np.arange(len(TEXTS))
    batch = {"text": np.array(TEXTS, dtype=object), "id": ids}
    out = predictor(batch)
    want = expected(clf, multi_label=False)
    assert list(out) == ["text", "id", "label", "score"]
    assert out["label"].tolist() == [w[0]["label"] for w in want]
    assert out["score"].dtype == np.float64
    np.testing.assert_allclose(out["score"], [w[0]["score"] for w in want], atol=1e-6)
    assert out["id"] is ids and set(batch) == {"text", "id"}  # input columns kept, input dict not modified


def test_pandas_multi_label_equals_classify(clf: Any) -> None:
    predictor = Predictor(MODEL, LABELS, multi_label=True, threshold=0.3, device="cpu")
    frame = pd.DataFrame({"text": TEXTS, "id": [10, 11, 12, 13]}, index=[5, 6, 7, 8])
    out = predictor(frame)
    want = expected(clf, multi_label=True, threshold=0.3)
    assert list(frame.columns) == ["text", "id"]  # not modified
    assert list(out.columns) == ["text", "id", "label", "score"] and list(out.index) == [5, 6, 7, 8]
    assert out["label"].tolist() == [[r["label"] for r in w] for w in want]
    for got, w in zip(out["score"], want, strict=True):
        assert got == pytest.approx([r["score"] for r in w], abs=1e-6)


def test_default_threshold_and_top_k(clf: Any) -> None:
    multi = Predictor(MODEL, LABELS, multi_label=True, top_k=1, device="cpu")(pd.DataFrame({"text": TEXTS}))
    assert multi["label"].tolist() == [[r["label"] for r in w] for w in expected(clf, multi_label=True, top_k=1)]
    single = Predictor(MODEL, LABELS, top_k=2, device="cpu")({"text": np.array(TEXTS, dtype=object)})
    want = expected(clf, multi_label=False, top_k=2)
    assert single["label"].tolist() == [[r["label"] for r in w] for w in want]
    assert [len(s) for s in single["score"]] == [2] * len(TEXTS)


def test_prompt_and_all_scores(clf: Any) -> None:
    predictor = Predictor(MODEL, LABELS, prompt="Classify the headline:", return_scores=True, device="cpu")
    numpy_out = predictor({"text": np.array(TEXTS, dtype=object)})
    pandas_out = predictor(pd.DataFrame({"text": TEXTS}))
    want = clf.scores(TEXTS, LABELS, multi_label=False, prompt="Classify the headline:")
    assert numpy_out["scores"].shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(numpy_out["scores"], want, atol=1e-6)
    np.testing.assert_allclose(np.array(pandas_out["scores"].tolist()), want, atol=1e-6)
    best = [w[0]["label"] for w in clf.classify(TEXTS, LABELS, multi_label=False, prompt="Classify the headline:")]
    assert numpy_out["label"].tolist() == best


def test_pyarrow_table_has_typed_columns(clf: Any) -> None:
    predictor = Predictor(MODEL, LABELS, multi_label=True, threshold=0.99, return_scores=True, device="cpu")
    table = predictor(pa.table({"text": TEXTS}))
    assert table.schema.field("label").type == pa.list_(pa.string())
    assert table.schema.field("score").type == pa.list_(pa.float64())
    assert table.schema.field("scores").type == pa.list_(pa.float64())
    want = expected(clf, multi_label=True, threshold=0.99)
    assert table.column("label").to_pylist() == [[r["label"] for r in w] for w in want]


def test_pickle_round_trip_before_and_after_loading(clf: Any) -> None:
    predictor = Predictor(MODEL, LABELS, multi_label=True, threshold={"sports": 0.2}, device="cpu")
    fresh = pickle.loads(pickle.dumps(predictor))
    assert fresh._classifier is None and vars(fresh).keys() == vars(predictor).keys()
    first = fresh({"text": np.array(TEXTS, dtype=object)})
    assert fresh._classifier is not None  # loaded lazily by the call

    payload = pickle.dumps(fresh)
    assert len(payload) < 5_000  # options only: the model's weights are never pickled
    again = pickle.loads(payload)
    assert again._classifier is None
    second = again({"text": np.array(TEXTS, dtype=object)})
    want = [[r["label"] for r in w] for w in expected(clf, multi_label=True, threshold={"sports": 0.2})]
    assert first["label"].tolist() == second["label"].tolist() == want


def test_empty_batch_never_loads_the_model() -> None:
    predictor = Predictor("no/such/checkpoint", LABELS, return_scores=True)
    numpy_out = predictor({"text": np.array([], dtype=object)})
    assert numpy_out["label"].shape == (0,) and numpy_out["score"].dtype == np.float64
    assert numpy_out["scores"].shape == (0, len(LABELS))
    frame_out = predictor(pd.DataFrame({"text": pd.Series([], dtype=object), "id": pd.Series([], dtype="int64")}))
    assert list(frame_out.columns) == ["text", "id", "label", "score", "scores"] and len(frame_out) == 0
    assert frame_out["score"].dtype == np.float64
    assert predictor(pa.table({"text": pa.array([], pa.string())})).schema.field("label").type == pa.string()
    assert predictor._classifier is None


def test_missing_text_column_is_a_clear_error() -> None:
    predictor = Predictor("no/such/checkpoint", LABELS)
    with pytest.raises(ValueError, match=r"no column 'text' \(columns: body, id\); pass text_column="):
        predictor({"body": np.array(["x"], dtype=object), "id": np.array([1])})
    with pytest.raises(ValueError, match="no column 'text'"):
        predictor(pd.DataFrame({"body": ["x"]}))
    with pytest.raises(ValueError, match="no column 'text'"):
        predictor(pa.table({"body": ["x"]}))


def test_text_column_option_and_existing_label_column(clf: Any) -> None:
    frame = pd.DataFrame({"body": TEXTS, "label": ["gold"] * len(TEXTS)})
    with pytest.raises(ValueError, match=r"already has column\(s\) \['label'\]; pass output_prefix="):
        Predictor("no/such/checkpoint", LABELS, text_column="body")(frame)
    out = Predictor(MODEL, LABELS, text_column="body", output_prefix="pred_", device="cpu")(frame)
    assert out["label"].tolist() == ["gold"] * len(TEXTS)
    assert out["pred_label"].tolist() == [w[0]["label"] for w in expected(clf, multi_label=False)]


def test_missing_texts_and_bad_batches_are_rejected() -> None:
    predictor = Predictor("no/such/checkpoint", LABELS)
    with pytest.raises(TypeError, match="row 1 of column 'text' is NoneType, not a string"):
        predictor({"text": np.array(["a", None], dtype=object)})
    with pytest.raises(TypeError, match="row 0 of column 'text' is float"):
        predictor(pd.DataFrame({"text": [np.nan, "b"]}))
    with pytest.raises(TypeError, match="dict of numpy arrays, a pandas DataFrame or a pyarrow Table, got list"):
        predictor(["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"labels": []}, ValueError, "empty"),
        ({"labels": "sports,finance"}, TypeError, "list of strings"),
        ({"labels": ["a", "a"]}, ValueError, "repeated"),
        ({"labels": ["a", " "]}, ValueError, r"labels\[1\] must be a non-empty string"),
        ({"labels": ["a"], "threshold": 1.5}, ValueError, "outside"),
        ({"labels": ["a"], "top_k": 0}, ValueError, "top_k"),
        ({"labels": ["a"], "batch_size": 0}, ValueError, "batch_size"),
        ({"labels": ["a"], "model": object()}, TypeError, "checkpoint folder or hub id"),
        ({"labels": ["a"], "shortlist": 0}, ValueError, "shortlist must be an int >= 1"),
        ({"labels": ["a"], "shortlist": "all"}, ValueError, "shortlist must be"),
        ({"labels": ["a"], "shortlist": True}, ValueError, "shortlist must be"),
        ({"labels": ["a"], "retriever": "bm25"}, ValueError, "retriever must be"),
    ],
)
def test_bad_options_fail_at_construction(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Predictor(**kwargs)


def test_spark_adapters(clf: Any) -> None:
    """What Spark does with them: mapInPandas calls iter_pandas on an iterator of frames; predict_batch_udf
    unpickles make_predict_fn in a worker, calls it, then calls the result on 1-D arrays of texts."""
    predictor = Predictor(MODEL, LABELS, device="cpu")
    frames = [pd.DataFrame({"text": TEXTS[:3]}), pd.DataFrame({"text": pd.Series([], dtype=object)}),
              pd.DataFrame({"text": TEXTS[3:]})]
    out = pd.concat(list(predictor.iter_pandas(iter(frames))), ignore_index=True)
    want = expected(clf, multi_label=False)
    assert out["label"].tolist() == [w[0]["label"] for w in want]
    assert predictor.spark_ddl() == "label string, score double"
    assert Predictor(MODEL, LABELS, multi_label=True, return_scores=True, output_prefix="p_").spark_ddl() == (
        "p_label array<string>, p_score array<double>, p_scores array<double>"
    )

    make_predict_fn = pickle.loads(pickle.dumps(predictor.make_predict_fn))
    result = make_predict_fn()(np.array(TEXTS, dtype=object))
    assert result["label"].tolist() == [w[0]["label"] for w in want]
    np.testing.assert_allclose(result["score"], [w[0]["score"] for w in want], atol=1e-6)
    with pytest.raises(ValueError, match="one label and score per row"):
        Predictor(MODEL, LABELS, multi_label=True).make_predict_fn()


def test_dask_map_partitions(clf: Any) -> None:
    """Dask: meta from an empty frame (no model load on the client), then partitions classified."""
    dd = pytest.importorskip("dask.dataframe")
    import dask

    predictor = Predictor(MODEL, LABELS, multi_label=True, threshold=0.3, device="cpu")
    ddf = dd.from_pandas(pd.DataFrame({"text": TEXTS, "id": range(len(TEXTS))}), npartitions=2)
    meta = predictor(ddf._meta)
    assert predictor._classifier is None
    with dask.config.set(scheduler="sync"):
        out = ddf.map_partitions(predictor, meta=meta).compute()
    want = expected(clf, multi_label=True, threshold=0.3)
    assert out["label"].tolist() == [[r["label"] for r in w] for w in want]


# ---------------------------------------------------------------- shortlisting (large label sets)
MANY = ["sports", "finance", "politics", "weather", "music", "cooking", "travel", "science"]


@pytest.fixture(scope="module")
def model_retriever_clf() -> Any:
    from uniclass import Classifier

    clf = Classifier.from_pretrained(MODEL, device="cpu")
    clf.shortlist_retriever = "model"  # the tiny checkpoint's own encoder: offline and fast
    return clf


@pytest.mark.parametrize("options", [{"multi_label": False}, {"multi_label": True, "threshold": 0.0},
                                     {"multi_label": False, "top_k": 5}, {"multi_label": True, "threshold": 0.3}])
def test_shortlist_equals_classify_with_shortlist(model_retriever_clf: Any, options: dict[str, Any]) -> None:
    """Picks only among each row's k shortlisted labels (threshold 0 or top_k > k never adds unscored ones)."""
    predictor = Predictor(MODEL, MANY, shortlist=3, retriever="model", return_scores=True, device="cpu", **options)
    predictor = pickle.loads(pickle.dumps(predictor))  # as an engine ships it: the options travel
    out = predictor(pd.DataFrame({"text": TEXTS}))
    want = model_retriever_clf.classify(TEXTS, MANY, shortlist=3, **options)
    as_list = lambda value: list(value) if isinstance(value, (list, np.ndarray)) else [value]  # noqa: E731
    assert [as_list(v) for v in out["label"]] == [[r["label"] for r in w] for w in want]
    for got, w in zip(out["score"], want, strict=True):
        assert as_list(got) == pytest.approx([r["score"] for r in w], abs=1e-6)
    every = model_retriever_clf.scores(TEXTS, MANY, shortlist=3, multi_label=options["multi_label"])
    assert [list(row) for row in out["scores"]] == [pytest.approx(row, abs=1e-6) for row in every]
    assert all(sum(s > 0 for s in row) <= 3 for row in out["scores"])
    assert predictor.classifier.shortlist_retriever == "model"


def test_shortlist_auto_and_k_above_the_label_count(model_retriever_clf: Any) -> None:
    full = Predictor(MODEL, MANY, device="cpu").predict_texts(TEXTS)
    wide = Predictor(MODEL, MANY, shortlist=100, retriever="model", device="cpu").predict_texts(TEXTS)
    assert wide[0] == full[0] and np.allclose(wide[2], full[2], atol=1e-6)  # k >= labels: full scoring
    auto = Predictor(MODEL, MANY, shortlist="auto", retriever="model", device="cpu").predict_texts(TEXTS)
    assert auto[0] == [w[0]["label"] for w in model_retriever_clf.classify(TEXTS, MANY, shortlist="auto", multi_label=False)]


@pytest.mark.parametrize("value", [None, 1, "yes"])
def test_multi_label_must_be_a_bool(value: object) -> None:
    with pytest.raises(TypeError, match=r"Predictor\(multi_label=\.\.\.\) must be a bool, got "):
        Predictor(MODEL, LABELS, multi_label=value, device="cpu")  # type: ignore[arg-type]
