"""Multilingual labelled text: CLDR emoji names (groups and subgroups) and chatterbot-corpus topics, per language.

Self-contained (only this package's download helpers): ``cldr_emoji(cache)`` and ``chatterbot(cache)`` fetch their
sources once into ``<cache>/multilingual/`` and return :class:`LangItem` rows, each text with its language and its
English label. Which languages train and which are held out is the caller's choice (``recipes/multilingual``).

Sources and licences:

* Debian ``unicode-cldr-core`` (CLDR annotations, Unicode licence) + ``unicode-data`` (``emoji-test.txt``): the
  name and keywords of each emoji in ~140 languages; its group (9, "Food & Drink") and subgroup (~100,
  "food-fruit") from ``emoji-test.txt``. The text is ``"<name>: <keyword>, <keyword>"`` in one language, without
  the emoji itself (which would give the label away in every language alike).
* PyPI ``chatterbot-corpus==1.3.3`` (BSD-3): conversation lines in 28 languages, the topic from the file name.

Example:
    >>> readable_subgroup("food-fruit")
    'fruit'
    >>> readable_subgroup("transport-ground")
    'ground transport'
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .base import default_cache_dir
from .download import _apt_download, _pip_download

CHATTERBOT = "chatterbot-corpus==1.3.3"
CLDR_PACKAGES = ("unicode-cldr-core", "unicode-data")
# chatterbot files that are not a topic (the bot's persona, generic small talk)
CHATTERBOT_SKIP = ("botprofile", "conversations", "coversations", "perfilbot", "profile", "origen", "unilab", "suggestions")
# file stems -> one English topic name (some languages name their files in their own language or spell them otherwise)
CHATTERBOT_LABELS = {"ai": "artificial intelligence", "ia": "artificial intelligence", "coding": "programming",
                     "tech_support": "technical support", "emotion": "emotions", "emociones": "emotions",
                     "computer": "computers", "dinero": "money", "psicologia": "psychology", "greeting": "greetings",
                     "sport": "sports", "history_brasil": "history", "history brasil": "history"}
# chatterbot folder -> ISO code used for languages everywhere else
CHATTERBOT_LANGS = {
    "bengali": "bn", "chinese": "zh", "dutch": "nl", "english": "en", "french": "fr", "german": "de", "hebrew": "he",
    "hindi": "hi", "hinglish": "hi_Latn", "indonesian": "id", "italian": "it", "japanese": "ja", "korean": "ko",
    "marathi": "mr", "oriya": "or", "persian": "fa", "portuguese": "pt", "russian": "ru", "spanish": "es",
    "swedish": "sv", "tamil": "ta", "telugu": "te", "thai": "th", "traditionalchinese": "zh_Hant", "turkish": "tr",
    "ukrainian": "uk", "urdu": "ur", "yoruba": "yo",
}
CLDR_GROUPS_SKIPPED = ("Component",)  # skin-tone and hair modifiers, not things
_SUBGROUP_WORDS = {"transport": "transport", "food": "food", "animal": "animal", "face": "face", "hand": "hand"}


@dataclass(frozen=True)
class LangItem:
    """One text in one language with its English label (and, for CLDR, the coarse group too)."""

    text: str
    lang: str
    label: str
    group: str = ""
    key: str = ""  # the same thing in every language (emoji codepoints, chatterbot file): keeps splits aligned


def multilingual_cache(cache: str | Path | None = None) -> Path:
    return Path(cache or default_cache_dir()) / "multilingual"


def readable_subgroup(name: str) -> str:
    """``food-fruit`` -> ``fruit``, ``transport-ground`` -> ``ground transport``, ``face-smiling`` -> ``smiling face``."""
    head, _, rest = name.partition("-")
    if not rest:
        return name.replace("-", " ")
    if head == "food":
        return rest.replace("-", " ") + " food" if rest in ("asian", "prepared", "sweet") else rest.replace("-", " ")
    return f"{rest.replace('-', ' ')} {head}"


def chatterbot_label(topic: str) -> str:
    return CHATTERBOT_LABELS.get(topic.lower(), topic.lower().replace("_", " "))


# ------------------------------------------------------------------------------------------------ CLDR
def _cldr_root(cache: Path) -> Path:
    root = cache / "cldr"
    if not (root / ".complete").is_file():
        for package in CLDR_PACKAGES:
            _apt_download(package, root)
        (root / ".complete").write_text("ok\n", encoding="utf-8")
    return root / "root"


def emoji_groups(emoji_test: str) -> dict[str, tuple[str, str]]:
    """Fully-qualified emoji -> (group, subgroup) from the text of ``emoji-test.txt``."""
    table: dict[str, tuple[str, str]] = {}
    group = subgroup = ""
    for line in emoji_test.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line:
            codepoints = line.split(";", 1)[0].split()
            table["".join(chr(int(c, 16)) for c in codepoints)] = (group, subgroup)
    return table


_ANNOTATION = re.compile(r'<annotation cp="([^"]+)"( type="tts")?>([^<]*)</annotation>')


def parse_annotations(xml: str) -> dict[str, tuple[str, list[str]]]:
    """emoji -> (tts name, keywords) of one CLDR annotations file (regex: the files are flat and regular)."""
    names: dict[str, str] = {}
    keywords: dict[str, list[str]] = {}
    for cp, tts, text in _ANNOTATION.findall(xml):
        text = html.unescape(text).strip()
        if tts:
            names[cp] = text
        else:
            keywords[cp] = [k.strip() for k in text.split("|") if k.strip()]
    return {cp: (name, keywords.get(cp, [])) for cp, name in names.items()}


def cldr_emoji(cache: str | Path | None = None, languages: list[str] | None = None) -> list[LangItem]:
    """Every emoji name of every (or the given) CLDR language, labelled with its readable subgroup and group."""
    base = _cldr_root(multilingual_cache(cache))
    groups = emoji_groups((base / "usr/share/unicode/emoji/emoji-test.txt").read_text(encoding="utf-8"))
    folder = base / "usr/share/unicode/cldr/common/annotations"
    items: list[LangItem] = []
    for path in sorted(folder.glob("*.xml")):
        lang = path.stem
        if lang == "root" or (languages is not None and lang not in languages):
            continue
        for cp, (name, keywords) in parse_annotations(path.read_text(encoding="utf-8")).items():
            if cp not in groups or groups[cp][0] in CLDR_GROUPS_SKIPPED or not name:
                continue
            extra = [k for k in keywords if k != name][:4]
            text = f"{name}: {', '.join(extra)}" if extra else name
            group, subgroup = groups[cp]
            items.append(LangItem(text, lang, readable_subgroup(subgroup), group.replace("&", "and"), cp))
    return items


# ------------------------------------------------------------------------------------------------ chatterbot
def _chatterbot_wheel(cache: Path) -> Path:
    folder = cache / "chatterbot"
    wheels = sorted(folder.glob("chatterbot_corpus-*.whl"))
    return wheels[0] if wheels else _pip_download(CHATTERBOT, folder, sdist=False)


def chatterbot(cache: str | Path | None = None) -> list[LangItem]:
    """Each distinct line of each topic file, per language (ISO code), labelled with the readable topic."""
    import yaml

    items: list[LangItem] = []
    with zipfile.ZipFile(_chatterbot_wheel(multilingual_cache(cache))) as wheel:
        for name in sorted(wheel.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[1] != "data" or not parts[3].endswith(".yml"):
                continue
            folder, topic = parts[2], parts[3][:-4]
            if topic.lower() in CHATTERBOT_SKIP or folder not in CHATTERBOT_LANGS:
                continue
            data = yaml.safe_load(wheel.read(name).decode("utf-8")) or {}
            seen: set[str] = set()
            for conversation in data.get("conversations") or []:
                for line in conversation or []:
                    text = " ".join(str(line).split())
                    if len(text) >= 3 and text not in seen:
                        seen.add(text)
                        items.append(LangItem(text, CHATTERBOT_LANGS[folder], chatterbot_label(topic), key=chatterbot_label(topic)))
    return items


def dump(items: list[LangItem], path: Path) -> None:
    path.write_text("".join(json.dumps(asdict(i), ensure_ascii=False) + "\n" for i in items), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ native labels
# UN macro-regions of CLDR's territory containment (M.49 codes): the continent labels of the territory sets
MACRO_REGIONS = ("002", "019", "142", "150", "009")
_TERRITORY = re.compile(r'<territory type="([0-9A-Z]+)">([^<]+)</territory>')
_GROUP = re.compile(r'<group type="(\d{3})" contains="([^"]+)"(.*?)/>')


@dataclass(frozen=True)
class TerritoryItem:
    """A country's name in one language, with its continent's and subregion's names in that language and in English."""

    text: str
    lang: str
    continent: str
    subregion: str
    continent_en: str
    subregion_en: str
    key: str  # the ISO 3166 code, the same in every language


