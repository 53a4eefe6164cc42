"""MkDocs hook: publish benchmarks/RESULTS.md and its raw results in the site, without a copy under docs/.

The measurements stay where the benchmark scripts write them; the site shows them at the same paths
(``benchmarks/RESULTS.md``, ``benchmarks/results/...``), so guide pages link to ``../benchmarks/RESULTS.md`` and the
links inside RESULTS.md to ``results/...`` (figures, JSON, tables) resolve as they do on GitHub.
"""

from __future__ import annotations

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
