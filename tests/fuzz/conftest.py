"""Shared pieces of the hostile-file and fuzz tests: the CLI in a subprocess under a memory
limit and a time bound, a watched folder that no file may appear in, and the language-server
client of tests/lsp (its helpers are reused, not copied)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "lsp"))

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


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    """A folder hostile templates try to create files in; tests assert it stays empty."""
    folder = tmp_path / "watched"
    folder.mkdir()
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder
