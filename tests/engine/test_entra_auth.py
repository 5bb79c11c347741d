"""Keyless Azure OpenAI: `auth: entra` / `auth_mode: meid_token` connections sign in with
azure-identity's DefaultAzureCredential, here finding a managed identity through IDENTITY_ENDPOINT
and IDENTITY_HEADER (App Service's contract) served by the fake server, which then checks the
bearer token on every call. Nothing of the SDK is replaced."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.batch import run_batch

from engine_flows import write_files as write


TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token.c2lnbmF0dXJl"
IDENTITY_HEADER = "identity-header-secret-0123"

FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string, default: hi}
        outputs:
          answer: {type: string, reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {deployment_name: gpt-4o-mini, question: "${inputs.question}"}
          connection: keyless
          api: chat
    """,
    "flow/chat.jinja2": "user:\n{{question}}\n",
}


@pytest.fixture
def identity_environment(monkeypatch, tmp_path):
    """No credential but the managed identity one: other azure-identity sources cleared."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no shared token cache, no CLI sign-in
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    return monkeypatch


def keyless_workspace(root, server, auth_line: str):
    (root / "promptwise.yaml").write_text(
        "connections:\n"
        f"  keyless: {{type: azure_openai, azure_endpoint: '{server.azure_endpoint}', {auth_line}}}\n")
    write(root, FLOW)


@pytest.mark.parametrize("auth_line", ["auth: entra", "auth_mode: meid_token"])
def test_entra_connection_calls_with_a_bearer_token(tmp_path, identity_environment, capsys, auth_line):
    with FakeOpenAI(api_key=TOKEN, identity_header=IDENTITY_HEADER) as server:
        identity_environment.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
        identity_environment.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
        keyless_workspace(tmp_path, server, auth_line)
        identity_environment.chdir(tmp_path)
        assert main(["run", "flow", "--format", "json", "--no-cache"]) == 0
        assert main(["run", "flow", "--inputs", "question=again", "--format", "json", "--no-cache"]) == 0
        requests = [r for r in server.requests if r.path.endswith("/chat/completions")]
    out, err = capsys.readouterr()
    assert [json.loads(part)["outputs"]["answer"] for part in out.replace("}\n{", "}\x00{").split("\x00")] == [
        "echo: hi", "echo: again"]
    assert [r.headers["Authorization"] for r in requests] == [f"Bearer {TOKEN}"] * 2
    assert all("api-key" not in r.headers for r in requests)
    assert requests[0].path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert server.identity_requests[0]["resource"] == "https://cognitiveservices.azure.com"
    for path in (tmp_path / ".promptwise").rglob("*"):  # the token is a secret like any key
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes()
    assert TOKEN not in out + err


def test_no_credential_is_one_clear_error_naming_what_was_tried(tmp_path, identity_environment, capsys):
    with FakeOpenAI(api_key=TOKEN, identity_header="another-header") as server:
        identity_environment.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
        identity_environment.setenv("IDENTITY_HEADER", IDENTITY_HEADER)  # refused by the identity endpoint
        keyless_workspace(tmp_path, server, "auth: entra")
        (tmp_path / "data.jsonl").write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(20)))
        identity_environment.chdir(tmp_path)
        assert main(["run", "flow", "--no-cache"]) == 1
        run_error = capsys.readouterr().err
        result = asyncio.run(run_batch(tmp_path / "flow", tmp_path / "data.jsonl", use_cache=False, concurrency=4))
        chat_calls = server.stats.requests
        identity_calls = len(server.identity_requests)
    assert (result.status, result.failed) == ("failed", 20)
    assert chat_calls == 0  # no call went out without a token
    assert identity_calls <= 2  # the batch learnt once that there is no credential, not once per row
    for text in (run_error, result.error):
        assert "connection 'keyless'" in text and "auth: entra" in text and "no credential gave a token" in text
        assert "ManagedIdentityCredential" in text and "az login" in text
        assert IDENTITY_HEADER not in text and "Traceback" not in text


def test_entra_is_for_azure_connections_and_takes_no_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PW_AZURE_KEY", "k" * 32)
    with FakeOpenAI() as server:
        for spec, message in [
            (f"type: openai_compatible, base_url: '{server.base_url}', auth: entra", "applies to azure_openai"),
            (f"type: azure_openai, azure_endpoint: '{server.azure_endpoint}', auth: entra, "
             "api_key: '${env:PW_AZURE_KEY}'", "remove one of the two"),
            (f"type: azure_openai, azure_endpoint: '{server.azure_endpoint}', auth_mode: password",
             "not an authentication Promptwise knows"),
        ]:
            (tmp_path / "promptwise.yaml").write_text(f"connections:\n  keyless: {{{spec}}}\n")
            write(tmp_path, FLOW)
            assert main(["run", str(tmp_path / "flow")]) == 2
            err = capsys.readouterr().err
            assert message in err and "promptwise.yaml" in err, err
        assert server.stats.requests == 0


def test_without_the_azure_extra_the_error_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if azure-identity were not installed
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)
    with FakeOpenAI() as server:
        keyless_workspace(tmp_path, server, "auth: entra")
        assert main(["run", str(tmp_path / "flow")]) == 2
        assert server.stats.requests == 0
    err = capsys.readouterr().err
    assert "pip install 'promptwise[azure]'" in err and "connection `keyless`" in err


@pytest.mark.parametrize("auth", ["auth: entra", "auth_mode: meid_token"])
def test_check_warns_when_entra_needs_the_azure_extra(tmp_path, monkeypatch, capsys, auth):
    """`run` and `connections list` said which extra to install; `check` said nothing. Now a PW112
    warning on the auth line, with the install command (a warning: the file is right, the install
    lacks a package). Nothing is said once azure-identity is installed."""
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n  keyless: {type: azure_openai, azure_endpoint: 'https://x.openai.azure.com', " + auth + "}\n")
    assert main(["check", str(tmp_path / "promptwise.yaml"), "--format", "json"]) == 0
    assert "PW112" not in capsys.readouterr().out  # installed in the test environment
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if azure-identity were not installed
    assert main(["check", str(tmp_path / "promptwise.yaml"), "--format", "json"]) == 0
    [problem] = [p for p in json.loads(capsys.readouterr().out) if p["code"] == "PW112"]
    assert problem["severity"] == "warning" and problem["range"]["start"]["line"] == 1  # 0-based: line 2
    assert "pip install 'promptwise[azure]'" in problem["message"] and "`keyless`" in problem["message"]
