"""The README's Spark recipe on a real local Spark (pyspark + a Java runtime): ``mapInPandas`` with
``Predictor.iter_pandas`` / ``spark_ddl`` and ``predict_batch_udf`` with ``Predictor.make_predict_fn``; every row
equals ``Classifier.classify``. One local session (``local[1]``) for the module, a handful of rows.

Skipped only when pyspark or Java is missing and UNICLASS_REQUIRE_SPARK is unset (.ci/run sets it, so CI fails
instead of skipping)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

try:
    import pyspark  # noqa: F401

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ImportError("no Java runtime (java on PATH or JAVA_HOME)")
except ImportError as error:
    if os.environ.get("UNICLASS_REQUIRE_SPARK"):
        raise
    pytest.skip(f"Spark is not available ({error}); UNICLASS_REQUIRE_SPARK=1 makes this an error", allow_module_level=True)

pd = pytest.importorskip("pandas")

from tests.conftest import PARITY  # noqa: E402
from uniclass.integrations import Predictor  # noqa: E402

MODEL = str(PARITY / "uni_bert_default")
LABELS = ["sports", "finance", "politics"]
TEXTS = ["The team won the final", "Shares fell 5% after the call", "The senate passed the bill", "Rain all week",
         "A late goal decided the derby"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # Spark's Python workers run `python3` from PATH unless told otherwise: use this interpreter (and its uniclass)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (SparkSession.builder.master("local[1]").appName("uniclass-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def expected() -> list[list[dict[str, Any]]]:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu").classify(TEXTS, LABELS, multi_label=False)


def _frame(spark: Any) -> Any:
    return spark.createDataFrame(pd.DataFrame({"id": list(range(len(TEXTS))), "text": TEXTS})).repartition(2)


def test_map_in_pandas_equals_classify(spark: Any, expected: list[list[dict[str, Any]]]) -> None:
    predictor = Predictor(MODEL, LABELS, device="cpu")
    scored = _frame(spark).select("id", "text").mapInPandas(
        predictor.iter_pandas, schema=f"id long, text string, {predictor.spark_ddl()}")
    rows = sorted(scored.collect(), key=lambda r: r["id"])
    assert [r["text"] for r in rows] == TEXTS
    for row, want in zip(rows, expected, strict=True):
        assert row["label"] == want[0]["label"]
        assert row["score"] == pytest.approx(want[0]["score"], abs=1e-6)


def test_predict_batch_udf_equals_classify(spark: Any, expected: list[list[dict[str, Any]]]) -> None:
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    predictor = Predictor(MODEL, LABELS, device="cpu")
    classify = predict_batch_udf(predictor.make_predict_fn, batch_size=2,
                                 return_type=StructType([StructField("label", StringType()), StructField("score", DoubleType())]))
    rows = sorted(_frame(spark).withColumn("prediction", classify("text")).collect(), key=lambda r: r["id"])
    for row, want in zip(rows, expected, strict=True):
        assert row["prediction"]["label"] == want[0]["label"]
        assert row["prediction"]["score"] == pytest.approx(want[0]["score"], abs=1e-6)
