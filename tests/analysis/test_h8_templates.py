"""PW4xx: Jinja syntax errors and template variables against node / prompty inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.analysis.context import AnalysisContext
from promptwise.analysis.problem import Severity
from promptwise.analysis.templates import check
from promptwise.documents.load import load_document
from promptwise.documents.source import Range

# `path: prompt.jinja2` value on line 12 (characters 10-23); node inputs from line 14.
FLOW = """\
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${chat.output}
nodes:
- name: chat
  type: {type}
  source:
    type: code
    path: prompt.jinja2
  inputs:
{inputs}  connection: my_connection
  api: chat
"""
PATH_VALUE = Range.of(12, 10, 12, 23)
INPUTS_KEY = Range.of(13, 2, 13, 8)


def run(tmp_path: Path, template: str, inputs: str, node_type: str = "llm"):
    (tmp_path / "prompt.jinja2").write_text(template)
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(FLOW.replace("{type}", node_type).replace("{inputs}", inputs))
    return check(load_document(flow), AnalysisContext.create(flow))


def summary(problems):
    return sorted(((p.code, p.path.name, p.range, p.severity) for p in problems), key=str)


E, W = Severity.ERROR, Severity.WARNING


@pytest.mark.parametrize(
    "template, inputs, node_type, expected",
    [
        pytest.param(
            "system:\nYou answer.\nuser:\n{{ question }}\n",
            "    deployment_name: gpt-4o\n    max_tokens: 200\n    question: ${inputs.question}\n",
            "llm", [], id="valid-llm-parameters-are-not-template-inputs",
        ),
        pytest.param(
            "user:\n{{ question }} in {{ language }}\n", "    question: ${inputs.question}\n", "prompt",
            [("PW403", "prompt.jinja2", Range.of(1, 21, 1, 29), E), ("PW403", "flow.dag.yaml", INPUTS_KEY, E)],
            id="variable-not-provided",
        ),
        pytest.param(
            "user:\n{{ question }}\n", "    question: ${inputs.question}\n    tone: formal\n", "prompt",
            [("PW404", "flow.dag.yaml", Range.of(15, 4, 15, 8), W)], id="input-never-used",
        ),
        pytest.param(
            "user:\n{{ question }}\n", "    qestion: ${inputs.question}\n", "llm",
            [("PW403", "prompt.jinja2", Range.of(1, 3, 1, 11), E), ("PW403", "flow.dag.yaml", Range.of(14, 4, 14, 11), E)],
            id="misspelled-input-is-one-mistake",
        ),
        pytest.param(
            "user:\n{{ temperature }}\n", "    temperature: 0.2\n", "llm",
            [("PW403", "prompt.jinja2", Range.of(1, 3, 1, 14), E), ("PW403", "flow.dag.yaml", INPUTS_KEY, E)],
            id="llm-parameter-is-not-a-template-variable",
        ),
        pytest.param(
            "user:\n{% for q in questions %}{{ q }}{% endfor %}\n", "    questions: ${inputs.question}\n", "prompt",
            [], id="loop-variable-is-not-an-input",
        ),
        pytest.param(
            "user:\n\n  {{ question }\n", "    question: ${inputs.question}\n", "llm",
            [("PW401", "prompt.jinja2", Range.of(2, 2, 2, 15), E), ("PW402", "flow.dag.yaml", PATH_VALUE, E)],
            id="syntax-error-at-template-line-and-on-node",
        ),
    ],
)
def test_flow_template_problems(tmp_path, template, inputs, node_type, expected):
    assert summary(run(tmp_path, template, inputs, node_type)) == sorted(expected, key=str)


def test_misspelled_input_fixes(tmp_path):
    problems = run(tmp_path, "user:\n{{ question }} and {{ question }}\n", "    qestion: ${inputs.question}\n")
    by_path = {p.path.name: p for p in problems}
    template_fix = by_path["prompt.jinja2"].fixes[0]
    assert [(e.range, e.new_text) for e in template_fix.edits] == [
        (Range.of(1, 3, 1, 11), "qestion"),
        (Range.of(1, 22, 1, 30), "qestion"),
    ]
    flow_fix = by_path["flow.dag.yaml"].fixes[0]
    assert [(e.range, e.new_text) for e in flow_fix.edits] == [(Range.of(14, 4, 14, 11), "question")]


def test_unused_input_fix_removes_its_line(tmp_path):
    problems = run(tmp_path, "user:\n{{ question }}\n", "    question: ${inputs.question}\n    tone: formal\n", "prompt")
    (fix,) = problems[0].fixes
    assert [(e.range, e.new_text) for e in fix.edits] == [(Range.of(15, 0, 16, 0), "")]


def test_message_says_it_would_render_empty(tmp_path):
    problems = run(tmp_path, "user:\n{{ language }}\n", "", "prompt")
    assert all("render as empty text" in p.message for p in problems)


def test_template_on_its_own(tmp_path):
    path = tmp_path / "t.jinja2"
    path.write_text("{% if x %}\nhello\n")
    # Jinja reports the unclosed block's end at the line its last token started on
    assert summary(check(load_document(path))) == [("PW401", "t.jinja2", Range.of(0, 0, 0, 10), E)]


PROMPTY = """\
---
name: answer
model:
  api: chat
inputs:
  question:
    type: string
  context:
    type: string
---
system:
Use {{ context }}.
user:
{{ question }}
"""


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(PROMPTY, [], id="valid"),
        pytest.param(
            PROMPTY.replace("{{ question }}", "{{ question }} {{ lang }}"),
            [("PW403", "p.prompty", Range.of(13, 18, 13, 22), E)], id="not-an-input",
        ),
        pytest.param(
            PROMPTY.replace("Use {{ context }}.", "Be brief."),
            [("PW404", "p.prompty", Range.of(7, 2, 7, 9), W)], id="input-never-used",
        ),
        pytest.param(
            PROMPTY.replace("{{ question }}", "{{ qestion }}").replace("Use {{ context }}.", "Use {{ context }"),
            [("PW401", "p.prompty", Range.of(11, 0, 11, 16), E)], id="syntax-error-at-file-line",
        ),
        pytest.param(
            PROMPTY.replace("{{ question }}", "{{ qestion }}"),
            [("PW403", "p.prompty", Range.of(13, 3, 13, 10), E)], id="misspelled-is-one-mistake",
        ),
        pytest.param(
            PROMPTY.replace("name: answer", "name: answer\ntemplate: mustache").replace("{{ question }}", "{{ other }}"),
            [], id="not-jinja-not-checked",
        ),
    ],
)
def test_prompty_template_problems(tmp_path, text, expected):
    path = tmp_path / "p.prompty"
    path.write_text(text)
    assert summary(check(load_document(path))) == sorted(expected, key=str)


def test_template_for_node_lists_variables(tmp_path):
    from promptwise.analysis.templates import call_parameters, template_for_node

    (tmp_path / "prompt.jinja2").write_text("user:\n{{ question }} {{ tone }}\n")
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(FLOW.replace("{type}", "llm").replace("{inputs}", "    question: x\n"))
    document = load_document(flow)
    node = document.node("chat")
    assert template_for_node(document, node).variable_names == ["question", "tone"]
    assert "deployment_name" in call_parameters(node)
