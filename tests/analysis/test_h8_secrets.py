"""PW6xx: secrets written literally, with a fix that moves them to the environment."""

from __future__ import annotations

import pytest

from promptwise.analysis.secrets import check, check_text, classify, env_name
from promptwise.documents.load import load_document
from promptwise.documents.source import Range

OPENAI = "sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789"  # not a real key
HEX = "0123456789abcdef0123456789abcdef"
AWS = "AKIAZ3Q4R5S6T7U8V9W0"
STORAGE = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==;EndpointSuffix=core.windows.net"
TOKEN = "ghp_A1b2C3d4E5f6G7h8I9j0KLmnOPqrST"


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        pytest.param(f"api_key: {OPENAI}\n", [("PW601", Range.of(0, 9, 0, 53), "${env:OPENAI_API_KEY}")], id="openai-plain"),
        pytest.param(f'key: "{OPENAI}"\n', [("PW601", Range.of(0, 6, 0, 50), "${env:OPENAI_API_KEY}")], id="openai-quoted"),
        pytest.param(
            f"configuration:\n  type: azure_openai\n  api_key: '{HEX}'\n",
            [("PW602", Range.of(2, 12, 2, 44), "${env:AZURE_OPENAI_API_KEY}")], id="azure-key-under-api-key",
        ),
        pytest.param(f"aws_id: {AWS}\n", [("PW603", Range.of(0, 8, 0, 28), "${env:AWS_ACCESS_KEY_ID}")], id="aws"),
        pytest.param(
            f"storage_connection_string: {STORAGE}\n",
            [("PW604", Range.of(0, 86, 0, 118), "${env:STORAGE_CONNECTION_STRING}")], id="account-key",
        ),
        pytest.param(
            "db: Server=tcp:x.database.windows.net;Database=d;User ID=u;Password=S3cretPa55;\n",
            [("PW604", Range.of(0, 68, 0, 78), "${env:DB_CONNECTION_STRING}")], id="password-in-connection-string",
        ),
        pytest.param(
            "url: postgres://admin:Xk29vLq77@db.example.org/app\n",
            [("PW604", Range.of(0, 22, 0, 31), "${env:URL}")], id="url-password",
        ),
        pytest.param(
            f"connections:\n  github:\n    token: {TOKEN}\n",
            [("PW605", Range.of(2, 11, 2, 45), "${env:GITHUB_TOKEN}")], id="high-entropy-token",
        ),
        pytest.param("db_password: Tr0ub4dor&3\n", [("PW605", Range.of(0, 13, 0, 24), "${env:DB_PASSWORD}")], id="password"),
        pytest.param(
            f"key: |\n  {OPENAI}\n",
            [("PW601", Range.of(0, 5, 2, 0), "${env:OPENAI_API_KEY}")], id="block-scalar-whole-value",
        ),
        # not secrets
        pytest.param("api_key: ${env:OPENAI_API_KEY}\n", [], id="env-reference"),
        pytest.param("api_key: <your-api-key>\n", [], id="placeholder-angle"),
        pytest.param("api_key: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", [], id="placeholder-x"),
        pytest.param("api_key: sk-...\n", [], id="placeholder-dots"),
        pytest.param("api_key: short1\n", [], id="short"),
        pytest.param(f"model: {HEX}\n", [], id="hex-under-ordinary-name"),
        pytest.param("max_tokens: 4096\n", [], id="number"),
        pytest.param("aws: AKIAIOSFODNN7EXAMPLE\n", [], id="documented-example-key"),
        pytest.param("token: the quick brown fox jumps over\n", [], id="words-with-spaces"),
        pytest.param("question: ${inputs.question}\n", [], id="flow-reference"),
    ],
)
def test_yaml_secrets(yaml_text, expected):
    problems = check_text("config.yaml", yaml_text)
    assert [(p.code, p.range, p.fixes[0].edits[0].new_text) for p in problems] == expected
    for problem in problems:
        assert problem.severity.value == "error"
        (edit,) = problem.fixes[0].edits
        assert edit.range.start <= problem.range.start and problem.range.end <= edit.range.end


def test_key_inside_prose_is_reported_without_an_edit():
    (problem,) = check_text("config.yaml", f"prompt: |\n  use {OPENAI} here\n")
    assert (problem.code, problem.range, problem.fixes) == ("PW601", Range.of(0, 8, 2, 0), ())
    assert "OPENAI_API_KEY" in problem.message


def test_fix_replaces_the_whole_scalar_including_quotes():
    (problem,) = check_text("config.yaml", f'key: "{OPENAI}"\n')
    (edit,) = problem.fixes[0].edits
    assert edit.range == Range.of(0, 5, 0, 51)


def test_message_names_the_variable_and_says_what_to_do():
    (problem,) = check_text("config.yaml", f"configuration:\n  type: azure_openai\n  api_key: {HEX}\n")
    assert "AZURE_OPENAI_API_KEY" in problem.message
    assert "${env:AZURE_OPENAI_API_KEY}" in problem.message


PYTHON = f'''"""Tool."""
from __future__ import annotations

from promptflow.core import tool

OPENAI_API_KEY = "{OPENAI}"


@tool
def call(question: str, api_key: str = "{HEX}") -> str:
    client = make(token="{TOKEN}", name="ordinary text value here")
    return f"{{question}}"
'''


