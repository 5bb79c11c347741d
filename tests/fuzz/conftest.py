"""Fixtures of the hostile-file and fuzz tests (helpers live in fuzz_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


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
