"""`promptwise connections list|test`: what a workspace resolves, never a secret value, and one
cheap call per connection against the local fake model."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI

KEY = "local-secret-key-123456"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local}\n"
        "connections:\n"
        "  local:\n    type: openai_compatible\n    base_url: ${env:PW_TEST_URL}\n    api_key: ${env:PW_TEST_KEY}\n"
        "  azure:\n    type: azure_openai\n    azure_endpoint: ${env:PW_TEST_AZURE}\n    api_key: ${env:PW_TEST_AZURE_KEY}\n"
        "    api_version: 2024-10-21\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PW_TEST_KEY", KEY)
    monkeypatch.delenv("PW_TEST_AZURE", raising=False)
    monkeypatch.delenv("PW_TEST_AZURE_KEY", raising=False)
    return tmp_path


def test_list_shows_hosts_and_variables_never_secrets(workspace, monkeypatch, capsys):
    monkeypatch.setenv("PW_TEST_URL", f"http://user:{KEY}@127.0.0.1:9/v1")
    assert main(["connections", "list", "--format", "json"]) == 1  # azure's variables are not set
    out = capsys.readouterr().out
    assert KEY not in out
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["local"]["host"] == "127.0.0.1:9" and rows["local"]["default"] is True
    assert rows["local"]["env"] == {"PW_TEST_KEY": True, "PW_TEST_URL": True}
    assert rows["local"]["auth"] == "api key" and rows["local"]["ok"] is True
    assert rows["azure"]["ok"] is False and "PW_TEST_AZURE" in rows["azure"]["error"]
    assert rows["azure"]["env"] == {"PW_TEST_AZURE": False, "PW_TEST_AZURE_KEY": False}


def test_test_calls_each_connection_once(workspace, monkeypatch, capsys):
    with FakeOpenAI(api_key=KEY) as server:
        monkeypatch.setenv("PW_TEST_URL", server.base_url)
        assert main(["connections", "test", "local", "--format", "json"]) == 0
        assert server.stats.requests == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["ok"] is True and row["latency_ms"] >= 0 and row["error"] is None


def test_test_reports_a_refused_key_redacted(workspace, monkeypatch, capsys):
    with FakeOpenAI(api_key="another-key-entirely", echo_credentials=True) as server:
        monkeypatch.setenv("PW_TEST_URL", server.base_url)
        assert main(["connections", "test", "local"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("local: error") and "auth" in out
    assert KEY not in out


def test_unreachable_endpoint_is_an_error_not_a_traceback(workspace, monkeypatch, capsys):
    monkeypatch.setenv("PW_TEST_URL", "http://127.0.0.1:9/v1")
    assert main(["connections", "test", "local", "--timeout", "5"]) == 1
    captured = capsys.readouterr()
    assert "local: error" in captured.out and "Traceback" not in captured.err
