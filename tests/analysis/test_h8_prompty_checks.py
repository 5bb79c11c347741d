"""PW5xx: a .prompty's role lines, model configuration, parameters and sample."""

from __future__ import annotations

import pytest

from promptwise.analysis.context import AnalysisContext
from promptwise.analysis.problem import Severity
from promptwise.analysis.prompty_checks import check
from promptwise.documents.load import load_document
from promptwise.documents.source import Range

E, W = Severity.ERROR, Severity.WARNING

# Front matter lines 0-14; body from line 15.
PROMPTY = """\
---
name: answer
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o
    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}
  parameters:
    max_tokens: 300
    temperature: 0.2
inputs:
  question:
    type: string
---
system:
You answer briefly.
user:
{{ question }}
"""

SPEC = """\
---
name: answer
model:
  id: gpt-4o-mini
  apiType: chat
  options:
    temperature: 0.2
inputs:
  - name: question
    kind: string
---
system:
Answer.
user:
{{ question }}
"""


def run(tmp_path, text, files=None):
    for name, content in (files or {}).items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "p.prompty"
    path.write_text(text)
    return check(load_document(path), AnalysisContext.create(path))


def summary(problems):
    return sorted(((p.code, p.range, p.severity) for p in problems), key=str)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(PROMPTY, [], id="valid-promptflow-shape"),
        pytest.param(SPEC, [], id="valid-prompty-spec-shape"),
        # role lines
        pytest.param(PROMPTY.replace("system:\n", "sytem:\n"), [("PW501", Range.of(15, 0, 15, 5), E), ("PW503", Range.of(15, 0, 16, 19), E)], id="misspelled-role"),
        pytest.param(PROMPTY.replace("user:\n", "# Human:\n"), [("PW501", Range.of(17, 2, 17, 7), E)], id="alias-role-after-hash"),
        pytest.param(PROMPTY.replace("system:\nYou answer briefly.\nuser:\n", ""), [("PW502", Range.of(15, 0, 15, 14), E)], id="no-role-lines"),
        pytest.param(SPEC.replace("system:\nAnswer.\nuser:\n", ""), [("PW502", Range.of(11, 0, 11, 14), W)], id="no-role-lines-spec-shape-lenient"),
        pytest.param(PROMPTY.replace("system:\n", "Intro text\n  more\nsystem:\n"), [("PW503", Range.of(15, 0, 16, 6), E)], id="text-before-first-role"),
        pytest.param(PROMPTY.replace("system:\n", "{# a comment #}\n{% set x = 1 %}\nsystem:\n"), [], id="jinja-comments-before-first-role-are-fine"),
        pytest.param(PROMPTY.replace("system:\n", "assistant:\n").replace("user:\n", "assistant:\n"), [("PW504", Range.of(15, 0, 15, 10), W)], id="no-system-or-user"),
        pytest.param(PROMPTY.replace("You answer briefly.", "Example:\nNote:\nRules:\nTools:\nUsers:\nRole:"), [], id="headings-are-text"),
        pytest.param(PROMPTY.replace("user:\n", "Asistant:\n"), [("PW501", Range.of(17, 0, 17, 8), E)], id="misspelled-assistant"),
        pytest.param(PROMPTY.replace("api: chat", "api: completion").replace("system:\n", "").replace("user:\n", ""), [], id="completion-needs-no-roles"),
        # model configuration
        pytest.param(PROMPTY.replace("    azure_deployment: gpt-4o\n", ""), [("PW505", Range.of(5, 4, 5, 8), E)], id="azure-without-deployment"),
        pytest.param(PROMPTY.replace("    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}\n", ""), [("PW505", Range.of(5, 4, 5, 8), Severity.INFORMATION)], id="azure-without-endpoint-is-information"),
        pytest.param(PROMPTY.replace("    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}\n", "    connection: my_aoai\n"), [], id="azure-endpoint-from-connection"),
        pytest.param(PROMPTY.replace("    type: azure_openai\n    azure_deployment: gpt-4o\n    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}\n", "    type: openai\n    api_key: ${env:OPENAI_API_KEY}\n"), [("PW505", Range.of(5, 4, 5, 8), E)], id="openai-without-model"),
        pytest.param(PROMPTY.replace("    type: azure_openai\n", ""), [], id="type-inferred-from-keys"),
        pytest.param(PROMPTY.replace("    type: azure_openai\n    azure_deployment: gpt-4o\n    azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}\n", "    api_version: 2024-06-01\n"), [("PW505", Range.of(4, 2, 4, 15), E)], id="configuration-without-type"),
        pytest.param(SPEC.replace("apiType: chat", "apiType: chatt"), [("PW505", Range.of(4, 11, 4, 16), E)], id="spec-unknown-api-type"),
        # parameters
        pytest.param(PROMPTY.replace("max_tokens: 300", 'max_tokens: "abc"'), [("PW506", Range.of(9, 16, 9, 21), E)], id="max-tokens-not-a-number"),
        pytest.param(PROMPTY.replace("max_tokens: 300", "max_tokens: 0"), [("PW506", Range.of(9, 16, 9, 17), E)], id="max-tokens-zero"),
        pytest.param(PROMPTY.replace("temperature: 0.2", "temperature: 3"), [("PW506", Range.of(10, 17, 10, 18), E)], id="temperature-out-of-range"),
        pytest.param(PROMPTY.replace("temperature: 0.2", "temperature: 1"), [], id="integer-is-a-number"),
        pytest.param(PROMPTY.replace("temperature: 0.2", "stop: [a, b]\n    stream: yes please"), [("PW506", Range.of(11, 12, 11, 22), E)], id="stream-not-a-boolean"),
        pytest.param(PROMPTY.replace("temperature: 0.2", "temperature: ${env:TEMPERATURE}"), [], id="substitution-not-checked"),
        pytest.param(SPEC.replace("temperature: 0.2", "maxTokens: many"), [("PW506", Range.of(6, 15, 6, 19), E)], id="spec-options-camel-case"),
        # sample
        pytest.param(PROMPTY.replace("---\nsystem", "sample:\n  qestion: hi\n---\nsystem"), [("PW507", Range.of(15, 2, 15, 9), W)], id="sample-key-not-an-input"),
        pytest.param(PROMPTY.replace("---\nsystem", "sample:\n  question: hi\n---\nsystem"), [], id="sample-keys-match"),
    ],
)
def test_prompty_problems(tmp_path, text, expected):
    assert summary(run(tmp_path, text)) == sorted(expected, key=str)


