"""PW6xx in every file a flow or prompt uses, not only in the flow file itself: Jinja
templates, Python tool modules, flex entry modules and `${file:...}` data."""

from __future__ import annotations

import pytest

from analysis_helpers import covered
from promptwise.analysis import analyze
from promptwise.cli import main
from promptwise.documents.source import Range

OPENAI = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXyZ0aB4c"  # not a real key
STORAGE = (
    "DefaultEndpointsProtocol=https;AccountName=acct;"
    "AccountKey=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==;EndpointSuffix=core.windows.net"
)

FLOW = """\
inputs:
  q: {type: string}
outputs:
  a: {type: string, reference: '${shape.output}'}
nodes:
- name: ask
  type: llm
  source: {type: code, path: ask.jinja2}
  connection: open_ai_connection
  api: chat
  inputs:
    q: ${inputs.q}
    deployment_name: gpt-4o
- name: shape
  type: python
  source: {type: code, path: tools/shape.py}
  inputs:
    x: ${ask.output}
"""

TEMPLATE = f"system:\nYou may call the API with key {OPENAI} if needed.\nuser:\n{{{{q}}}}\n"
TOOL = f'''from promptflow.core import tool

STORAGE = "{STORAGE}"


@tool
def shape(x: str) -> str:
    return x
'''


def _secrets(problems):
    return [(p.path.name, p.code, p.range) for p in problems if p.code.startswith("PW6")]


def test_template_and_tool_secrets_are_reported_from_the_flow(project):
    path, problems = project.analyze("flow.dag.yaml", FLOW, {"ask.jinja2": TEMPLATE, "tools/shape.py": TOOL})
    at = TEMPLATE.split("\n")[1].index(OPENAI)
    key_at = TOOL.split("\n")[2].index("Zm9v")
    assert _secrets(problems) == [
        ("ask.jinja2", "PW601", Range.of(1, at, 1, at + len(OPENAI))),
        ("shape.py", "PW604", Range.of(2, key_at, 2, key_at + 40)),
    ]
    template = next(p for p in problems if p.path.name == "ask.jinja2")
    assert "environment variable OPENAI_API_KEY" in template.message
    assert "${env:OPENAI_API_KEY}" in template.message
    assert template.path == project.root / "ask.jinja2"


@pytest.mark.parametrize(
    "line",
    [
        "Use the key ${env:OPENAI_API_KEY} from the environment.",
        "api_key: <your-key>",
        "api_key = sk-...",
        "api_key = sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "api_key: xxx",
        "Write {{ api_key }} here.",
    ],
)
def test_references_and_placeholders_in_used_files_are_not_secrets(project, line):
    template = f"system:\n{line}\nuser:\n{{{{q}}}}\n"
    tool = TOOL.replace(STORAGE, line.replace('"', "'"))
    _, problems = project.analyze("flow.dag.yaml", FLOW, {"ask.jinja2": template, "tools/shape.py": tool})
    assert _secrets(problems) == []


def test_unsaved_template_text_is_scanned(project):
    path, problems = project.analyze("flow.dag.yaml", FLOW, {"ask.jinja2": "user:\n{{q}}\n", "tools/shape.py": TOOL.replace(STORAGE, "x")})
    assert _secrets(problems) == []
    overlay = {str(project.root / "ask.jinja2"): TEMPLATE}
    assert [name for name, *_ in _secrets(analyze(path, overlay=overlay))] == ["ask.jinja2"]


def test_prompty_file_substitution_is_scanned(project):
    prompty = (
        "---\nmodel:\n  api: chat\n  configuration: {type: openai, model: gpt-4o-mini}\n"
        "inputs:\n  q: {type: string}\nsample: ${file:sample.json}\n---\nuser:\n{{q}}\n"
    )
    sample = '{"q": "hello", "api_key": "' + OPENAI + '"}\n'
    _, problems = project.analyze("p.prompty", prompty, {"sample.json": sample})
    (secret,) = [p for p in problems if p.code.startswith("PW6")]
    assert (secret.path.name, secret.code) == ("sample.json", "PW601")
    assert covered(sample, secret.range) == OPENAI


def test_flex_entry_module_is_scanned(project):
    flow = "entry: answer:run\ninputs:\n  q: {type: string}\n"
    module = f'API_KEY = "{OPENAI}"\n\n\ndef run(q: str) -> str:\n    return q\n'
    _, problems = project.analyze("flow.flex.yaml", flow, {"answer.py": module})
    assert [(n, c) for n, c, _ in _secrets(problems)] == [("answer.py", "PW601")]


def test_check_folder_reports_secrets_in_templates_tools_and_settings(project, capsys, monkeypatch):
    project.write("ask.jinja2", TEMPLATE)
    project.write("tools/shape.py", TOOL)
    project.write("flow.dag.yaml", FLOW)
    project.write("promptwise.yaml", f"connections:\n  openai:\n    type: openai\n    api_key: {OPENAI}\n")
    monkeypatch.chdir(project.root)
    assert main(["check", "."]) == 1
    lines = capsys.readouterr().out.splitlines()
    found = sorted(line.split(": ")[0] + " " + line.split(" ")[2].rstrip(":") for line in lines)
    assert found == [
        "ask.jinja2:2:31 PW601",
        "promptwise.yaml:4:14 PW601",
        "tools/shape.py:3:71 PW604",
    ]


def test_requirements_file_with_a_private_index_password_is_scanned(project):
    flow = "inputs: {}\noutputs: {}\nnodes: []\nenvironment:\n  python_requirements_txt: requirements.txt\n"
    requirements = "--extra-index-url https://build:Pa55w0rdXy@pkgs.example.org/simple\npromptflow>=1.10\nrequests==2.31\n"
    _, problems = project.analyze("flow.dag.yaml", flow, {"requirements.txt": requirements})
    (secret,) = [p for p in problems if p.code.startswith("PW6")]
    assert (secret.path.name, secret.code, covered(requirements, secret.range)) == ("requirements.txt", "PW604", "Pa55w0rdXy")