def territory_names(xml: str) -> dict[str, str]:
    """Code -> localized name from a CLDR ``main/<lang>.xml`` (entries with ``alt=`` are skipped by the regex)."""
    return {code: html.unescape(name).strip() for code, name in _TERRITORY.findall(xml)}


def territory_regions(supplemental_xml: str) -> dict[str, tuple[str, str]]:
    """Country code -> (macro-region code, subregion code) from ``territoryContainment``, without the groupings
    (EU, Latin America...) and deprecated codes, so every country has exactly one continent and one subregion."""
    parent: dict[str, str] = {}
    for code, contains, rest in _GROUP.findall(supplemental_xml):
        if "status=" in rest or "grouping=" in rest or code == "001":
            continue
        for child in contains.split():
            parent[child] = code
    return {child: (parent[sub], sub) for child, sub in parent.items()
            if not child.isdigit() and parent.get(sub) in MACRO_REGIONS}


def cldr_territories(cache: str | Path | None = None, languages: list[str] | None = None) -> list[TerritoryItem]:
    """Every country of CLDR's containment with a name in each of ``languages`` (default: English only)."""
    base = _cldr_root(multilingual_cache(cache)) / "usr/share/unicode/cldr/common"
    regions = territory_regions((base / "supplemental/supplementalData.xml").read_text(encoding="utf-8"))
    english = territory_names((base / "main/en.xml").read_text(encoding="utf-8"))
    items: list[TerritoryItem] = []
    for lang in languages or ["en"]:
        names = territory_names((base / f"main/{lang}.xml").read_text(encoding="utf-8"))
        for code, (continent, subregion) in sorted(regions.items()):
            if all(c in names for c in (code, continent, subregion)):
                items.append(TerritoryItem(names[code], lang, names[continent], names[subregion], english[continent],
                                           english[subregion], code))
    return items


