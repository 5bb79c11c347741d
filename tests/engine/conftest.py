"""Fixtures for engine tests: the fake OpenAI-compatible server and small workspaces using it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI


@pytest.fixture
def fake_server():
    with FakeOpenAI() as server:
        yield server


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def workspace(tmp_path, fake_server):
    """A workspace whose default connection is the fake server; returns a file writer."""
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local, model: gpt-4o-mini}\n"
        f"connections:\n  local: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n",
        encoding="utf-8")

    def make(files: dict[str, str]) -> Path:
        return write(tmp_path, files)

    make.root = tmp_path
    make.server = fake_server
    return make

