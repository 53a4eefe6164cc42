"""Every example in README.md and docs/**/*.md runs, and its printed output is checked, so examples cannot drift.

The conventions (also in CONTRIBUTING.md):

* ```pycon blocks are Python sessions, checked by doctest with ELLIPSIS and NORMALIZE_WHITESPACE. The blocks of one
  page share one namespace, in order, and run in a fresh temporary directory.
* ```console blocks hold shell commands, each line starting with ``$ ``, followed by the expected standard output.
  A line ``...`` matches any number of lines, ``...`` inside a line matches anything. Commands run with bash in the
  page's temporary directory (the same one as its pycon blocks), with this environment's ``uniclass`` first on PATH
  and ``HF_HUB_OFFLINE=1``. A command ending in ``&`` starts in the background and is stopped when the page ends.
* Any other block (```bash, ```python, ```json ...) is shown, not run.

Pages are collected by globbing, so a page added later is tested without touching this file. The strict MkDocs build
of the site is tested here too.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
COMMAND_TIMEOUT_S = 300
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    """One fenced code block: its language, its text (indent removed) and the page line of its first text line."""

    lang: str
    text: str
    line: int


def fenced_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (indented ones, e.g. in list items, included)."""
    source = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(source):
        indent = len(match["indent"])
        body = "".join(line[indent:] if line[:indent].strip() == "" else line
                       for line in match["body"].splitlines(keepends=True))
        first_line = source.count("\n", 0, match.start("body")) + 1
        blocks.append(Block(match["lang"], body, first_line))
    return blocks


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def pages_with_examples() -> list[Path]:
    return [page for page in PAGES if any(block.lang in ("pycon", "console") for block in fenced_blocks(page))]


# ------------------------------------------------------------------------------------------------- console blocks
@dataclass
class Command:
    """One ``$ `` command of a console block with the output lines written under it."""

    command: str
    expected: list[str]
    line: int


def console_commands(block: Block) -> list[Command]:
    commands: list[Command] = []
    for offset, line in enumerate(block.text.splitlines()):
        if line.startswith("$ "):
            commands.append(Command(line[2:], [], block.line + offset))
        elif commands:
            commands[-1].expected.append(line)
        elif line.strip():
            raise AssertionError(f"line {block.line + offset}: console output before any `$ ` command")
    return commands


def output_pattern(expected: list[str]) -> re.Pattern[str]:
    """A regex for the whole output: a line `...` is any lines (or none), `...` inside a line any text."""
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("...")) + r"[ \t]*\n")
    return re.compile("".join(parts) + r"\Z", re.S)


def output_matches(expected: list[str], actual: str) -> bool:
    while expected and not expected[-1].strip():
        expected = expected[:-1]
    actual_lines = [line.rstrip() for line in actual.splitlines()]
    normalized = "".join(line + "\n" for line in actual_lines)
    return output_pattern(expected).match(normalized) is not None


def command_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HF_HUB_OFFLINE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    # the source tree first, so a checkout that is not installed in this environment still runs its own code
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p)
    return env


class ConsoleSession:
    """Runs the commands of one page in its directory; background commands are stopped by `close`."""

    def __init__(self, page: Path, cwd: Path) -> None:
        self.page, self.cwd, self.env = page, cwd, command_environment()
        self.background: list[subprocess.Popen[bytes]] = []

    def run(self, command: Command) -> str | None:
        """None if the command's output matches, else a failure message naming the page and line."""
        where = f"{page_id(self.page)}:{command.line}"
        if command.command.rstrip().endswith("&"):
            log = open(self.cwd / f"background-{command.line}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.background.append(subprocess.Popen(
                ["bash", "-c", command.command.rstrip()[:-1]], cwd=self.cwd, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            return None
        done = subprocess.run(["bash", "-c", command.command], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S)
        # a failing command is allowed only where its expected output shows the error (stderr included then)
        actual = done.stdout if done.returncode == 0 else done.stdout + done.stderr
        if done.returncode != 0 and not any(line.strip() for line in command.expected):
            return f"{where}: `{command.command}` exited with {done.returncode}\n{done.stderr[-2000:]}"
        if not output_matches(command.expected, actual):
            return (f"{where}: `{command.command}` printed\n{actual}\nexpected\n" + "\n".join(command.expected)
                    + (f"\nstderr:\n{done.stderr[-2000:]}" if done.stderr else ""))
        return None

    def close(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


# -------------------------------------------------------------------------------------------------- pycon blocks
def run_pycon(page: Path, block: Block, globs: dict[str, object]) -> str | None:
    """Run one pycon block in the page's namespace; None if every example printed what is written."""
    name = f"{page_id(page)}:{block.line}"
    test = doctest.DocTestParser().get_doctest(block.text, globs, name, str(page), block.line - 1)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    runner.run(test, out=report.append, clear_globs=False)
    globs.update(test.globs)  # DocTestParser copied the namespace: carry this block's names to the next block
    return "".join(report) or None


# ---------------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("page", pages_with_examples(), ids=page_id)
def test_examples_of_the_page_run_and_print_what_is_written(page: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pycon and console block of the page, in order, in one temporary directory and one namespace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    globs: dict[str, object] = {"__name__": "__main__"}
    session = ConsoleSession(page, tmp_path)
    failures: list[str] = []
    try:
        for block in fenced_blocks(page):
            if block.lang == "pycon":
                failure = run_pycon(page, block, globs)
                if failure:
                    failures.append(failure)
            elif block.lang == "console":
                for command in console_commands(block):
                    failure = session.run(command)
                    if failure:
                        failures.append(failure)
                        break  # the block's later commands usually build on this one
            if failures:
                break  # later blocks of the page build on earlier ones; report the first failure only
    finally:
        session.close()
    assert not failures, "\n".join(failures)


def test_every_page_with_code_is_collected() -> None:
    """README.md and the guide are found, and their code blocks use the languages the harness knows about."""
    assert ROOT / "README.md" in PAGES
    assert any(page.parent.name == "guide" for page in PAGES)
    assert pages_with_examples(), "no page has a pycon or console example"


def test_console_output_matching() -> None:
    """The wildcard rules of console blocks, checked on their own so a harness bug cannot pass every page."""
    assert output_matches(["a 0.9...", "..."], "a 0.93\nb\nc\n")
    assert output_matches(["...", "last"], "last\n")
    assert output_matches(["x"], "x  \n")
    assert not output_matches(["a 0.9..."], "a 0.83\n")
    assert not output_matches(["a"], "a\nb\n")
    assert not output_matches(["a", "b"], "a\n")


def test_pycon_failures_name_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text\n\n```pycon\n>>> 1 + 1\n3\n```\n", encoding="utf-8")
    (block,) = fenced_blocks(page)
    report = run_pycon(page, block, {})
    assert report is not None and "line 4" in report and "Expected:\n    3" in report


# ------------------------------------------------------------------------------------------------- the site build
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: broken links, missing nav pages and unparsable docstrings fail the tests."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert mkdocs is not None, "mkdocs is not installed: pip install -e '.[docs]'"
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          env=command_environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