def test_python_secrets_and_fixes():
    problems = check_text("tool.py", PYTHON)
    assert [(p.code, p.range) for p in problems] == [
        ("PW601", Range.of(5, 18, 5, 62)),
        ("PW602", Range.of(9, 40, 9, 72)),
        ("PW605", Range.of(10, 25, 10, 59)),
    ]
    first = problems[0].fixes[0]
    assert [(e.range, e.new_text) for e in first.edits] == [
        (Range.empty(2, 0), "import os\n"),  # after the docstring and __future__ import
        (Range.of(5, 17, 5, 63), 'os.environ["OPENAI_API_KEY"]'),
    ]
    assert problems[1].fixes[0].edits[-1].new_text == 'os.environ["AZURE_OPENAI_API_KEY"]'
    assert problems[2].fixes[0].edits[-1].new_text == 'os.environ["TOKEN"]'


def test_python_with_os_imported_needs_no_import_edit():
    (problem,) = check_text("tool.py", f'import os\nKEY = "{OPENAI}"\n')
    assert len(problem.fixes[0].edits) == 1


def test_python_syntax_error_still_scanned():
    (problem,) = check_text("tool.py", f'KEY = "{OPENAI}"\ndef broken(:\n')
    assert (problem.code, problem.range) == ("PW601", Range.of(0, 7, 0, 51))


def test_prompty_front_matter_and_body(tmp_path):
    path = tmp_path / "p.prompty"
    path.write_text(
        "---\nmodel:\n  configuration:\n    type: openai\n    model: gpt-4o\n"
        f"    api_key: {OPENAI}\n---\nsystem:\nUse key {AWS} for lookups.\n"
    )
    problems = check(load_document(path))
    assert [(p.code, p.range) for p in problems] == [
        ("PW601", Range.of(5, 13, 5, 57)),
        ("PW603", Range.of(8, 8, 8, 28)),
    ]
    assert problems[0].fixes[0].edits[0].new_text == "${env:OPENAI_API_KEY}"
    assert problems[1].fixes == ()  # text in a prompt: no automatic edit


def test_jinja_template_text(tmp_path):
    path = tmp_path / "t.jinja2"
    path.write_text(f"system:\napi_key = {HEX}\n")
    assert [(p.code, p.range) for p in check(load_document(path))] == [("PW602", Range.of(1, 10, 1, 42))]


def test_flow_dag_document(tmp_path):
    path = tmp_path / "flow.dag.yaml"
    path.write_text(f"inputs: {{}}\noutputs: {{}}\nnodes: []\nenvironment_variables:\n  OPENAI_API_KEY: {OPENAI}\n")
    (problem,) = check(load_document(path))
    assert (problem.code, problem.range) == ("PW601", Range.of(4, 18, 4, 62))
    assert problem.fixes[0].edits[0].new_text == "${env:OPENAI_API_KEY}"


@pytest.mark.parametrize("name", ["flow.dag.yaml", "flow.flex.yaml"])
@pytest.mark.parametrize(
    "yaml_text",
    [
        pytest.param(f"nodes:\n- name: n\n  inputs:\n    api_key: {OPENAI}\n", id="node-input"),
        pytest.param(f"node_variants:\n  n:\n    variants:\n      v:\n        node:\n          inputs:\n            key: {OPENAI}\n", id="variant-input"),
        pytest.param(f"inputs:\n  key:\n    default: {OPENAI}\n", id="input-default"),
        pytest.param(f"init:\n  api_key: {OPENAI}\n", id="flex-init"),
    ],
)
def test_flow_keys_outside_environment_variables_get_no_env_reference(name, yaml_text):
    """`${env:NAME}` in a flow is read only under `environment_variables`; elsewhere it is a
    reference to a node `env` (PW202), so the fix must not write it there: the message says
    how Prompt flow passes secrets (a connection, or environment_variables)."""
    (problem,) = check_text(name, yaml_text)
    assert problem.code == "PW601" and problem.fixes == ()
    assert "write `${env:" not in problem.message
    assert "connection" in problem.message and "OPENAI_API_KEY" in problem.message


@pytest.mark.parametrize(
    "value, key, expected",
    [
        (OPENAI, None, "PW601"),
        ("sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaa", None, None),  # no entropy: not a key
        ("sk-fake-key-for-the-tests-only-123", "api_key", None),
        (HEX, "subscription_key", "PW602"),
        (HEX, "key", "PW602"),
        (HEX, "sort_key", None),
        (TOKEN, "authToken", "PW605"),
        (TOKEN, "description", None),
        ("correcthorsebatterystaple", "password", None),  # one character class: likely prose
    ],
)
def test_classify(value, key, expected):
    secret = classify(value, key)
    assert (secret.code if secret else None) == expected


@pytest.mark.parametrize(
    "key, value, provider, parent, expected",
    [
        ("api_key", HEX, "azure_openai", None, "AZURE_OPENAI_API_KEY"),
        ("api_key", OPENAI, "openai", None, "OPENAI_API_KEY"),
        ("api_key", OPENAI, None, None, "OPENAI_API_KEY"),
        ("apiKey", TOKEN, None, "search", "SEARCH_API_KEY"),
        ("OPENAI_API_KEY", OPENAI, None, None, "OPENAI_API_KEY"),
        ("aws_key", AWS, None, None, "AWS_ACCESS_KEY_ID"),
        ("token", TOKEN, None, "configuration", "TOKEN"),
    ],
)
def test_env_name(key, value, provider, parent, expected):
    assert env_name(key, classify(value, key), provider, parent) == expected
