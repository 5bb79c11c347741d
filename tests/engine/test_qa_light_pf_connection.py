"""A Prompt flow connection file (`pf connection create -f azure_openai.yml`), pasted as it is under
`connections:`, is understood: `type: azure_open_ai`, the endpoint as `api_base`, `api_type` and
`$schema` (Prompt flow's own keys), and `auth_mode: meid_token` signing in with Entra ID. Before,
`check` reported four errors on it and a run refused the connection.

The run goes through the real openai client and azure-identity's DefaultAzureCredential, which finds
a managed identity served by the fake server (as tests/engine/test_entra_auth.py does)."""

from __future__ import annotations

import json

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI

from engine_flows import write_files as write

from test_entra_auth import FLOW as ENTRA_FLOW, TOKEN, identity_environment  # noqa: F401 (a fixture)

IDENTITY_HEADER = "identity-header-pf-0123"
FLOW = {name: text.replace("connection: keyless", "connection: my_azure_open_ai_connection")
        for name, text in ENTRA_FLOW.items()}


def promptflow_settings(endpoint: str) -> str:
    """Prompt flow's examples/connections/azure_openai.yml, keyless, indented under `connections:`."""
    return (
        "connections:\n"
        "  my_azure_open_ai_connection:\n"
        "    $schema: https://azuremlschemas.azureedge.net/promptflow/latest/AzureOpenAIConnection.schema.json\n"
        "    name: my_azure_open_ai_connection\n"
        "    type: azure_open_ai\n"
        f"    api_base: \"{endpoint}\"\n"
        "    api_type: \"azure\"\n"
        "    api_version: \"2024-02-01\"\n"
        "    auth_mode: meid_token\n"
        "  open_ai_connection:\n"
        "    $schema: https://azuremlschemas.azureedge.net/promptflow/latest/OpenAIConnection.schema.json\n"
        "    name: open_ai_connection\n"
        "    type: open_ai\n"
        "    api_key: \"${env:PW_QA_OPENAI_KEY}\"\n"
        "  custom_connection:\n"
        "    $schema: https://azuremlschemas.azureedge.net/promptflow/latest/CustomConnection.schema.json\n"
        "    name: custom_connection\n"
        "    type: custom\n"
        "    configs: {key1: test1}\n"
        "    secrets: {api-key: \"${env:PW_QA_OPENAI_KEY}\"}\n")


def test_a_promptflow_connection_file_runs_keyless(tmp_path, identity_environment, capsys):
    identity_environment.setenv("PW_QA_OPENAI_KEY", "sk-qa-light-" + "x" * 20)
    with FakeOpenAI(api_key=TOKEN, identity_header=IDENTITY_HEADER) as server:
        identity_environment.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
        identity_environment.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
        (tmp_path / "promptwise.yaml").write_text(promptflow_settings(server.azure_endpoint))
        write(tmp_path, FLOW)
        identity_environment.chdir(tmp_path)
        assert main(["check", "."]) == 0
        check_out = capsys.readouterr().out
        assert main(["run", "flow", "--format", "json", "--no-cache"]) == 0
        requests = [r for r in server.requests if r.path.endswith("/chat/completions")]
        out = capsys.readouterr().out
        assert main(["connections", "list", "--format", "json"]) == 0
        listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert "PW103" not in check_out and "PW106" not in check_out
    assert json.loads(out)["outputs"]["answer"] == "echo: hi"
    assert [r.headers["Authorization"] for r in requests] == [f"Bearer {TOKEN}"]
    assert requests[0].path == "/openai/deployments/gpt-4o-mini/chat/completions"
    azure = listed["my_azure_open_ai_connection"]
    assert (azure["type"], azure["auth"], azure["ok"]) == ("azure_openai", "entra", True)
    assert azure["host"] == server.azure_endpoint.split("//")[1].rstrip("/")
    assert (listed["open_ai_connection"]["type"], listed["open_ai_connection"]["ok"]) == ("openai", True)
    assert (listed["custom_connection"]["type"], listed["custom_connection"]["ok"]) == ("custom", True)


def test_api_base_beside_azure_endpoint_is_refused_naming_both(tmp_path, identity_environment, capsys):
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n  twice: {type: azure_open_ai, api_base: 'https://a.example', "
        "azure_endpoint: 'https://b.example', auth_mode: meid_token}\n")
    identity_environment.chdir(tmp_path)
    assert main(["connections", "list", "--format", "json"]) == 1
    row = json.loads(capsys.readouterr().out)[0]
    assert row["ok"] is False and "api_base" in row["error"] and "azure_endpoint" in row["error"]


def test_what_pf_connection_show_prints_is_understood_too(tmp_path, identity_environment, capsys):
    """`pf connection show -o yaml` adds module, dates and the ARM resource_id: metadata, read past."""
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n"
        "  azure_open_ai_connection:\n"
        "    name: azure_open_ai_connection\n"
        "    module: promptflow.connections\n"
        "    created_date: 2024-03-12T07:46:47.312811\n"
        "    last_modified_date: '2024-03-12T07:46:47.312811'\n"
        "    type: azure_open_ai\n"
        "    api_base: https://aoai.example.com/\n"
        "    api_type: azure\n"
        "    api_version: 2024-02-01\n"
        "    auth_mode: meid_token\n"
        "    resource_id: /subscriptions/0000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/x\n"
        "  custom_connection:\n"
        "    module: promptflow.connections\n"
        "    type: custom\n"
        "    configs: {key1: test1}\n")
    identity_environment.chdir(tmp_path)
    assert main(["check", "promptwise.yaml", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["connections", "list", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["azure_open_ai_connection"]["host"], rows["azure_open_ai_connection"]["auth"]) == (
        "aoai.example.com", "entra")
    assert rows["custom_connection"]["ok"] is True
