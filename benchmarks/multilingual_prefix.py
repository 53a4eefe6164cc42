"""Variants 5 and 6 of ``uniclass-multilingual``: e5's own input convention (``"query: "`` and a label prompt).

e5 similarity reads ``"query: <text>"`` and ``"query: This text is about <label>."``; the shipped model's pass reads
the bare text and label. Variant 5 runs the shipped head and e5 term over the prefixed vectors (one pass, as
shipped); variant 6 keeps the head on the bare vectors and takes the term from the prefixed ones (two passes).
Nothing is trained. Roles, grid and rule: ``recipes/multilingual_protocol.json`` (``variants.prefix``), fixed
before any result. The bare vectors and the baseline's prefixed vectors come from the same caches as
``multilingual_e5_term.py`` (English texts at the model's 512-token window); the shipped scorer's cached logits are
checked against ``Classifier.predict`` on the first items of every set::

    OMP_NUM_THREADS=2 python benchmarks/multilingual_prefix.py --run /work/runs/multiling23 \\
        --native-run /work/runs/ml23b --english-run /work/runs/ml23c --out benchmarks/results/multilingual_prefix.json

Variant 7 (``variants.prefix_retrained``: the head retrained on the prefixed vectors, now shipped) is scored against
variant 5 with ``--retrained`` (the folder of ``recipes/train_multilingual.py --variants head-mix-prefixed``, or the
shipped model) and ``--base`` (the variant-3 folder as it shipped before: ``git archive f5ba18b
src/uniclass/models/uniclass-multilingual``; ``--variants head-mix --out DIR`` rebuilds it up to float rounding)::

    python benchmarks/multilingual_prefix.py ... --base RUN/head-mix --retrained src/uniclass/models/uniclass-multilingual \\
        --out benchmarks/results/multilingual_prefix_retrained.json

Variant 8 (``variants.prefix_english``: the English mix on the prefixed inputs) is scored against the shipped model
with ``--retrained DIR/head-mix-english-prefixed --against-shipped``; variant 9 (``variants.grid_extension``: both
prefixed heads at w = 80, 160, 320, the English target as a constraint) with ``--retrained
DIR/head-mix-english-prefixed --grid-extension``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from multilingual_e5_term import (  # next to this file
    all_matrices,
    add_cache_arguments,
    check,
    english_macro_f1,
    load_sets,
    log,
    means,
    predictions,
)
from uniclass_lab.recipe_steps import multilingual as ml  # research code: PYTHONPATH=lab
from v4_study import PROTOCOL as V4


def scored(groups: dict[str, dict[str, Any]], matrices: dict[str, Any], score: Any, languages: list[str]) -> dict:
    """Per-set macro-F1 and the protocol's group means for ``score(key) -> [texts, labels] matrix``."""
    per: dict[str, dict[str, dict[str, float]]] = {"english": {}, "ml": {}, "native": {}}
    for name, (data, _) in groups["english"].items():
        per["english"].setdefault("en", {})[name] = round(english_macro_f1(data, score(name)), 4)
    for group in ("ml", "native"):
        for key, (data, _) in groups[group].items():
            lang, name = key.split(".", 1)
            gold, pred = predictions(data, score(f"{group}:{key}"))
            per[group].setdefault(lang, {})[name] = round(ml.macro_f1(gold, pred), 4)
    return {"means": means(per, languages), "per_set": per}


def load_head(folder: str | Path) -> tuple[Any, Any]:
    """``(Classifier, its head over cached vectors)`` of a model folder (or bundled name)."""
    from uniclass import Classifier

    clf = Classifier.from_pretrained(str(folder), device="cpu")
    return clf, ml.Head(clf.model.model).eval()


