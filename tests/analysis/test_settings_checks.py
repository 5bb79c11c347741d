"""Workspace settings (promptwise.yaml, [tool.promptwise]) and the connection names flows
and prompts use: each problem with its code, exact range and what to do."""

from __future__ import annotations

import pytest

from analysis_helpers import apply_fix, covered
from promptwise.analysis import analyze
from promptwise.analysis.settings import check_settings_file
from promptwise.documents.source import Range

OPENAI = "sk-proj-Qw3Er4Ty5Ui6Op7As8Df9Gh0JkLzXcVb"  # not a real key

GOOD_SETTINGS = """\
defaults: {model: gpt-4o-mini, connection: local}
connections:
  local:
    type: openai_compatible
    base_url: ${env:PROMPTWISE_BASE_URL}
    api_key: ${env:OPENAI_API_KEY}
  openai:
    type: openai
    api_key: ${env:OPENAI_API_KEY}
models:
  my-model: {context_window: 8000, max_output: 1000, input_per_1m: 0.5, output_per_1m: 1.5}
deployments:
  prod-gpt: gpt-4o
"""


def _problems(tmp_path, text: str, name: str = "promptwise.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path, analyze(path)


def test_valid_settings_have_no_problems(tmp_path):
    assert _problems(tmp_path, GOOD_SETTINGS)[1] == []


@pytest.mark.parametrize(
    "text, code, severity, token, message_part",
    [
        pytest.param(
            "conections:\n  local: {type: openai}\n", "PW103", "warning", "conections",
            "did you mean 'connections'?", id="unknown-section",
        ),
        pytest.param(
            "defaults:\n  modle: gpt-4o\n", "PW103", "warning", "modle", "did you mean 'model'?",
            id="unknown-default",
        ),
        pytest.param(
            "models:\n  m:\n    contxt_window: 8000\n", "PW103", "error", "contxt_window",
            "did you mean 'context_window'?", id="unknown-model-field",
        ),
        pytest.param(
            "connections:\n  c:\n    type: openai\n    base_ulr: http://x\n", "PW103", "error", "base_ulr",
            "did you mean 'base_url'?", id="unknown-connection-field",
        ),
        pytest.param(
            "models:\n  m:\n    input_per_1m: '0.5'\n", "PW104", "error", "'0.5'",
            'is the string "0.5", not a number; write it without quotes', id="price-as-string",
        ),
        pytest.param(
            "models:\n  m:\n    output_per_1m: cheap\n", "PW104", "error", "cheap",
            "must be a number (US dollars per 1M tokens)", id="price-as-word",
        ),
        pytest.param(
            "models:\n  m:\n    context_window: true\n", "PW104", "error", "true", "must be an integer",
            id="window-as-boolean",
        ),
        pytest.param(
            "models:\n  m:\n    input_per_1m: -1\n", "PW106", "error", "-1", "cannot be negative",
            id="negative-price",
        ),
        pytest.param("models: [a, b]\n", "PW104", "error", "[a, b]", "must be a mapping", id="section-as-list"),
        pytest.param(
            "connections:\n  c:\n    type: azure_opnai\n", "PW106", "error", "azure_opnai",
            "did you mean 'azure_openai'?", id="connection-type-typo",
        ),
        pytest.param(
            "connections:\n  c:\n    type: openai\n    api_key: my-team-key\n", "PW606", "error",
            "my-team-key", "write `${env:OPENAI_API_KEY}` here", id="literal-api-key",
        ),
        pytest.param(
            "connections:\n  c:\n    type: openai\n    api_key: <your-key>\n", "PW606", "error",
            "<your-key>", "refuses to run with this connection", id="placeholder-api-key-still-refused",
        ),
        pytest.param(
            f"connections:\n  c:\n    type: openai\n    api_key: {OPENAI}\n", "PW601", "error", OPENAI,
            "write `${env:OPENAI_API_KEY}` here", id="real-key-reported-once-as-a-secret",
        ),
        pytest.param(
            "connections:\n  tools:\n    type: custom\n    secrets: {search_key: abc123}\n", "PW606", "error",
            "abc123", "`${env:TOOLS_SEARCH_KEY}`", id="custom-secret-literal",
        ),
        pytest.param(
            "connections:\n  tools:\n    type: custom\n    base_url: http://x\n", "PW103", "error", "base_url",
            "takes only `secrets`", id="custom-connection-field",
        ),
        pytest.param(
            "defaults: {connection: lcoal}\nconnections:\n  local: {type: openai_compatible, base_url: http://x}\n",
            "PW216", "error", "lcoal", "did you mean 'local'?", id="default-connection-typo",
        ),
        pytest.param("defaults:\n  model: 'gpt\n", "PW101", "error", None, "YAML syntax error", id="syntax"),
        pytest.param(
            "defaults: {model: a}\ndefaults: {model: b}\n", "PW102", "error", "defaults", "duplicate key",
            id="duplicate-section",
        ),
    ],
)
def test_settings_problem(tmp_path, text, code, severity, token, message_part):
    path, problems = _problems(tmp_path, text)
    assert [p.code for p in problems] == [code], [p.message for p in problems]
    (problem,) = problems
    assert problem.path == path
    assert problem.severity.value == severity
    assert message_part in problem.message
    if token is not None:
        assert covered(text, problem.range) == token


def test_exact_position_in_a_longer_file(tmp_path):
    text = GOOD_SETTINGS.replace("    api_key: ${env:OPENAI_API_KEY}\nmodels", "    api_key: abcdef\nmodels")
    path, problems = _problems(tmp_path, text)
    (problem,) = problems
    assert (problem.code, problem.range) == ("PW606", Range.of(8, 13, 8, 19))
    assert apply_fix(text, problem.fixes[0]).count("api_key: ${env:OPENAI_API_KEY}") == 2


def test_fix_writes_a_quoted_price_as_a_number(tmp_path):
    text = "models:\n  m: {input_per_1m: \"0.25\"}\n"
    (problem,) = _problems(tmp_path, text)[1]
    assert apply_fix(text, problem.fixes[0]) == "models:\n  m: {input_per_1m: 0.25}\n"


def test_settings_never_raise_on_odd_yaml(tmp_path):
    for text in ("", "- a\n- b\n", "just text\n", "a: &x [*x]\n", "x: " + "[" * 200 + "]" * 200 + "\n"):
        problems = _problems(tmp_path, text)[1]
        assert all(p.code.startswith("PW1") for p in problems), (text, problems)


PYPROJECT = f"""\
[project]
name = "claims"

[tool.promptwise]
defaults = {{ model = "gpt-4o-mini", conection = "local" }}

[tool.promptwise.models.m]
input_per_1m = "0.5"

[tool.promptwise.connections.openai]
type = "openai"
api_key = "{OPENAI}"
"""


def test_pyproject_tool_table(tmp_path):
    path, problems = _problems(tmp_path, PYPROJECT, "pyproject.toml")
    found = [(p.code, covered(PYPROJECT, p.range)) for p in problems]
    assert found == [
        ("PW103", "conection"),
        ("PW104", '"0.5"'),
        ("PW601", OPENAI),
    ]
    secret = problems[-1]
    assert secret.range == Range.of(11, 11, 11, 11 + len(OPENAI))
    # TOML needs the quotes around the reference
    assert secret.fixes[0].edits[0].new_text == '"${env:OPENAI_API_KEY}"'


def test_pyproject_without_the_table_is_not_checked(tmp_path):
    assert _problems(tmp_path, '[project]\nname = "x"\napi_key = "' + OPENAI + '"\n', "pyproject.toml")[1] == []


def test_pyproject_syntax_error_in_the_table(tmp_path):
    text = '[tool.promptwise]\ndefaults = { model = \n'
    (problem,) = _problems(tmp_path, text, "pyproject.toml")[1]
    assert problem.code == "PW101" and problem.range.start.line == 1


def test_check_settings_file_uses_the_given_text(tmp_path):
    path = tmp_path / "promptwise.yaml"
    path.write_text(GOOD_SETTINGS)
    problems = check_settings_file(path, "defautls: {}\n")
    assert [(p.code, p.range) for p in problems] == [("PW103", Range.of(0, 0, 0, 8))]


# ------------------------------------------------------------------ connection names in flows

FLOW = """\
inputs:
  q: {type: string}
outputs:
  a: {type: string, reference: '${ask.output}'}
nodes:
- name: ask
  type: llm
  source: {type: code, path: ask.jinja2}
  connection: CONNECTION
  api: chat
  inputs:
    q: ${inputs.q}
    deployment_name: gpt-4o
"""


def _flow(project, connection: str, settings: str | None = GOOD_SETTINGS):
    if settings is not None:
        project.write("promptwise.yaml", settings)
    project.write("ask.jinja2", "user:\n{{q}}\n")
    text = FLOW.replace("CONNECTION", connection)
    path = project.write("flow.dag.yaml", text)
    return text, [p for p in analyze(path) if p.code == "PW216"]


def test_connection_typo_in_a_flow(project):
    text, problems = _flow(project, "opena")
    (problem,) = problems
    assert problem.severity.value == "warning"
    assert problem.range == Range.of(8, 14, 8, 19)
    assert "did you mean 'openai'?" in problem.message
    assert "default connection 'local'" in problem.message
    assert "connection: openai" in apply_fix(text, problem.fixes[0])


def test_unknown_connection_without_a_close_name_lists_the_defined_ones(project):
    (problem,) = _flow(project, "zzz_endpoint")[1]
    assert "use one of: local, openai" in problem.message and problem.fixes == ()


@pytest.mark.parametrize("name", ["local", "openai", "open_ai_connection", "azure_open_ai_connection"])
def test_defined_and_conventional_connections_are_fine(project, name):
    assert _flow(project, name)[1] == []


def test_no_connections_section_means_no_opinion(project):
    assert _flow(project, "opena", settings="defaults: {model: gpt-4o-mini}\n")[1] == []
    assert _flow(project, "opena", settings=None)[1] == []


def test_connection_typo_in_a_subfolder_flow_uses_the_workspace_settings(project):
    project.write("promptwise.yaml", GOOD_SETTINGS)
    project.write("claims/ask.jinja2", "user:\n{{q}}\n")
    path = project.write("claims/flow.dag.yaml", FLOW.replace("CONNECTION", "lcal"))
    (problem,) = [p for p in analyze(path) if p.code == "PW216"]
    assert "did you mean 'local'?" in problem.message and "../promptwise.yaml" in problem.message


def test_editing_the_settings_rechecks_the_flow(project):
    assert _flow(project, "opena")[1]
    settings = GOOD_SETTINGS.replace("models:", "  opena:\n    type: openai\nmodels:")
    project.write("promptwise.yaml", settings)
    assert [p for p in analyze(project.root / "flow.dag.yaml") if p.code == "PW216"] == []


PROMPTY = """\
---
name: triage
model:
  api: chat
  configuration:
    type: openai
    connection: CONNECTION
    model: gpt-4o-mini
inputs:
  q: {type: string}
---
system:
Answer.
user:
{{q}}
"""


def test_connection_typo_in_a_prompty(project):
    project.write("promptwise.yaml", GOOD_SETTINGS)
    text = PROMPTY.replace("CONNECTION", "locl")
    path = project.write("p.prompty", text)
    (problem,) = [p for p in analyze(path) if p.code == "PW216"]
    assert covered(text, problem.range) == "locl"
    assert "did you mean 'local'?" in problem.message


def test_env_reference_as_prompty_connection_is_not_a_name(project):
    project.write("promptwise.yaml", GOOD_SETTINGS)
    path = project.write("p.prompty", PROMPTY.replace("CONNECTION", "${env:CONNECTION_NAME}"))
    assert [p for p in analyze(path) if p.code == "PW216"] == []
