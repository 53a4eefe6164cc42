"""What the benchmarks run: synthetic texts of exact token lengths, label sets, the dev-set text mix, and the
models compared with GLiClass (an NLI cross-encoder; a bi-encoder built from the same backbone).

Synthetic texts are real English words in short sentences (not repeated filler), so tokenisation behaves as on
real text; their exact token counts are recorded with every result because "about 256 tokens" depends on
the tokenizer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..baselines import NLIBaseline
from .common import torch_module

# Common English words for synthetic sentences (nouns, verbs, adjectives, function words).
WORDS = """
the a of and to in is was for on that with as by at from it this be are were has have had will would can could
should may must not but or if when while after before because about over under between through during without
people time year day week month world life family child children man woman city country company government
school student teacher market price money bank business work job team game player season match club music film
book story news report study research data system service product customer user phone computer software
network energy water food health doctor patient hospital law court police election party minister president
policy plan project problem question answer result change growth level rate share value cost sale deal trade
home house road car train plane trip hotel river sea mountain weather rain storm summer winter morning night
good new first last long great little own other old right big high different small large next early young
important few public bad same able local sure free better best strong clear full special easy hard late real
said says made make take give find think know see come go get use tell ask seem feel try leave call keep
start show hear play run move live believe bring happen write provide sit stand lose pay meet include continue
set learn lead understand watch follow stop create speak read allow add spend grow open walk win offer remember
love consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest raise pass
sell require decide return explain hope develop carry break receive agree support hit produce eat cover catch
""".split()

# Candidate labels: topical nouns, mostly one WordPiece token each in BERT-style vocabularies.
LABEL_WORDS = """
sports finance politics science technology health education travel food music film art history religion law
crime weather business economy environment energy fashion gaming literature medicine military nature parenting
pets philosophy photography physics chemistry biology mathematics astronomy geography psychology sociology
language television radio theater dance architecture agriculture aviation banking insurance marketing retail
shipping mining fishing forestry tourism hospitality construction transport automotive railway maritime space
robotics software hardware internet security privacy elections immigration taxes trade employment housing
pensions welfare charity volunteering family marriage relationships friendship dating wedding funeral birthday
holidays christmas football basketball baseball tennis golf cricket rugby hockey boxing cycling swimming running
skiing surfing sailing climbing chess poetry novels comics cartoons animation opera jazz rock pop classical
folk painting sculpture design gardening cooking baking wine beer coffee tea nutrition fitness yoga sleep
diseases vaccines hospitals surgery dentistry nursing pharmacy genetics evolution ecology oceans rivers forests
deserts mountains volcanoes earthquakes floods storms climate pollution recycling wildlife birds insects fish
mammals reptiles plants flowers trees
""".split()

LABELS_8 = ["positive", "negative", "business", "entertainment", "politics", "sport", "technology", "science"]


# ====================================================================== texts and labels
def _sentence_words(rng: random.Random, n_words: int) -> str:
    """``n_words`` random words as sentences of 6 to 14 words, capitalised and full-stopped."""
    out: list[str] = []
    while len(out) < n_words:
        size = min(rng.randint(6, 14), n_words - len(out))
        words = [rng.choice(WORDS) for _ in range(size)]
        words[0] = words[0].capitalize()
        words[-1] += "."
        out += words
    return " ".join(out)


def token_count(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` alone (no special tokens), as the model's tokenizer splits it."""
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])  # no "longer than" warning


def synthetic_text(tokenizer: Any, target_tokens: int, rng: random.Random) -> str:
    """A text of real words whose token count is ``target_tokens`` or just below (never above).

    Words are dropped from the end of an over-long draw until it fits; a word of several word pieces can
    leave it a token or two short, so callers record the exact count (:func:`token_count`).
    """
    if target_tokens < 1:
        raise ValueError(f"target_tokens must be >= 1, got {target_tokens}")
    words = _sentence_words(rng, target_tokens + 16).split()
    low, high = 0, len(words)  # binary search on the number of words kept: token counts grow with it
    while low < high:
        mid = (low + high + 1) // 2
        if token_count(tokenizer, " ".join(words[:mid])) <= target_tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])


def synthetic_texts(tokenizer: Any, target_tokens: int, n: int, seed: int = 0) -> list[str]:
    """``n`` different texts of about ``target_tokens`` tokens (seeded)."""
    rng = random.Random(f"{seed}-{target_tokens}")
    return [synthetic_text(tokenizer, target_tokens, rng) for _ in range(n)]


