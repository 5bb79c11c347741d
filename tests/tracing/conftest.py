"""Fixtures for tracing tests: the fake OpenAI-compatible server, a workspace that uses it, and
tracing switched off again after every test (the OTel provider is process-wide)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from promptwise import tracing
from promptwise.devtools.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def tracing_off_afterwards(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
                 "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    yield
    tracing.shutdown()


@pytest.fixture(scope="module")
def fake_server():
    with FakeOpenAI(rules=[(r"capital of France", "Paris")]) as server:
        yield server


@pytest.fixture
def traced_workspace(tmp_path: Path, fake_server: FakeOpenAI):
    """A workspace using the fake server, with `settings` appended to promptwise.yaml; returns
    a writer of flow files (relative path -> text) that returns the workspace root."""

    def make(files: dict[str, str], settings: str = "") -> Path:
        (tmp_path / "promptwise.yaml").write_text(
            "defaults: {connection: local, model: gpt-4o-mini}\n"
            f"connections:\n  local: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n"
            + textwrap.dedent(settings), encoding="utf-8")
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return make
