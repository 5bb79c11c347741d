"""A real `promptwise serve` with `tracing.encrypt`: the served requests' inputs, prompts and
replies are sealed in the trace store's files; `promptwise monitor` computes its figures without
the key; `traces show` opens the content with it."""

from __future__ import annotations

import json

import httpx
import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

KEY = "s" * 40
MARKER = "QUOKKAMARKER"


@pytest.fixture(scope="module")
def fake_model():
    with FakeOpenAI(rules=[(MARKER, f"echo {MARKER.lower()}")]) as server:
        yield server


def test_served_content_is_sealed_and_figures_need_no_key(tmp_path, fake_model, monkeypatch, capsys):
    root = write_workspace(tmp_path, fake_model.base_url, ECHO_PROMPTY)
    with open(root / "promptwise.yaml", "a", encoding="utf-8") as settings:
        settings.write("tracing:\n  encrypt:\n    key: ${env:PROMPTWISE_STORE_KEY}\n")
    server = ServeProcess(root / "echo.prompty", env={"PROMPTWISE_STORE_KEY": KEY})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(3):
                assert client.post("/score", json={"question": f"say {MARKER}"}).status_code == 200
    finally:
        server.stop()
    stored = b"".join(path.read_bytes() for path in (root / ".promptwise").glob("traces.sqlite*"))
    assert stored and MARKER.encode() not in stored and MARKER.lower().encode() not in stored

    monkeypatch.chdir(root)
    monkeypatch.delenv("PROMPTWISE_STORE_KEY", raising=False)
    assert main(["monitor", "--format", "json"]) == 0
    assert "requests" in capsys.readouterr().out  # figures without the key
    assert main(["traces", "list", "--format", "json"]) == 0
    trace_id = json.loads(capsys.readouterr().out)[0]["trace_id"]
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    assert main(["traces", "show", trace_id, "--format", "json"]) == 0
    assert MARKER in capsys.readouterr().out
