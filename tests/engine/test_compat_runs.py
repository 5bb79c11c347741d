"""Runs send the model what Prompt flow would send (issue 9 part 2), against the fake server."""

from __future__ import annotations

import textwrap

import pytest

from promptwise.engine.runner import run_flow

PROMPTY_HEAD = """
---
model:
  api: chat
  configuration: {type: openai, model: gpt-4o-mini}
"""
PROMPTY_BODY = """---
system:
Answer briefly.
user:
{{question}}
"""


def _write(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def _user_text(request) -> str:
    return request.body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("front", "files", "given", "sent"),
    [
        pytest.param("sample:\n  question: From the sample mapping?\n", {}, {}, "From the sample mapping?",
                     id="sample-mapping-gives-the-inputs"),
        pytest.param("sample: ${file:sample.json}\n", {"sample.json": '{"question": "From the file?"}'}, {},
                     "From the file?", id="sample-file-gives-the-inputs"),
        pytest.param("", {}, {"question": "Passed through?"}, "Passed through?",
                     id="no-inputs-no-sample-passes-inputs-through"),
        pytest.param("sample:\n  question: not this\n", {}, {"question": "Given wins?"}, "Given wins?",
                     id="given-inputs-replace-the-sample"),
    ],
)
async def test_prompty_input_signature(workspace, front, files, given, sent):
    root = workspace({"p.prompty": PROMPTY_HEAD + front + PROMPTY_BODY, **files})
    result = await run_flow(root / "p.prompty", given)
    assert result.status == "completed", result.error
    assert _user_text(workspace.server.requests[0]) == sent


FLEX_CLASS = '''
from promptflow.core import OpenAIModelConfiguration, Prompty


class Chat:
    def __init__(self, model_config: OpenAIModelConfiguration, greeting: str = "Hello"):
        self.model_config = model_config
        self.greeting = greeting

    def __call__(self, question: str, times: int = 1) -> dict:
        prompty = Prompty.load("chat.prompty", model={"configuration": self.model_config})
        return {"answer": prompty(question=f"{self.greeting} {question} x{times * 2}")}
'''


@pytest.fixture
def flex_without_signature(workspace, monkeypatch):
    """A flex flow whose YAML declares neither `inputs` nor `init` (as Prompt flow's chat samples)."""
    monkeypatch.setenv("TEST_FLEX_KEY", "sk-test-1234")
    base_url = workspace.server.base_url
    return workspace({
        "flow.flex.yaml": f"""
            entry: chat:Chat
            sample:
              init:
                model_config: {{model: gpt-4o-mini, base_url: '{base_url}', api_key: '${{env:TEST_FLEX_KEY}}'}}
              inputs:
                question: from the sample
        """,
        "chat.py": FLEX_CLASS,
        "chat.prompty": PROMPTY_HEAD + "inputs:\n  question: {type: string}\n" + PROMPTY_BODY,
    })


@pytest.mark.parametrize(
    ("given", "init", "sent"),
    [
        pytest.param({}, None, "Hello from the sample x2", id="sample-inputs-and-init"),
        pytest.param({"question": "given", "times": "3"}, None, "Hello given x6",
                     id="inputs-typed-from-the-signature"),
        pytest.param({"question": "q"}, {"model_config": {"model": "gpt-4o-mini", "base_url": "{base_url}",
                                                          "api_key": "${env:TEST_FLEX_KEY}"}, "greeting": "Hi"},
                     "Hi q x2", id="init-given-as-a-mapping"),
    ],
)
async def test_flex_flow_signature_from_the_entry(flex_without_signature, workspace, given, init, sent):
    if init:
        init["model_config"]["base_url"] = workspace.server.base_url
    result = await run_flow(flex_without_signature / "flow.flex.yaml", given, init=init)
    assert result.status == "completed", result.error
    assert _user_text(workspace.server.requests[0]) == sent


async def test_flex_flow_misspelt_input_is_refused(flex_without_signature):
    from promptwise.engine.errors import FlowError

    with pytest.raises(FlowError, match="did you mean `question`"):
        await run_flow(flex_without_signature / "flow.flex.yaml", {"questoin": "x"})


