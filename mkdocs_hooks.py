"""MkDocs hook: publish benchmarks/RESULTS.md and its raw results in the site, without a copy under docs/.

The measurements stay where the benchmark scripts write them; the site shows them at the same paths
(``benchmarks/RESULTS.md``, ``benchmarks/results/...``), so the links inside RESULTS.md to ``results/...`` (figures,
JSON, tables) resolve as they do on GitHub. Guide pages link to the file where it is in the repository
(``../../benchmarks/RESULTS.md`` from ``docs/guide/``), which works on GitHub; ``on_page_markdown`` drops the one
``../`` that leaves ``docs/`` so the same link finds the published copy in the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
RESULTS_PAGE = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_FOLDER = ROOT / "benchmarks" / "results"


def on_files(files: Files, config: Any) -> Files:
    """Add RESULTS.md and every file under benchmarks/results/ as documentation files at their repository paths."""
    published = [RESULTS_PAGE, *sorted(path for path in RESULTS_FOLDER.rglob("*") if path.is_file())]
    for source in published:
        relative = source.relative_to(ROOT).as_posix()
        files.append(File(relative, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite a docs page's links to the repository's ``benchmarks/`` folder (one ``../`` more than the page's
    depth under docs/) into links to the published copy (one ``../`` fewer)."""
    source = page.file.src_uri
    if source.startswith("benchmarks/"):  # RESULTS.md itself links to results/ relatively, as on GitHub
        return markdown
    depth = source.count("/")
    to_repository = re.escape("../" * (depth + 1)) + "benchmarks/"
    return re.sub(r"\]\(" + to_repository, "](" + "../" * depth + "benchmarks/", markdown)
