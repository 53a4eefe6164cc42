"""The demo page at / end to end: headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against a real uvicorn server on loopback. Text and labels are typed into the page, and the bars it draws must
carry exactly what Classifier.classify returns; a request the server refuses must show the server's message.

Skipped only when Chromium, ChromeDriver or Selenium is missing and UNICLASS_REQUIRE_BROWSER is unset; .ci/run
installs them and sets it, so in CI a missing browser is a failure, not a skip."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

CHROMIUM = os.environ.get("UNICLASS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("UNICLASS_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> list[str]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).is_file()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
    return missing


if _missing():
    reason = f"browser test needs {', '.join(_missing())} (apt-get install chromium chromium-driver; pip install selenium)"
    if os.environ.get("UNICLASS_REQUIRE_BROWSER"):
        pytest.fail(f"UNICLASS_REQUIRE_BROWSER is set but the {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import PARITY
from tests.serve.live_server import LiveServer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = PARITY / "uni_bert_default"
TEXTS = ["The team won the final", "Shares fell 5% after the call"]
LABELS = ["sports", "finance", "politics"]
# The flags Chromium needs here: no sandbox as root, and no background traffic to a network that is closed.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,900"]


@pytest.fixture(scope="module")
def clf() -> Any:
    from uniclass import Classifier

    return Classifier.from_pretrained(MODEL, device="cpu")


@pytest.fixture(scope="module")
def server(clf: Any) -> Iterator[str]:
    from uniclass.serve.app import create_app

    with LiveServer(create_app(clf, max_labels=5, max_chars=200, max_wait_ms=5, refusal_share=1.0)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh, empty profile for every run
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any, server: str) -> Any:
    """The page freshly loaded, so no earlier result or error is on it."""
    browser.get(f"{server}/")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "go").is_enabled())
    return browser


def fill(page: Any, texts: list[str], labels: str, *, multi: bool = True, prompt: str | None = None) -> None:
    """Type into the form the way a person would (clear, then keystrokes)."""
    box = page.find_element(By.ID, "texts")
    box.clear()
    box.send_keys("\n".join(texts))
    field = page.find_element(By.ID, "labels")
    field.clear()
    field.send_keys(labels)
    checkbox = page.find_element(By.ID, "multi")
    if checkbox.is_selected() != multi:
        checkbox.click()
    if prompt is not None:
        page.find_element(By.CSS_SELECTOR, "details > summary").click()
        page.find_element(By.ID, "prompt").send_keys(prompt)


def submit(page: Any) -> str:
    """Click Classify and wait for the page to settle; returns the final state (done or error)."""
    page.find_element(By.ID, "go").click()
    results = page.find_element(By.ID, "results")
    WebDriverWait(page, 60).until(lambda d: results.get_attribute("data-state") in ("done", "error"))
    return results.get_attribute("data-state")


def shown(page: Any) -> list[dict[str, Any]]:
    """What the page shows: per text, its bars (label, exact score, rounded text, highlighted, meter value)."""
    out = []
    for item in page.find_elements(By.CSS_SELECTOR, "#results .result"):
        bars = []
        for bar in item.find_elements(By.CSS_SELECTOR, ".bar"):
            meter = bar.find_element(By.CSS_SELECTOR, "[role=meter]")
            bars.append({
                "label": bar.find_element(By.CSS_SELECTOR, ".name").text,
                "data_label": bar.get_attribute("data-label"),
                "score": float(bar.get_attribute("data-score")),
                "score_text": bar.find_element(By.CSS_SELECTOR, ".score").text,
                "hit": bar.get_attribute("data-hit") == "true",
                "meter": float(meter.get_attribute("aria-valuenow")),
                "meter_label": meter.get_attribute("aria-label"),
            })
        out.append({"text": item.find_element(By.CSS_SELECTOR, ".text").text, "bars": bars})
    return out


def assert_bars_equal(got: list[dict[str, Any]], texts: list[str], every: list[Any], chosen: list[Any]) -> None:
    """Bars = every label with its score (in classify's order); highlighted = the labels classify keeps."""
    assert [g["text"] for g in got] == texts
    for item, all_labels, kept in zip(got, every, chosen, strict=True):
        bars = item["bars"]
        assert [b["label"] for b in bars] == [r["label"] for r in all_labels]
        assert [b["data_label"] for b in bars] == [b["meter_label"] for b in bars] == [b["label"] for b in bars]
        assert [b["score"] for b in bars] == pytest.approx([r["score"] for r in all_labels], abs=1e-6)
        assert [b["meter"] for b in bars] == [b["score"] for b in bars]
        for b in bars:
            assert abs(float(b["score_text"]) - b["score"]) <= 0.0005 + 1e-9, b  # shown rounded to 3 decimals
        assert [b["label"] for b in bars if b["hit"]] == [r["label"] for r in kept]


def test_multi_label_bars_equal_classify(page: Any, clf: Any) -> None:
    fill(page, TEXTS, "sports, finance, politics")
    assert submit(page) == "done"
    assert page.find_element(By.ID, "error").text == ""
    every = clf.classify(TEXTS, LABELS, threshold=0.0)      # the page asks for all labels and draws them all
    chosen = clf.classify(TEXTS, LABELS, threshold=0.5)     # ... and highlights those over its threshold (0.5)
    assert_bars_equal(shown(page), TEXTS, every, chosen)
    assert page.find_element(By.ID, "status").text.endswith("ms")


def test_single_label_with_prompt_equals_classify(page: Any, clf: Any) -> None:
    prompt = "Classify the news headline:"
    fill(page, TEXTS[::-1], "politics,sports , finance", multi=False, prompt=prompt)
    assert submit(page) == "done"
    labels = ["politics", "sports", "finance"]  # as the page splits and trims them
    every = clf.classify(TEXTS[::-1], labels, multi_label=False, top_k=3, prompt=prompt)
    chosen = clf.classify(TEXTS[::-1], labels, multi_label=False, prompt=prompt)
    assert_bars_equal(shown(page), TEXTS[::-1], every, chosen)


@pytest.mark.parametrize(
    ("texts", "labels"),
    [(["one text"], ["a", "b", "c", "d", "e", "f"]), (["x" * 201], ["a", "b"])],
    ids=["too-many-labels", "text-too-long"],
)
def test_refused_input_shows_the_server_error(page: Any, server: str, texts: list[str], labels: list[str]) -> None:
    fill(page, texts, ", ".join(labels))
    assert submit(page) == "error"
    # The same body the page sends, straight to the API: the page must show that error, code and message.
    body = {"texts": texts, "labels": labels, "multi_label": True, "threshold": 0, "top_k": None}
    response = httpx.post(f"{server}/v1/classify", json=body, timeout=30)
    assert response.status_code == 422
    error = response.json()["error"]
    assert page.find_element(By.ID, "error").text == f"{error['code']}: {error['message']}"
    assert page.find_elements(By.CSS_SELECTOR, "#results .result") == []


def test_empty_form_is_caught_in_the_page(page: Any) -> None:
    fill(page, [], "sports")
    assert submit(page) == "error"
    assert page.find_element(By.ID, "error").text == "Enter at least one text and one label."


def decide(page: Any, *, abstain: str = "", groups: str = "", min_labels: str = "", max_labels: str = "",
           stable: bool = False, hierarchy: bool = False) -> None:
    """Open the decisions panel and fill it."""
    page.find_element(By.CSS_SELECTOR, "#decisions > summary").click()
    for field, value in (("abstain", abstain), ("groups", groups), ("min-labels", min_labels), ("max-labels", max_labels)):
        box = page.find_element(By.ID, field)
        box.clear()
        if value:
            box.send_keys(value)
    for box_id, wanted in (("stable", stable), ("hierarchy", hierarchy)):
        checkbox = page.find_element(By.ID, box_id)
        if checkbox.is_selected() != wanted:
            checkbox.click()


def test_decisions_highlight_what_classify_keeps(page: Any, clf: Any) -> None:
    fill(page, TEXTS, "sports, finance, politics")
    decide(page, groups="sports, finance", min_labels="1", stable=True)
    assert submit(page) == "done"
    every = clf.classify(TEXTS, LABELS, threshold=0.0, label_order="stable")
    chosen = clf.classify(TEXTS, LABELS, threshold=0.5, groups=[["sports", "finance"]], min_labels=1, label_order="stable")
    assert_bars_equal(shown(page), TEXTS, every, chosen)
    assert page.find_elements(By.CSS_SELECTOR, "[data-none]") == []


def test_abstain_shows_none_of_these(page: Any) -> None:
    fill(page, TEXTS[:1], "sports, finance")
    decide(page, abstain="1")
    assert submit(page) == "done"
    assert [n.text for n in page.find_elements(By.CSS_SELECTOR, "#results [data-none]")] == ["none of these"]
    assert not any(bar["hit"] for bar in shown(page)[0]["bars"])


def tree_entries(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for name, node in tree.items():
        path = f"{prefix}.{name}" if prefix else name
        out += [(path, node["score"]), *tree_entries(node.get("children", {}), path)]
    return out


def test_hierarchy_draws_the_tree_classify_returns(page: Any, clf: Any) -> None:
    from uniclass.processing import label_tree_from_paths

    dotted = ["product.battery", "product.screen", "finance"]
    fill(page, TEXTS, ", ".join(dotted))
    threshold = page.find_element(By.ID, "threshold")
    threshold.clear()
    threshold.send_keys("0.2")  # low enough that the first text keeps both children of "product"
    decide(page, hierarchy=True)
    assert submit(page) == "done"
    tree = label_tree_from_paths(dotted)
    every = clf.classify(TEXTS, tree, threshold=0.0)        # bars: every leaf label, as dotted labels
    chosen = clf.classify(TEXTS, tree, threshold=0.2)       # highlighted: the leaves the decision keeps
    assert_bars_equal(shown(page), TEXTS, every, chosen)
    trees = clf.classify(TEXTS, tree, threshold=0.2, as_tree=True)
    assert "children" in trees[0]["product"]  # the test draws a parent with its children, not only flat leaves
    for item, want in zip(page.find_elements(By.CSS_SELECTOR, "#results .result"), trees, strict=True):
        nodes = item.find_elements(By.CSS_SELECTOR, "ul.tree li")
        got = [(n.get_attribute("data-path"), float(n.get_attribute("data-score"))) for n in nodes]
        assert [path for path, _ in got] == [path for path, _ in tree_entries(want)]
        assert [score for _, score in got] == pytest.approx([score for _, score in tree_entries(want)], abs=1e-6)


def test_labels_that_are_not_a_tree_are_caught_in_the_page(page: Any) -> None:
    fill(page, TEXTS, "sport, sport.football")
    decide(page, hierarchy=True)
    assert submit(page) == "error"
    assert page.find_element(By.ID, "error").text == "label 'sport' is also the parent of 'sport.football': give only the children"
