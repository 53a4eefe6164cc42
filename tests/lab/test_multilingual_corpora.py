"""CLDR emoji and chatterbot readers on tiny files written here (no download: the fetch helpers are replaced)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from uniclass_lab.corpora import multilingual as ml

EMOJI_TEST = """# group: Food & Drink
# subgroup: food-fruit
1F347                                                  ; fully-qualified     # 🍇 E0.6 grapes
# subgroup: food-asian
1F371                                                  ; fully-qualified     # 🍱 E0.6 bento box
# group: Travel & Places
# subgroup: transport-ground
1F682                                                  ; fully-qualified     # 🚂 E1.0 locomotive
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# group: Component
# subgroup: skin-tone
1F3FB                                                  ; fully-qualified     # 🏻 E1.0 light skin tone
"""
DE_XML = """<ldml><annotations>
<annotation cp="🍇">Frucht | Traube | Trauben</annotation>
<annotation cp="🍇" type="tts">Trauben</annotation>
<annotation cp="🚂">Dampflok | Lok &amp; Zug</annotation>
<annotation cp="🚂" type="tts">Dampflokomotive</annotation>
<annotation cp="🏻" type="tts">helle Hautfarbe</annotation>
</annotations></ldml>"""


def test_readable_labels():
    assert ml.readable_subgroup("food-fruit") == "fruit"
    assert ml.readable_subgroup("food-asian") == "asian food"
    assert ml.readable_subgroup("transport-ground") == "ground transport"
    assert ml.readable_subgroup("emotion") == "emotion"
    assert ml.chatterbot_label("IA") == "artificial intelligence" and ml.chatterbot_label("tech_support") == "technical support"


def test_cldr_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fake_apt(package: str, dest: Path) -> tuple[Path, str]:
        root = dest / "root" / "usr/share/unicode"
        (root / "emoji").mkdir(parents=True, exist_ok=True)
        (root / "cldr/common/annotations").mkdir(parents=True, exist_ok=True)
        (root / "emoji/emoji-test.txt").write_text(EMOJI_TEST, encoding="utf-8")
        (root / "cldr/common/annotations/de.xml").write_text(DE_XML, encoding="utf-8")
        (root / "cldr/common/annotations/root.xml").write_text(DE_XML, encoding="utf-8")
        return dest / f"{package}.deb", "1"

    monkeypatch.setattr(ml, "_apt_download", fake_apt)
    items = ml.cldr_emoji(tmp_path)
    assert [(i.text, i.lang, i.label, i.group) for i in items] == [
        ("Trauben: Frucht, Traube", "de", "fruit", "Food and Drink"),
        ("Dampflokomotive: Dampflok, Lok & Zug", "de", "ground transport", "Travel and Places"),
    ]  # the skin tone (group Component) and root.xml are left out; the emoji itself is never in the text
    assert ml.cldr_emoji(tmp_path, languages=["fr"]) == []


def test_chatterbot_items(tmp_path: Path):
    folder = tmp_path / "multilingual" / "chatterbot"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl", "w") as wheel:
        wheel.writestr("chatterbot_corpus/data/german/food.yml",
                       "categories:\n- food\nconversations:\n- - trinkst du\n  - Nein.\n- - trinkst du\n  - ich esse Strom\n")
        wheel.writestr("chatterbot_corpus/data/german/botprofile.yml", "conversations:\n- - wer bist du\n  - ein Bot\n")
        wheel.writestr("chatterbot_corpus/data/spanish/IA.yml", "conversations:\n- - que es la IA\n  - una ciencia\n")
    items = ml.chatterbot(tmp_path)
    assert [(i.text, i.lang, i.label) for i in items] == [
        ("trinkst du", "de", "food"), ("Nein.", "de", "food"), ("ich esse Strom", "de", "food"),
        ("que es la IA", "es", "artificial intelligence"), ("una ciencia", "es", "artificial intelligence"),
    ]


SUPPLEMENTAL = """<supplementalData><territoryContainment>
<group type="001" contains="019 002 150 142 009"/>
<group type="001" contains="EU EZ UN" status="grouping"/>
<group type="150" contains="154 155 151 039"/>
<group type="155" contains="AT DE"/>
<group type="155" contains="DD FX" status="deprecated"/>
<group type="019" contains="021 013 029 005"/>
<group type="021" contains="CA US"/>
<group type="003" contains="021 013 029" grouping="true"/>
</territoryContainment></supplementalData>"""
EN_MAIN = """<ldml><localeDisplayNames><territories>
<territory type="019">Americas</territory><territory type="021">Northern America</territory>
<territory type="150">Europe</territory><territory type="155">Western Europe</territory>
<territory type="DE">Germany</territory><territory type="AT">Austria</territory>
<territory type="US">United States</territory><territory type="US" alt="short">US</territory>
<territory type="CA">Canada</territory>
</territories></localeDisplayNames></ldml>"""
DE_MAIN = """<ldml><localeDisplayNames><territories>
<territory type="019">Amerika</territory><territory type="021">Nordamerika</territory>
<territory type="150">Europa</territory><territory type="155">Westeuropa</territory>
<territory type="DE">Deutschland</territory><territory type="US">Vereinigte Staaten</territory>
<territory type="US" alt="short">USA</territory>
</territories></localeDisplayNames></ldml>"""


def test_territory_regions_skip_groupings_and_deprecated_codes():
    regions = ml.territory_regions(SUPPLEMENTAL)
    assert regions == {"AT": ("150", "155"), "DE": ("150", "155"), "CA": ("019", "021"), "US": ("019", "021")}


def test_territory_names_skip_alternative_names():
    assert ml.territory_names(DE_MAIN)["US"] == "Vereinigte Staaten"


def test_cldr_territories_in_the_texts_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fake_apt(package: str, dest: Path) -> tuple[Path, str]:
        common = dest / "root" / "usr/share/unicode/cldr/common"
        (common / "main").mkdir(parents=True, exist_ok=True)
        (common / "supplemental").mkdir(parents=True, exist_ok=True)
        (common / "supplemental/supplementalData.xml").write_text(SUPPLEMENTAL, encoding="utf-8")
        (common / "main/en.xml").write_text(EN_MAIN, encoding="utf-8")
        (common / "main/de.xml").write_text(DE_MAIN, encoding="utf-8")
        return dest / f"{package}.deb", "1"

    monkeypatch.setattr(ml, "_apt_download", fake_apt)
    items = ml.cldr_territories(tmp_path, languages=["de"])
    # Austria and Canada have no German name in this file: left out rather than shown in English
    assert [(i.text, i.continent, i.subregion, i.continent_en, i.subregion_en, i.key) for i in items] == [
        ("Deutschland", "Europa", "Westeuropa", "Europe", "Western Europe", "DE"),
        ("Vereinigte Staaten", "Amerika", "Nordamerika", "Americas", "Northern America", "US"),
    ]


def test_chatterbot_categories_only_for_fully_localized_languages(tmp_path: Path):
    folder = tmp_path / "multilingual" / "chatterbot"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl", "w") as wheel:
        wheel.writestr("chatterbot_corpus/data/italian/ai.yml",
                       "categories:\n- AI\n- intelligenza artificiale\nconversations: []\n")
        wheel.writestr("chatterbot_corpus/data/italian/food.yml", "categories:\n- cibo\nconversations: []\n")
        wheel.writestr("chatterbot_corpus/data/italian/botprofile.yml", "categories:\n- profile\nconversations: []\n")
        wheel.writestr("chatterbot_corpus/data/german/food.yml", "categories:\n- food\nconversations: []\n")
        wheel.writestr("chatterbot_corpus/data/german/history.yml", "categories:\n- Geschichte\nconversations: []\n")
    # German names one of its topics in English, so no German topic set with native labels exists
    expected = {"it": {"artificial intelligence": "intelligenza artificiale", "food": "cibo"}}
    assert ml.chatterbot_categories(tmp_path) == expected
