"""Fixtures: a copy of a sample workspace, and a client connected to `promptwise lsp` over
stdio, initialised on that workspace (push diagnostics by default; `pull_client` for pull).

Each fixture is function-scoped, like the tests' event loops (a mismatch hangs pytest-lsp).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI

from lsp_support import CONFIG, RUN_CONFIG, copy_workspace, initialize_params, shutdown


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


@pytest.fixture
def fake_llm():
    """The fake OpenAI-compatible server (its own thread), answering slowly enough that a
    batch can be watched and cancelled."""
    with FakeOpenAI(latency=0.05) as server:
        yield server


@pytest.fixture
def run_workspace(tmp_path: Path, fake_llm: FakeOpenAI) -> Path:
    root = copy_workspace("triage", tmp_path)
    (root / "promptwise.yaml").write_text(
        "connections:\n"
        "  open_ai_connection:\n"
        "    type: openai_compatible\n"
        f"    base_url: {fake_llm.base_url}\n"
        "    api_key: ${env:OPENAI_API_KEY}\n"
    )
    logs = ["Disk full on /var", "Connection refused by db01", "NullPointerException in Billing"]
    (root / "data.jsonl").write_text(
        "".join(f'{{"log_text": "{logs[i % 3]} #{i}", "language": "en"}}\n' for i in range(40))
    )
    return root


@pytest_lsp.fixture(config=RUN_CONFIG)
async def run_client(lsp_client: LanguageClient, run_workspace: Path):
    await lsp_client.initialize_session(initialize_params(run_workspace))
    yield
    await shutdown(lsp_client)
