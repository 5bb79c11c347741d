"""Fixtures for evaluation tests: the fake OpenAI-compatible server and a workspace wired to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptwise.config import load_workspace
from promptwise.devtools.fake_openai import FakeOpenAI

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def fake_server():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def workspace_dir(tmp_path: Path, fake_server: FakeOpenAI) -> Path:
    """A workspace whose default connection is the fake server (no key needed)."""
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {model: gpt-4o-mini, connection: fake}\n"
        f"connections:\n  fake: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n",
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def workspace(workspace_dir: Path):
    return load_workspace(workspace_dir)


@pytest.fixture
def reference_pairs() -> list[dict]:
    lines = (DATA_DIR / "reference_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
