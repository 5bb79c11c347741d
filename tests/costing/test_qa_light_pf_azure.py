"""A Prompt flow connection file pasted under `connections:` (`type: azure_open_ai`, or only
`api_type: azure`) is an Azure connection for estimates and PW707 too: the model name a node gives
is then an Azure deployment (azure/ catalog and retirement entries). Before, only `azure_openai`
and `azure` counted, so such a connection was priced and checked as OpenAI."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.costing.flow_calls import azure_connection_names


@pytest.mark.parametrize("spec, azure", [
    ({"type": "azure_open_ai", "api_base": "https://x.openai.azure.com/"}, True),
    ({"api_type": "azure", "api_base": "https://x.openai.azure.com/"}, True),
    ({"type": "AzureOpenAI"}, True),
    ({"type": "azure_openai"}, True),
    ({"type": "open_ai"}, False),
    ({"type": "openai_compatible", "api_type": "azure"}, False),  # its type says what it is
])
def test_promptflow_spellings_are_azure(spec, azure):
    assert (azure_connection_names({"c": spec}) == {"c"}) is azure


def test_a_node_model_on_a_promptflow_azure_connection_is_checked_as_an_azure_deployment(tmp_path, capsys):
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n  aoai:\n    type: azure_open_ai\n    api_base: https://x.openai.azure.com/\n"
        "    api_type: azure\n    auth_mode: meid_token\n")
    (tmp_path / "flow.dag.yaml").write_text(
        "inputs:\n  q: {type: string, default: hi}\noutputs:\n  a: {type: string, reference: '${chat.output}'}\n"
        "nodes:\n- name: chat\n  type: llm\n  source: {type: code, path: chat.jinja2}\n"
        "  inputs: {model: gpt-35-turbo-0613, q: '${inputs.q}'}\n  connection: aoai\n  api: chat\n")
    (tmp_path / "chat.jinja2").write_text("user:\n{{q}}\n")
    main(["check", str(tmp_path), "--format", "json"])
    problems = json.loads(capsys.readouterr().out)
    retired = [p for p in problems if p["code"] == "PW707"]
    assert len(retired) == 1 and "2025-02-13" in retired[0]["message"] and "redeploy" in retired[0]["message"]