def label_pool(tokenizer: Any, n: int) -> list[str]:
    """``n`` distinct real-word labels, those with the fewest tokens first (then in list order).

    Few tokens per label keeps the label block of the uni-encoder as small as the vocabulary allows, so the
    label-scaling curve measures labels, not long label strings.
    """
    if n > len(LABEL_WORDS):
        raise ValueError(f"at most {len(LABEL_WORDS)} synthetic labels are available, asked for {n}")
    ranked = sorted(range(len(LABEL_WORDS)), key=lambda i: (token_count(tokenizer, LABEL_WORDS[i]), i))
    return [LABEL_WORDS[i] for i in ranked[:n]]


def dev_mix(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A realistic mix: half short Rotten Tomatoes snippets, half BBC News articles, seeded, shuffled.

    Items are ``{"text", "source"}``. The cached corpora of :mod:`uniclass_lab.corpora` are used (fetched on
    first use). The order is shuffled so that a batcher which does not sort by length pays for it.
    """
    from ..eval_data import load_eval_data

    if n < 2:
        raise ValueError(f"the dev mix needs at least 2 texts, got {n}")
    short = load_eval_data("rotten_tomatoes", n - n // 2, seed=seed)
    long = load_eval_data("bbc_news", n // 2, seed=seed)
    items = [{"text": e.text, "source": "rotten_tomatoes"} for e in short]
    items += [{"text": e.text, "source": "bbc_news"} for e in long]
    random.Random(seed).shuffle(items)
    return items


# ====================================================================== models under test
@dataclass
class Contender:
    """One model in a speed comparison, behind a common ``scores(texts, labels)`` call.

    ``module`` is the torch module whose forward calls are recorded (batch shapes); ``texts_for`` says how
    many texts one timed call gets for a label count (the cross-encoder gets fewer, see ``NLICrossEncoder``).
    """

    name: str
    kind: str
    scores: Callable[[list[str], list[str]], Any]
    module: Any
    note: str = ""
    tokenizer: Any = None  # the tokenizer that defines the token counts of the texts it is given
    texts_for: Callable[[int, int], int] = lambda labels, texts: texts
    fit_info: Callable[[list[str], list[str]], dict[str, Any]] = field(default=lambda texts, labels: {})


def gliclass_contender(name: str, clf: Any, batch_size: int, note: str = "") -> Contender:
    """A uniclass ``Classifier`` (uni- or bi-encoder) as a contender; fit info comes from ``predict``."""

    def fit_info(texts: list[str], labels: list[str]) -> dict[str, Any]:
        predictions = clf.predict(texts, labels, batch_size=batch_size)
        return {
            "texts_truncated": sum(p.truncated for p in predictions),
            "text_tokens_used_min": min(p.text_tokens_used for p in predictions),
            "label_groups_max": max(p.label_groups for p in predictions),
        }

    return Contender(
        name=name,
        kind=clf.config.architecture_type,
        scores=lambda texts, labels: clf.scores(texts, labels, batch_size=batch_size),
        module=torch_module(clf),
        note=note,
        tokenizer=clf.tokenizer,
        fit_info=fit_info,
    )


class NLICrossEncoder(NLIBaseline):
    """The NLI baseline as the label benchmark times it: a fresh seeded 3-way head on the backbone.

    Pairs are made text by text in label order and run ``batch_size`` pairs at a time, truncating only the
    text (``only_first``) to ``max_length``. A random head costs the same as a trained one, so timing does not
    need an NLI checkpoint. The score of a label is the softmax of (contradiction, entailment) as in the
    pipeline's multi-label mode (see ``baselines.NLIBaseline``, the one NLI baseline).
    """

    def __init__(self, backbone: str | Path, *, batch_size: int = 32, max_length: int = 512, seed: int = 0,
                 device: str = "cpu"):
        super().__init__(backbone, max_length, device, num_labels=3, seed=seed, sort_by_length=False)
        self.batch_size = batch_size

    def scores(self, texts: Sequence[str], labels: Sequence[str], **_: Any) -> list[list[float]]:
        return super().scores(texts, labels, multi_label=True, batch_size=self.batch_size)


def nli_contender(backbone: str | Path, batch_size: int, max_length: int, pair_budget: int,
                  backbone_name: str | None = None, device: str = "cpu") -> Contender:
    """The NLI cross-encoder; one timed call gets at most ``pair_budget`` pairs (at least one text).

    Its cost is linear in the label count, so at 128 labels a call over as many texts as the GLiClass models
    get would take minutes on 2 cores; throughput (texts/s) is the same quantity either way.
    """
    model = NLICrossEncoder(backbone, batch_size=batch_size, max_length=max_length, device=device)
    return Contender(
        name="NLI cross-encoder",
        kind="cross-encoder",
        scores=model.scores,
        module=model.model,
        tokenizer=model.tokenizer,
        note=f"{backbone_name or Path(str(backbone)).name} + random 3-way head; one pair per label, "
        f"{batch_size} pairs per batch, "
        f"at most {pair_budget} pairs per timed call",
        texts_for=lambda labels, texts: max(1, min(texts, pair_budget // labels)),
    )