def chatterbot_categories(cache: str | Path | None = None) -> dict[str, dict[str, str]]:
    """ISO language -> {English topic label: the topic's name in the file's own ``categories`` field}, only for the
    languages that name *every* topic in their own words (the rest name their files in English)."""
    import yaml

    found: dict[str, dict[str, str]] = {}
    complete: dict[str, bool] = {}
    with zipfile.ZipFile(_chatterbot_wheel(multilingual_cache(cache))) as wheel:
        for name in sorted(wheel.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[1] != "data" or not parts[3].endswith(".yml"):
                continue
            folder, topic = parts[2], parts[3][:-4]
            if topic.lower() in CHATTERBOT_SKIP or folder not in CHATTERBOT_LANGS:
                continue
            lang = CHATTERBOT_LANGS[folder]
            categories = (yaml.safe_load(wheel.read(name).decode("utf-8")) or {}).get("categories") or []
            native = str(categories[-1]).strip() if categories else ""  # the last entry is the spelled-out name
            localized = bool(native) and native.lower() not in (topic.lower(), topic.lower().replace("_", " "))
            complete[lang] = complete.get(lang, True) and localized
            found.setdefault(lang, {})[chatterbot_label(topic)] = native
    return {lang: names for lang, names in found.items() if complete[lang]}
