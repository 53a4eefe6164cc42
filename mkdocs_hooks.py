"""MkDocs hook: publish benchmarks/RESULTS.md and its figures in the site, without a copy under docs/.

The measurements stay where the benchmark scripts write them; the site shows them as ``benchmarks/RESULTS.md``, so
guide pages link to ``../benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent
PUBLISHED = ["benchmarks/RESULTS.md", "benchmarks/results/speed/labels.png"]


def on_files(files: Files, config: Any) -> Files:
    """Add each published file of the repository as a documentation file at the same path."""
    for relative in PUBLISHED:
        source = ROOT / relative
        if source.exists():
            files.append(File(relative, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files
