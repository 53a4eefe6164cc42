"""The demo page's Explain action in headless Chromium: each sentence is tinted by its effect on the chosen
label (green raises, red lowers), and the deltas it carries are exactly ``Classifier.explain``'s.

Uses the browser, server and form helpers of ``test_browser.py`` (and skips, or fails under
UNICLASS_REQUIRE_BROWSER, exactly as it does)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.serve.test_browser import browser, clf, fill, page, server  # noqa: F401 (fixtures)

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = ["The striker scored twice. Shares fell 5% after the call! Dr. Smith said so.", "Rain 🌧 all day. Goal!"]
LABELS = ["sports", "finance", "politics"]


def explain(page: Any, unit: str = "sentence") -> str:
    Select(page.find_element(By.ID, "unit")).select_by_value(unit)
    page.find_element(By.ID, "explain").click()
    results = page.find_element(By.ID, "results")
    WebDriverWait(page, 60).until(lambda d: results.get_attribute("data-state") in ("done", "error"))
    return results.get_attribute("data-state")


def rgb(color: str) -> tuple[int, int, int]:
    r, g, b = (int(x) for x in re.findall(r"[\d.]+", color)[:3])
    return r, g, b


def shown(item: Any) -> list[dict[str, Any]]:
    return [
        {"text": unit.text, "delta": float(unit.get_attribute("data-delta")), "effect": unit.get_attribute("data-effect"),
         "background": unit.value_of_css_property("background-color")}
        for unit in item.find_elements(By.CSS_SELECTOR, ".unit")
    ]


def assert_painted(units: list[dict[str, Any]], explanation: Any, label: str) -> None:
    deltas = explanation.delta(label)
    assert [u["text"] for u in units] == [u.text for u in explanation.units]
    assert [u["delta"] for u in units] == pytest.approx(deltas, abs=1e-5)
    for unit, delta in zip(units, deltas, strict=True):
        expected = "raises" if delta >= 0.005 else "lowers" if delta <= -0.005 else "neutral"
        assert unit["effect"] == expected, unit
        r, g, _ = rgb(unit["background"])
        if expected == "raises":
            assert g > r, unit
        elif expected == "lowers":
            assert r > g, unit


def test_explain_highlights_sentences_by_their_effect(page: Any, clf: Any) -> None:
    fill(page, TEXTS, ", ".join(LABELS))
    assert explain(page) == "done"
    assert page.find_element(By.ID, "error").text == ""
    want = clf.explain(TEXTS, LABELS)
    items = page.find_elements(By.CSS_SELECTOR, "#results .explanation")
    assert len(items) == 2
    effects = set()
    for item, explanation in zip(items, want, strict=True):
        # the whole text is shown (units and the space between them), emoji included
        assert item.find_element(By.CSS_SELECTOR, ".explained-text").text == explanation.text
        top = max(zip(explanation.scores, explanation.labels))[1]
        assert item.get_attribute("data-label") == top  # the best label is explained first
        units = shown(item)
        assert_painted(units, explanation, top)
        effects |= {u["effect"] for u in units}
        # choosing another label repaints with that label's deltas
        other = next(label for label in LABELS if label != top)
        Select(item.find_element(By.CSS_SELECTOR, "select.explain-label")).select_by_value(other)
        assert item.get_attribute("data-label") == other
        units = shown(item)
        assert_painted(units, explanation, other)
        effects |= {u["effect"] for u in units}
    assert {"raises", "lowers"} <= effects  # this fixture has both kinds, so both colours were checked


def test_explain_by_chunks_and_refusals(page: Any, clf: Any) -> None:
    text = "the striker scored twice and the shares fell after the earnings call while nobody watched"
    fill(page, [text], "sports, finance")
    assert explain(page, "chunk") == "done"
    item = page.find_element(By.CSS_SELECTOR, "#results .explanation")
    want = clf.explain(text, ["sports", "finance"], unit="chunk")
    assert_painted(shown(item), want, item.get_attribute("data-label"))
    fill(page, ["one text"], "a, b, c, d, e, f")  # over the server's label limit
    assert explain(page) == "error"
    assert page.find_element(By.ID, "error").text.startswith("too_many_labels: ")
    assert page.find_elements(By.CSS_SELECTOR, "#results .explanation") == []