def run_groups(args: argparse.Namespace, base: tuple[Any, Any], languages: list[str], english: list[str],
               points: list[tuple[str, float]], retrained: tuple[Any, Any] | None = None,
               shipped: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Every scorer of ``points`` (and the references) on the groups of ``languages`` and ``english`` sets.

    ``base`` is variant 3 (bare pass); ``retrained``: a head trained on the prefixed vectors (variant 7 or 8);
    ``shipped``: the shipped model (variant 7), the reference of variant 8. Each model that reads the prefixed
    convention is checked against ``Classifier.predict`` on the prefixed vectors, as ``base`` on the bare ones."""
    bare = load_sets(args, languages, english)
    prefixed = load_sets(args, languages, english, prefixed=True)
    for model, groups in ((base, bare), (retrained, prefixed), (shipped, prefixed)):
        if model is not None and (model is base or model[0].config.text_prefix):
            for group in groups.values():
                for key, (data, items) in group.items():
                    check(model[0], model[1], data, items, key)
    bare_m = all_matrices(base[1], bare)  # (head logits, cosine) on the bare vectors
    pre_m = all_matrices(base[1], prefixed)
    scorers: dict[str, Any] = {
        "shipped (variant 3, w = 40)": lambda k: bare_m[k][0] + 40.0 * bare_m[k][1],
        "e5 similarity": lambda k: pre_m[k][1],
    }
    if retrained is not None:  # a retrained head (variant 7 or 8) on the same prefixed vectors
        re_m = all_matrices(retrained[1], prefixed)
    if shipped is not None:  # the shipped model (variant 7, w = 80), the reference of variant 8
        sh_m = all_matrices(shipped[1], prefixed)
        scorers["7: shipped, w = 80"] = lambda k: sh_m[k][0] + 80.0 * sh_m[k][1]
    for variant, w in points:
        if variant == "7":
            scorers[f"7: retrained on prefixed inputs, w = {w:g}"] = lambda k, w=w: re_m[k][0] + w * re_m[k][1]
        elif variant == "8":
            scorers[f"8: English mix on prefixed inputs, w = {w:g}"] = lambda k, w=w: re_m[k][0] + w * re_m[k][1]
        elif variant == "9s":
            scorers[f"9: shipped head, w = {w:g}"] = lambda k, w=w: sh_m[k][0] + w * sh_m[k][1]
        elif variant == "9e":
            scorers[f"9: English-mix head, w = {w:g}"] = lambda k, w=w: re_m[k][0] + w * re_m[k][1]
        elif variant == "5":
            scorers[f"5: prefixed pass, w = {w:g}"] = lambda k, w=w: pre_m[k][0] + w * pre_m[k][1]
        else:
            scorers[f"6: two passes, w = {w:g}"] = lambda k, w=w: bare_m[k][0] + w * pre_m[k][1]
    out = {}
    for name, score in scorers.items():
        out[name] = scored(bare, bare_m, score, languages)
        log(f"{name}: {out[name]['means']}")
    return out


def run_round(args: argparse.Namespace, proto: dict[str, Any], base: tuple[Any, Any], candidates: str,
              points: list[tuple[str, float]], reference: str, kept: list[tuple[str, float]],
              retrained: tuple[Any, Any] | None = None, shipped: tuple[Any, Any] | None = None) -> int:
    """One round of the protocol: ``points`` on the selection groups; the rule chooses among the scorers whose
    variant is in ``candidates`` (highest mean of the group means, ties to the earlier point) and ships it only if
    it beats ``reference``; then the report-only groups once, for ``kept`` and the chosen point."""
    models = {"retrained": retrained, "shipped": shipped}
    result: dict[str, Any] = {"protocol": proto}
    result["selection"] = run_groups(args, base, ml.protocol()["selection_languages"], list(V4["selection"]),
                                     points, **models)
    names = [k for k in result["selection"] if k.split(":")[0] in candidates]
    chosen = max(names, key=lambda k: (result["selection"][k]["means"]["mean"], -names.index(k)))
    result["chosen"] = chosen
    result["ships"] = result["selection"][chosen]["means"]["mean"] > result["selection"][reference]["means"]["mean"]
    log(f"chosen {chosen}; ships: {result['ships']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    point = (chosen.split(":")[0], float(chosen.rsplit("=", 1)[1]))
    result["report_only"] = run_groups(args, base, ml.protocol()["report_only_languages"], list(V4["report_only"]),
                                       [*kept, point], **models)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def run_grid_extension(args: argparse.Namespace, proto: dict[str, Any], base: tuple[Any, Any]) -> int:
    """Variant 9: both prefixed heads at a wider ``w``, chosen under the English constraint of ``proto``.

    Only points whose English selection mean reaches e5 similarity's, and whose held-out-language mean with English
    labels is at least e5 similarity's + 0.05, compete (highest three-group mean; ties to the shipped head, then the
    smaller ``w``); the winner ships if it is not the shipped point and is at most 0.005 below it."""
    models = {"retrained": load_head(args.retrained), "shipped": load_head("uniclass-multilingual")}
    points = [(head, float(w)) for head in ("9s", "9e") for w in proto["grid"]]
    result: dict[str, Any] = {"protocol": proto}
    result["selection"] = sel = run_groups(args, base, ml.protocol()["selection_languages"], list(V4["selection"]),
                                           points, **models)
    e5 = sel["e5 similarity"]["means"]
    names = [k for k in sel if k.startswith("9:")]
    eligible = [k for k in names if sel[k]["means"]["english"] >= e5["english"]
                and sel[k]["means"]["english_labels"] >= e5["english_labels"] + 0.05]
    result["eligible"] = eligible
    chosen = max(eligible, key=lambda k: (sel[k]["means"]["mean"], -names.index(k))) if eligible else None
    shipped = "9: shipped head, w = 80"
    result["chosen"] = chosen
    result["ships"] = bool(chosen and chosen != shipped
                           and sel[chosen]["means"]["mean"] >= sel[shipped]["means"]["mean"] - 0.005)
    log(f"eligible {eligible}; chosen {chosen}; ships: {result['ships']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if result["ships"]:
        head = "9s" if chosen.startswith("9: shipped") else "9e"
        kept = [("9s", 80.0), (head, float(chosen.rsplit("=", 1)[1]))]
        result["report_only"] = run_groups(args, base, ml.protocol()["report_only_languages"],
                                           list(V4["report_only"]), kept, **models)
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cache_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multilingual_prefix.json"))
    parser.add_argument("--base", default="uniclass-multilingual",
                        help="the variant-3 model folder (bare pass, w = 40); since variant 7 shipped, its folder from git "
                             "history (see above)")
    parser.add_argument("--retrained", type=Path, default=None,
                        help="variant 7 (or 8): the delta folder written by train_multilingual.py (head-mix-prefixed)")
    parser.add_argument("--against-shipped", action="store_true",
                        help="variant 8: score --retrained (head-mix-english-prefixed) against the shipped model")
    parser.add_argument("--grid-extension", action="store_true",
                        help="variant 9: the shipped head and --retrained (head-mix-english-prefixed) at w = 80, 160, 320")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = load_head(args.base)
    if base[0].config.text_prefix or base[0].config.backbone_similarity_weight != 40.0:
        raise SystemExit(f"{args.base} is not the variant-3 model (bare pass, w = 40); see --base")
    variants = ml.protocol()["variants"]
    if args.retrained and args.grid_extension:
        return run_grid_extension(args, variants["grid_extension"], base)
    if args.retrained and args.against_shipped:  # variant 8 against the shipped model (variant 7)
        proto = variants["prefix_english"]
        return run_round(args, proto, base, "8", [("8", float(w)) for w in proto["grid"]], "7: shipped, w = 80", [],
                         retrained=load_head(args.retrained), shipped=load_head("uniclass-multilingual"))
    if args.retrained:  # variant 7 against variant 5 at w = 40
        proto = variants["prefix_retrained"]
        return run_round(args, proto, base, "7", [("5", 40.0)] + [("7", float(w)) for w in proto["grid"]],
                         "5: prefixed pass, w = 40", [("5", 40.0)], retrained=load_head(args.retrained))
    proto = variants["prefix"]  # variants 5 and 6 against variant 3 (ties to variant 5, then the smaller w)
    return run_round(args, proto, base, "56", [(v, float(w)) for v in ("5", "6") for w in proto["grid"]],
                     "shipped (variant 3, w = 40)", [])


if __name__ == "__main__":
    sys.exit(main())