async def test_llm_prompt_input_replaces_the_template_file(workspace):
    root = workspace({
        "flow.dag.yaml": """
            inputs:
              question: {type: string, default: Which platform?}
            outputs:
              answer:
                type: string
                reference: ${answer.output}
            nodes:
            - name: build
              type: prompt
              source: {type: code, path: build.jinja2}
              inputs:
                question: ${inputs.question}
            - name: answer
              type: llm
              source: {type: code, path: unused.jinja2}
              inputs:
                model: gpt-4o-mini
                prompt: ${build.output}
                tone: kind
              api: chat
        """,
        "build.jinja2": "system:\nBe {{ '{{tone}}' }}.\nuser:\n{{question}}\n",
        "unused.jinja2": "system:\nThe template file, which must not be sent.\n",
    })
    result = await run_flow(root / "flow.dag.yaml", {})
    assert result.status == "completed", result.error
    messages = workspace.server.requests[0].body["messages"]
    assert messages == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Which platform?"}]


async def test_body_only_prompty_sends_one_system_message_with_inputs_passed_through(workspace):
    root = workspace({"haiku.prompty": "You write haiku about {{topic}}.\n"})
    result = await run_flow(root / "haiku.prompty", {"topic": "rain"})
    assert result.status == "completed", result.error
    assert workspace.server.requests[0].body["messages"] == [
        {"role": "system", "content": "You write haiku about rain."}]


async def test_file_reference_in_parameters_is_loaded(workspace):
    front = ("inputs:\n  question: {type: string, default: hi}\n"
             "---\nsystem:\nReply in JSON.\nuser:\n{{question}}\n")
    head = PROMPTY_HEAD.replace("configuration: {type: openai, model: gpt-4o-mini}\n",
                                "configuration: {type: openai, model: gpt-4o-mini}\n"
                                "  parameters:\n    response_format: ${file:format.json}\n")
    root = workspace({"p.prompty": head + front, "format.json": '{"type": "json_object"}'})
    result = await run_flow(root / "p.prompty", {})
    assert result.status == "completed", result.error
    assert workspace.server.requests[0].body["response_format"] == {"type": "json_object"}


async def test_entry_in_flow_dag_yaml_runs_as_a_flex_flow(workspace):
    root = workspace({"flow.dag.yaml": "entry: echo:echo\n",
                      "echo.py": "def echo(text: str) -> str:\n    return text.upper()\n"})
    result = await run_flow(root / "flow.dag.yaml", {"text": "hey"})
    assert result.status == "completed", result.error
    assert result.outputs == {"output": "HEY"}


@pytest.mark.parametrize(
    ("files", "target", "words"),
    [
        pytest.param({"flow.dag.yaml": "language: csharp\ninputs: {}\noutputs: {}\nnodes: []\n"}, "flow.dag.yaml",
                     "csharp flow; Promptwise runs Python flows only", id="csharp-flow"),
        pytest.param({"p.prompty": "---\nmodel:\n  id: gpt-4o-mini\n  apiType: responses\n---\nsystem:\nhi\n"},
                     "p.prompty", "apiType: responses", id="responses-api"),
    ],
)
async def test_formats_not_run_say_so_before_any_call(workspace, files, target, words):
    from promptwise.engine.errors import FlowError

    root = workspace(files)
    with pytest.raises(FlowError, match=words):
        await run_flow(root / target, {})
    assert workspace.server.stats.requests == 0


PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")  # a PNG header is enough


@pytest.mark.parametrize(
    ("image_value", "url_start"),
    [
        pytest.param({"data:image/png;path": "logo.png"}, "data:image/png;base64,iVBORw0K", id="path-form"),
        pytest.param({"data:image/png;url": "https://example.com/a.png"}, "https://example.com/a.png", id="url-form"),
        pytest.param("logo.png", "data:image/png;base64,iVBORw0K", id="declared-image-path"),
    ],
)
async def test_dag_image_inputs_are_sent_as_image_parts(workspace, image_value, url_start):
    root = workspace({
        "flow.dag.yaml": """
            inputs:
              picture: {type: image}
              question: {type: string, default: What is this?}
            outputs:
              answer:
                type: string
                reference: ${look.output}
            nodes:
            - name: look
              type: llm
              source: {type: code, path: look.jinja2}
              inputs:
                model: gpt-4o-mini
                picture: ${inputs.picture}
                question: ${inputs.question}
                detail: low
              api: chat
        """,
        "look.jinja2": "system:\nDescribe images.\nuser:\n{{question}}\n![image]({{picture}})\n",
    })
    (root / "logo.png").write_bytes(PIXEL)
    result = await run_flow(root / "flow.dag.yaml", {"picture": image_value})
    assert result.status == "completed", result.error
    user = workspace.server.requests[0].body["messages"][1]
    assert user["role"] == "user"
    text, image = user["content"]
    assert text == {"type": "text", "text": "What is this?"}
    assert image["type"] == "image_url" and image["image_url"]["detail"] == "low"
    assert image["image_url"]["url"].startswith(url_start)


