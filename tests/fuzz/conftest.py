"""Fixtures of the hostile-file and fuzz tests (helpers live in fuzz_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

import fuzz_support  # noqa: F401  (puts tests/lsp on the import path)
from lsp_support import CONFIG, initialize_params, shutdown


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


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, lsp_workspace: Path):
    """The language server on `lsp_workspace`, a fixture each test module defines."""
    await lsp_client.initialize_session(initialize_params(lsp_workspace))
    yield
    await shutdown(lsp_client)
