"""Size and contents of the wheel built from this checkout: bytes, files, Python modules and lines, and any
research module (corpora, recipes, official-package benchmarks, the selection suite, the lab) that slipped in.

    python benchmarks/wheel_contents.py [CHECKOUT]     # prints one JSON object (default: this checkout)

To compare with an earlier version: ``git worktree add /tmp/before COMMIT`` and pass ``/tmp/before``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESEARCH = ("corpora", "recipe", "official", "uniclass_lab", "mixtures", "baselines", "suite")


def wheel_contents(wheel: Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        modules = [name for name in names if name.endswith(".py")]
        lines = sum(archive.read(name).count(b"\n") for name in modules)
    return {"wheel": wheel.name, "bytes": wheel.stat().st_size, "files": len(names), "python_modules": len(modules),
            "python_lines": lines, "research_modules": [n for n in modules if any(k in n for k in RESEARCH)]}


def main(argv: list[str]) -> int:
    checkout = Path(argv[0]).resolve() if argv else ROOT
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", out, str(checkout)], check=True, cwd=out)
        print(json.dumps(wheel_contents(next(Path(out).glob("*.whl"))), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
