"""`connections list`: a connection that does not resolve (its key's variable not set) still shows
the endpoint host its settings write; it showed `endpoint ?`. A host read from a variable stays
unshown, and no secret is printed."""

from __future__ import annotations

import json

from promptwise.cli import main


def test_unresolved_connection_shows_its_written_host(tmp_path, monkeypatch, capsys):
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n"
        "  written: {type: openai, base_url: 'https://llm.example.com:8443/v1', api_key: '${env:PW_QA_UNSET_KEY}'}\n"
        "  pf_style: {type: azure_open_ai, api_base: 'https://aoai.example.com/', api_key: '${env:PW_QA_UNSET_KEY}'}\n"
        "  from_env: {type: openai, base_url: '${env:PW_QA_UNSET_URL}', api_key: '${env:PW_QA_UNSET_KEY}'}\n")
    for name in ("PW_QA_UNSET_KEY", "PW_QA_UNSET_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["connections", "list", "--format", "json"]) == 1
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {name: row["ok"] for name, row in rows.items()} == {"written": False, "pf_style": False, "from_env": False}
    assert rows["written"]["host"] == "llm.example.com:8443"
    assert rows["pf_style"]["host"] == "aoai.example.com"
    assert rows["from_env"]["host"] is None
    assert all("PW_QA_UNSET_KEY" in row["error"] for row in rows.values())


def test_azure_test_call_goes_to_a_deployment_the_settings_name(tmp_path, monkeypatch, capsys):
    """On Azure the call names a deployment; with none on the connection it went to defaults.model
    (gpt-4o-mini here), which is a deployment only if one was named after the model."""
    from promptwise.devtools.fake_openai import FakeOpenAI

    with FakeOpenAI(api_key="az-qa-key-0123456789") as server:
        monkeypatch.setenv("PW_QA_AZ_KEY", "az-qa-key-0123456789")
        (tmp_path / "promptwise.yaml").write_text(
            "defaults: {model: gpt-4o-mini}\ndeployments: {prod-chat: gpt-4o}\nconnections:\n"
            f"  az: {{type: azure_openai, azure_endpoint: '{server.azure_endpoint}', api_key: '${{env:PW_QA_AZ_KEY}}'}}\n")
        monkeypatch.chdir(tmp_path)
        assert main(["connections", "test", "--format", "json"]) == 0
        paths = [r.path for r in server.requests]
    (row,) = json.loads(capsys.readouterr().out)
    assert row["ok"] is True and row["model"] == "prod-chat"
    assert paths == ["/openai/deployments/prod-chat/chat/completions"]


def test_timeout_must_be_a_positive_number_of_seconds(tmp_path, monkeypatch, capsys):
    """`--timeout 0` meant no timeout, `-3` and `nan` reported every connection as timed out."""
    import pytest

    monkeypatch.chdir(tmp_path)
    for value in ("0", "-3", "nan"):
        with pytest.raises(SystemExit) as exit_info:
            main(["connections", "test", "--timeout", value])
        assert exit_info.value.code == 2
        assert "must be more than 0 seconds" in capsys.readouterr().err


def test_a_model_refusing_max_tokens_is_asked_with_max_completion_tokens(tmp_path, monkeypatch, capsys):
    """With `defaults.model` a reasoning model (o4-mini, gpt-5...), the 1-token call with max_tokens is
    refused (400) and the connection was reported broken; the test now asks once more with
    max_completion_tokens. A connection that refuses both still reports the first refusal."""
    from promptwise.devtools.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        (tmp_path / "promptwise.yaml").write_text(
            "defaults: {model: o4-mini}\nconnections:\n"
            f"  local: {{type: openai_compatible, base_url: '{server.base_url}'}}\n")
        monkeypatch.chdir(tmp_path)
        server.inject("server_error", count=1, status=400, model="o4-mini")
        assert main(["connections", "test", "--format", "json"]) == 0
        bodies = [r.body for r in server.requests]
        server.inject("server_error", count=2, status=400, model="o4-mini")
        assert main(["connections", "test", "--format", "json"]) == 1
    ok, refused = (json.loads(part)[0] for part in capsys.readouterr().out.replace("]\n[", "]\x00[").split("\x00"))
    assert ok["ok"] is True and ok["model"] == "o4-mini"
    assert [("max_tokens" in b, "max_completion_tokens" in b) for b in bodies] == [(True, False), (False, True)]
    assert refused["ok"] is False and refused["error"].startswith("bad_request")