def test_sample_file_keys_are_checked(tmp_path):
    text = PROMPTY.replace("---\nsystem", "sample: ${file:sample.json}\n---\nsystem")
    problems = run(tmp_path, text, {"sample.json": '{"question": "hi", "topic": "x"}'})
    assert summary(problems) == [("PW507", Range.of(14, 8, 14, 27), W)]
    assert "`topic`" in problems[0].message


def test_misspelled_role_fix(tmp_path):
    problems = run(tmp_path, PROMPTY.replace("user:\n", "usr:\n"))
    (problem,) = problems
    assert "did you mean `user:`" in problem.message
    assert [(e.range, e.new_text) for e in problem.fixes[0].edits] == [(Range.of(17, 0, 17, 3), "user")]


def test_quoted_number_fix(tmp_path):
    (problem,) = run(tmp_path, PROMPTY.replace("max_tokens: 300", 'max_tokens: "300"'))
    assert problem.code == "PW506"
    assert [(e.range, e.new_text) for e in problem.fixes[0].edits] == [(Range.of(9, 16, 9, 21), "300")]


def test_sample_rename_fix(tmp_path):
    (problem,) = run(tmp_path, PROMPTY.replace("---\nsystem", "sample:\n  qestion: hi\n---\nsystem"))
    assert [(e.range, e.new_text) for e in problem.fixes[0].edits] == [(Range.of(15, 2, 15, 9), "question")]


def test_not_a_prompty_gives_nothing(tmp_path):
    path = tmp_path / "t.jinja2"
    path.write_text("sytem:\n")
    assert check(load_document(path)) == []
