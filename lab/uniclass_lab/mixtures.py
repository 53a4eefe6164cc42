"""Training mixtures of the default model's recipes: corpus components, repeated, shuffled with a seed, written
atomically as one JSONL file.

Kept in the package (not in a recipe script) because several scripts build the same files: the v2 recipe
(``recipes/train_default.py``), its GPU sweep (``recipes/gpu_sweep.py``), v1 (``recipes/train_v1.py``) and the
studies of ``benchmarks/`` that start from v1's mixture. The same seed gives the same bytes everywhere.
Only training corpora are used, never an evaluation set (see :func:`uniclass_lab.corpora.eval_sets`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 13
WORDNET_SAMPLE = 40_000  # v1's sample (``recipes/train_v1.py``), kept for the sweep's control runs
WORDNET_HARD_SAMPLE = 60_000

# Mixtures: (component, repeats). Components are built by ``build_components``.
MIXTURES: dict[str, list[tuple[str, int]]] = {
    "shipped": [("snli", 1), ("vader", 2), ("wordnet40k", 1)],  # v1's mixture
    "shipped_topics": [("snli", 1), ("vader", 2), ("wordnet40k", 1), ("topics", 3)],
    "hard": [("snli", 1), ("vader", 2), ("wordnet_hard", 1)],
    "hard_topics": [("snli", 1), ("vader", 2), ("wordnet_hard", 1), ("topics_hard", 3)],
    "hard_topics_nosnli": [("vader", 2), ("wordnet_hard", 1), ("topics_hard", 3)],
}


def build_components() -> dict[str, list[str]]:
    """Every mixture component as JSONL lines, from ``uniclass_lab.corpora`` (fetched into its cache).

    ``snli``, ``vader``, ``topics``: the corpora as fetched; ``wordnet40k``: v1's seeded 40,000-gloss sample;
    ``wordnet_hard``: 60,000 seeded glosses converted with 6 supersense + 8 hypernym negatives;
    ``topics_hard``: ``wordnet_topics`` converted with 12 negatives. The converters keep their guarantees
    (a negative is never the gloss's own lemma or an ancestor's).
    """
    from .corpora import convert_wordnet, convert_wordnet_topics, default_cache_dir, fetch

    rng = random.Random(SEED)
    wordnet = fetch("wordnet").read_text(encoding="utf-8").splitlines()
    components = {
        "snli": fetch("snli").read_text(encoding="utf-8").splitlines(),
        "vader": fetch("vader").read_text(encoding="utf-8").splitlines(),
        "wordnet40k": rng.sample(wordnet, WORDNET_SAMPLE),
        "topics": fetch("wordnet_topics").read_text(encoding="utf-8").splitlines(),
    }
    raw = default_cache_dir() / "raw" / "wordnet" / "root/usr/share/wordnet"
    hard = [json.dumps(e) for e in convert_wordnet(raw, n_supersense_negatives=6, n_hypernym_negatives=8)]
    components["wordnet_hard"] = random.Random(SEED + 1).sample(hard, WORDNET_HARD_SAMPLE)
    components["topics_hard"] = [json.dumps(e) for e in convert_wordnet_topics(raw, n_negatives=12)]
    return components


def mix(components: dict[str, list[str]], mixture: str, path: Path) -> Path:
    """Write the shuffled JSONL of ``mixture`` (seeded: the same file every time), atomically."""
    lines: list[str] = []
    for component, repeats in MIXTURES[mixture]:
        lines += components[component] * repeats
    return write_shuffled(path, lines, random.Random(SEED))


def write_shuffled(path: Path, lines: list[str], rng: random.Random) -> Path:
    """Shuffle ``lines`` with ``rng`` and write them atomically (an interrupted write leaves no mixture)."""
    rng.shuffle(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.rename(path)
    return path


def build_v1_mixture(path: Path) -> Path:
    """v1's mixture (all of ``snli``, ``vader`` twice, a seeded 40,000-gloss ``wordnet`` sample), written once.

    Read from the corpora directly (not through ``build_components``): this is the order in which v1 drew
    its random numbers, so the file is byte for byte the one v1 and the studies of ``benchmarks/`` used.
    """
    from .corpora import fetch

    if path.is_file():
        return path
    rng = random.Random(SEED)
    lines: list[str] = []
    lines += fetch("snli").read_text(encoding="utf-8").splitlines()
    lines += fetch("vader").read_text(encoding="utf-8").splitlines() * 2
    wordnet = fetch("wordnet").read_text(encoding="utf-8").splitlines()
    lines += rng.sample(wordnet, WORDNET_SAMPLE)
    return write_shuffled(path, lines, rng)
