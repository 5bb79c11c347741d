"""Helpers of the hostile-file and fuzz tests: the CLI in a subprocess under a memory limit
and a time bound, hostile projects, and the language-server helpers of tests/lsp (reused, not
copied: tests/lsp is put on the import path)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parents[1] / "lsp"))

# Generous bounds: they catch a hang or a runaway allocation (the defects seen were minutes
# and gigabytes), not a slow machine. Address space includes the interpreter and libraries.
CLI_TIMEOUT = 90  # seconds
CLI_ADDRESS_SPACE = 1024 * 2**20  # bytes

# Markers of an internal error: the PW000 problem and a Python traceback.
INTERNAL_ERROR_MARKERS = ("PW000", "Traceback (most recent call last)")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_ADDRESS_SPACE, CLI_ADDRESS_SPACE))


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`promptwise ARGS` in a subprocess with a memory limit; raises on a timeout."""
    return subprocess.run(
        [sys.executable, "-m", "promptwise", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        preexec_fn=_limit_memory,
    )


def assert_no_internal_error(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    for marker in INTERNAL_ERROR_MARKERS:
        assert marker not in output, output[-3000:]
    assert "MemoryError" not in output, output[-3000:]


def build_project(root: Path, files: dict[str, str], watched: Path) -> Path:
    """A project holding `files` (MARKER -> a file in `watched`) beside the neighbours hostile
    paths point at: a FIFO, a link to /dev/zero, a template outside the project."""
    from strategies import MARKER

    root.mkdir(parents=True, exist_ok=True)
    marker = str(watched / "created-by-template")
    for name, text in files.items():
        data = text.replace(MARKER, marker).encode("utf-8", errors="surrogateescape")
        (root / name).write_bytes(data)
    fifo = root / "pipe.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    link = root / "zero-link.jinja2"
    if not link.is_symlink():
        link.symlink_to("/dev/zero")
    for name, text in (("ask.jinja2", "system:\nhi {{ q }}\n"), ("tool.py", "def f(q: str) -> str:\n    return q\n"),
                       ("sample.json", '{"q": "hi"}'), ("../outside.jinja2", "system:\noutside\n")):
        target = root / name
        if not target.exists():
            target.write_text(text, encoding="utf-8")
    return root


def settle_check(result: subprocess.CompletedProcess) -> None:
    """`promptwise check` ended on its own (0: clean, 1: problems found; 2: usage) with no
    internal error and was not killed by the memory limit."""
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr[-3000:])
    assert_no_internal_error(result)