async def test_prompty_image_text_form_is_sent_as_an_image_part(workspace):
    root = workspace({"p.prompty": PROMPTY_HEAD + "inputs:\n  photo: {type: string}\n---\n"
                                   "system:\nDescribe.\nuser:\n![image]({{photo}})\n"})
    (root / "logo.png").write_bytes(PIXEL)
    result = await run_flow(root / "p.prompty", {"photo": "data:image/png;path: logo.png"})
    assert result.status == "completed", result.error
    (part,) = workspace.server.requests[0].body["messages"][1]["content"]
    assert part["image_url"]["url"].startswith("data:image/png;base64,") and part["image_url"]["detail"] == "auto"


async def test_text_that_is_not_an_image_stays_text(workspace):
    root = workspace({"p.prompty": PROMPTY_HEAD + "inputs:\n  question: {type: string}\n" + PROMPTY_BODY})
    result = await run_flow(root / "p.prompty", {"question": "logo.png"})
    assert result.status == "completed", result.error
    assert _user_text(workspace.server.requests[0]) == "logo.png"


SHIM_TOOL = '''
from promptflow.connections import CustomConnection, OpenAIConnection
from promptflow.contracts.multimedia import Image
from promptflow.core import tool
from promptflow.core._flow import Prompty
from promptflow.tools.common import render_jinja_template


@tool
def use_shim(search: CustomConnection, model: OpenAIConnection, query: str) -> dict:
    as_dict = dict(search)
    return {
        "endpoint": search["endpoint"],
        "keys": sorted(as_dict),
        "model_url": model["base_url"],
        "model_fields": "base_url" in dict(model) and model.get("missing", 1) == 1,
        "rendered": render_jinja_template("Q: {{ q }}", q=query),
        "image": Image(b"abc", mime_type="image/png").to_base64(with_type=True),
        "prompty": Prompty.__name__,
    }
'''


async def test_promptflow_stand_in_covers_what_real_flows_import(workspace, monkeypatch):
    monkeypatch.setenv("PW_COMPAT_SEARCH_KEY", "search-secret-1234")
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs:
              query: {type: string, default: trains}
            outputs:
              result:
                type: object
                reference: ${use_shim.output}
            nodes:
            - name: use_shim
              type: python
              source: {type: code, path: shim_tool.py}
              inputs:
                search: compat_search
                model: local
                query: ${inputs.query}
        """,
        "flow/shim_tool.py": SHIM_TOOL,
    })
    settings = root / "promptwise.yaml"
    settings.write_text(settings.read_text() + "  compat_search: {type: custom, secrets: {api_key: "
                        "'${env:PW_COMPAT_SEARCH_KEY}'}, configs: {endpoint: 'https://search.example'}}\n")
    result = await run_flow(root / "flow", {})
    assert result.status == "completed", result.error
    output = result.outputs["result"]
    assert output["endpoint"] == "https://search.example" and output["keys"] == ["api_key", "endpoint"]
    assert output["rendered"] == "Q: trains" and output["prompty"] == "Prompty"
    assert output["image"] == "data:image/png;base64,YWJj" and output["model_fields"] is True
    assert output["model_url"] == workspace.server.base_url


async def test_folder_with_two_flow_files_is_refused(workspace):
    from promptwise.engine.errors import FlowError

    root = workspace({"two/flow.dag.yaml": "inputs: {}\noutputs: {}\nnodes: []\n",
                      "two/flow.flex.yaml": "entry: echo:echo\n", "two/echo.py": "def echo():\n    return 1\n"})
    with pytest.raises(FlowError, match="flow.dag.yaml and flow.flex.yaml are both here"):
        await run_flow(root / "two", {})


LLM_FLOW = """
inputs:
  question: {type: string, default: Which platform?}
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: answer
  type: llm
  source: {type: code, path: answer.jinja2}
  inputs:
    deployment_name: gpt-4o
    question: ${inputs.question}
  connection: CONNECTION
  api: chat
