"""Fixtures: a copy of a sample workspace, and a client connected to `promptwise lsp` over
stdio, initialised on that workspace (push diagnostics by default; `pull_client` for pull).

Each fixture is function-scoped, like the tests' event loops (a mismatch hangs pytest-lsp).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from lsp_support import CONFIG, copy_workspace, initialize_params, shutdown


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return copy_workspace("triage", tmp_path)


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(initialize_params(workspace))
    yield
    await shutdown(lsp_client)


@pytest_lsp.fixture(config=CONFIG)
async def pull_client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(initialize_params(workspace, pull=True))
    yield
    await shutdown(lsp_client)