"""


@pytest.mark.parametrize(
    ("variables", "path"),
    [
        pytest.param({"OPENAI_API_KEY": "sk-fallback-123456", "OPENAI_BASE_URL": "BASE"}, "/v1/chat/completions",
                     id="only-openai-variables-set"),
        pytest.param({"AZURE_OPENAI_API_KEY": "azure-key-123456", "AZURE_OPENAI_ENDPOINT": "AZURE",
                      "OPENAI_API_VERSION": "2024-06-01"}, "/openai/deployments/gpt-4o/chat/completions",
                     id="only-azure-variables-set"),
    ],
)
async def test_undefined_connection_falls_back_to_the_variables_that_are_set(tmp_path, fake_server, variables, path):
    root = _write(tmp_path, {"flow/flow.dag.yaml": LLM_FLOW.replace("CONNECTION", "azure_open_ai_connection"),
                            "flow/answer.jinja2": "system:\nAnswer.\nuser:\n{{question}}\n",
                            "promptwise.yaml": "connections: {}\n"})
    environ = {key: value.replace("BASE", fake_server.base_url).replace("AZURE", fake_server.azure_endpoint)
               for key, value in variables.items()}
    result = await run_flow(root / "flow", {}, environ=environ)
    assert result.status == "completed", result.error
    assert fake_server.requests[0].path == path


async def test_connection_one_typo_from_a_defined_one_is_an_error(tmp_path, fake_server):
    from promptwise.engine.errors import FlowError

    root = _write(tmp_path, {
        "flow/flow.dag.yaml": LLM_FLOW.replace("CONNECTION", "team_opnai"),
        "flow/answer.jinja2": "system:\nAnswer.\nuser:\n{{question}}\n",
        "promptwise.yaml": f"defaults: {{connection: team_openai}}\nconnections:\n"
                           f"  team_openai: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n",
    })
    with pytest.raises(FlowError, match="did you mean `team_openai`"):
        await run_flow(root / "flow", {})
    assert fake_server.stats.requests == 0


async def test_configuration_written_as_a_file_reference_is_loaded(workspace):
    root = workspace({
        "p.prompty": "---\nmodel:\n  api: chat\n  configuration: ${file:configuration.json}\n"
                     "inputs:\n  question: {type: string, default: hi}\n" + PROMPTY_BODY,
        "configuration.json": '{"type": "openai", "model": "gpt-4o-mini", "connection": "local"}',
    })
    result = await run_flow(root / "p.prompty", {})
    assert result.status == "completed", result.error
    assert workspace.server.requests[0].body["model"] == "gpt-4o-mini"


async def test_prompty2_input_schema_defaults_and_key_connection(workspace, monkeypatch):
    monkeypatch.setenv("PW_COMPAT_P2_BASE", workspace.server.base_url)
    monkeypatch.setenv("PW_COMPAT_P2_KEY", "sk-compat-p2-123456")
    root = workspace({"p.prompty": """
        ---
        model:
          id: gpt-4o-mini
          provider: openai
          apiType: chat
          connection: {kind: key, endpoint: '${env:PW_COMPAT_P2_BASE}', apiKey: '${env:PW_COMPAT_P2_KEY}'}
        inputSchema:
          properties:
            - name: question
              kind: string
              default: From the schema?
        template:
          format: {kind: jinja2}
          parser: {kind: prompty}
        ---
        system:
        Answer.
        user:
        {{question}}
    """})
    result = await run_flow(root / "p.prompty", {})
    assert result.status == "completed", result.error
    request = workspace.server.requests[0]
    assert _user_text(request) == "From the schema?"
    assert request.headers["Authorization"] == "Bearer sk-compat-p2-123456"


async def test_flex_sample_inputs_from_a_file_reference(workspace):
    root = workspace({
        "flow.flex.yaml": "entry: echo:Echo\nsample:\n  inputs: ${file:inputs.json}\n  init: {prefix: 'got '}\n",
        "inputs.json": '{"text": "from the file"}',
        "echo.py": "class Echo:\n    def __init__(self, prefix: str):\n        self.prefix = prefix\n\n"
                   "    def __call__(self, text: str) -> str:\n        return self.prefix + text\n",
    })
    result = await run_flow(root / "flow.flex.yaml", {})
    assert result.status == "completed", result.error
    assert result.outputs == {"output": "got from the file"}


async def test_prompty1_inputs_from_a_values_file(workspace):
    root = workspace({"p.prompty": PROMPTY_HEAD + "inputs: ${file:values.json}\n" + PROMPTY_BODY,
                      "values.json": '{"question": "From the values file?"}'})
    result = await run_flow(root / "p.prompty", {})
    assert result.status == "completed", result.error
    assert _user_text(workspace.server.requests[0]) == "From the values file?"
