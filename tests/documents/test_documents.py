"""The document model: flow.dag.yaml, flow.flex.yaml and .prompty read with ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.documents import UnreadableDocument, load_document
from promptwise.documents.flex_flow import FlexFlow, parse_flex_flow
from promptwise.documents.flow_dag import FlowDag, parse_flow_dag
from promptwise.documents.jinja_template import JinjaTemplate
from promptwise.documents.prompty import SHAPE_PROMPTFLOW, SHAPE_PROMPTY, Prompty, parse_prompty
from promptwise.documents.python_tool import PythonToolFile

FLOW = """\
inputs:
  question:
    type: string
    default: hi
    description: what to ask
    enum: [hi, bye]
    is_chat_input: true
  history: {type: list, is_chat_history: true}
outputs:
  answer:
    type: string
    reference: ${answer.output.text}
    is_chat_output: true
nodes:
- name: answer
  type: llm
  source:
    type: code
    path: answer.jinja2
  inputs:
    deployment_name: gpt-4o
    question: ${inputs.question}
    history: ${flow.history}
  connection: open_ai
  api: chat
  provider: AzureOpenAI
  module: promptflow.tools.aoai
  activate:
    when: ${gate.output}
    is: true
- name: gate
  type: python
  source: {type: code, path: gate.py, tool: decide}
  inputs: {}
  aggregation: true
- name: pick
  use_variants: true
node_variants:
  pick:
    default_variant_id: v0
    variants:
      v0:
        node:
          type: python
          source: {type: code, path: v0.py}
          inputs:
            x: ${answer.output}
      v1:
        description: second
        node:
          type: python
          source: {type: code, path: v1.py}
environment:
  python_requirements_txt: requirements.txt
environment_variables:
  A: 1
additional_includes:
- ../shared/data.json
"""


def _at(text: str, range_) -> str:
    lines = text.split("\n")
    assert range_.start.line == range_.end.line
    return lines[range_.start.line][range_.start.character : range_.end.character]


def test_flow_dag_elements():
    flow = parse_flow_dag(FLOW, "proj/flow.dag.yaml")
    assert flow.problems == []
    question = flow.inputs["question"]
    assert (question.type, question.default, question.description, question.enum) == ("string", "hi", "what to ask", ["hi", "bye"])
    assert question.is_chat_input and flow.inputs["history"].is_chat_history
    assert _at(FLOW, question.key_range) == "question"
    assert _at(FLOW, question.value_range("type")) == "string"
    output = flow.outputs["answer"]
    assert output.is_chat_output and output.reference.name == "answer" and output.reference.path == ("text",)
    answer = flow.node("answer")
    assert (answer.type, answer.connection, answer.api, answer.provider, answer.module) == (
        "llm", "open_ai", "chat", "AzureOpenAI", "promptflow.tools.aoai",
    )
    assert answer.source.path == "answer.jinja2" and answer.source.type == "code"
    assert _at(FLOW, answer.name_range) == "answer"
    assert answer.inputs["deployment_name"].value == "gpt-4o"
    assert answer.inputs["question"].reference.is_flow_input
    assert answer.inputs["history"].reference.prefix == "flow"
    assert answer.activate.when.name == "gate" and answer.activate.is_value is True
    gate = flow.node("gate")
    assert gate.aggregation and gate.source.tool == "decide" and gate.inputs == {}
    assert flow.node("pick").use_variants
    variants = flow.node_variants["pick"]
    assert variants.default_variant_id == "v0" and list(variants.variants) == ["v0", "v1"]
    assert variants.variants["v0"].node.name == "pick"  # a variant's node takes the node's name
    assert variants.variants["v0"].node.variant_of == ("pick", "v0")
    assert variants.variants["v1"].description == "second"
    assert flow.environment == {"python_requirements_txt": "requirements.txt"}
    assert flow.environment_variables == {"A": 1}
    assert [p for p, _ in flow.additional_includes] == ["../shared/data.json"]
    names = [(where, ref.text) for where, _, ref in flow.references()]
    assert ("activate", "${gate.output}") in names
    assert ("input", "${answer.output}") in names  # from a variant
    assert ("output", "${answer.output.text}") in names


@pytest.mark.parametrize(
    "text, code",
    [
        ("", "PW105"),
        ("- a\n- b\n", "PW104"),
        ("inputs: [1,\n", "PW101"),
        ("inputs: {}\ninputs: {}\n", "PW102"),
    ],
)
def test_flow_dag_parse_problems(text, code):
    flow = parse_flow_dag(text)
    assert code in [p.code for p in flow.problems]


def test_flow_dag_wrong_shapes_do_not_raise():
    flow = parse_flow_dag("inputs: 3\noutputs: [a]\nnodes: {a: 1}\nnode_variants: x\n")
    assert flow.inputs == {} and flow.outputs == {} and flow.nodes == []


def test_flex_flow_entry_parts():
    text = "entry: pkg.chat:ChatFlow\ninit:\n  model: {type: string, default: gpt-4o}\ninputs:\n  q: {type: string}\nsample:\n  q: hi\n"
    flow = parse_flex_flow(text, "f/flow.flex.yaml")
    assert (flow.module, flow.attribute) == ("pkg.chat", "ChatFlow")
    assert _at(text, flow.module_range) == "pkg.chat" and _at(text, flow.attribute_range) == "ChatFlow"
    assert flow.entry_is_valid
    assert flow.init["model"].default == "gpt-4o" and list(flow.inputs) == ["q"]
    assert flow.sample == {"q": "hi"}
    assert flow.module_candidates() == [Path("f/pkg/chat.py"), Path("f/pkg/chat/__init__.py")]


PROMPTFLOW_PROMPTY = """\
---
name: Basic
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o
    api_key: ${env:AZURE_OPENAI_API_KEY}
  parameters:
    max_tokens: 128
inputs:
  question:
    type: string
    default: hello
sample: ${file:sample.json}
---
# system:
You answer {{question}}.
user:
{{question}}
"""

SPEC_PROMPTY = """\
---
name: Spec
model:
  id: gpt-4o-mini
  provider: openai
  apiType: chat
  connection:
    kind: key
    key: ${env:OPENAI_API_KEY}
  options:
    temperature: 0.2
    maxOutputTokens: 100
inputs:
  - name: topic
    kind: string
    sample: cats
template:
  format: jinja2
  parser: prompty
---
system:
Talk about {{topic}}.
"""


def test_prompty_promptflow_shape():
    prompty = parse_prompty(PROMPTFLOW_PROMPTY, "p/basic.prompty")
    assert prompty.problems == []
    assert prompty.shape == SHAPE_PROMPTFLOW
    assert prompty.model.model_name == "gpt-4o" and prompty.model.configuration_type == "azure_openai"
    assert prompty.model.effective_api == "chat" and prompty.model.effective_parameters == {"max_tokens": 128}
    assert prompty.inputs["question"].default == "hello"
    assert _at(PROMPTFLOW_PROMPTY, prompty.inputs["question"].name_range) == "question"
    assert [(s.kind, s.name) for s in prompty.substitutions] == [("env", "AZURE_OPENAI_API_KEY"), ("file", "sample.json")]
    assert _at(PROMPTFLOW_PROMPTY, prompty.substitutions[0].name_range) == "AZURE_OPENAI_API_KEY"
    assert prompty.body_line == 16 and prompty.body.startswith("# system:")
    assert [(s.role, s.line) for s in prompty.role_sections] == [("system", 16), ("user", 18)]
    assert prompty.template.variable_names == ["question"]
    assert prompty.template.variables[0].range.start.line == 17  # file coordinates


def test_prompty_spec_shape():
    prompty = parse_prompty(SPEC_PROMPTY)
    assert prompty.shape == SHAPE_PROMPTY
    assert prompty.model.model_name == "gpt-4o-mini" and prompty.model.provider == "openai"
    assert prompty.model.effective_parameters == {"temperature": 0.2, "maxOutputTokens": 100}
    assert prompty.inputs["topic"].type == "string" and prompty.sample_inputs() == {"topic": "cats"}
    assert prompty.template_format == "jinja2"
    assert _at(SPEC_PROMPTY, prompty.inputs["topic"].name_range) == "topic"


def test_prompty_without_front_matter():
    prompty = parse_prompty("user:\nhello\n")
    assert [p.code for p in prompty.problems] == ["PW105"]
    assert prompty.body == "user:\nhello\n" and prompty.role_sections[0].role == "user"


def test_load_document_dispatch(tmp_path):
    files = {
        "flow.dag.yaml": "inputs: {}\n",
        "flow.flex.yaml": "entry: a:b\n",
        "x.prompty": "---\nname: x\n---\nuser:\nhi\n",
        "t.jinja2": "{{ a }}",
        "tool.py": "def f(): pass\n",
        "other.yaml": "nodes: []\n",
        "notes.txt": "hello",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    kinds = {name: type(load_document(tmp_path / name)) for name in files}
    assert kinds == {
        "flow.dag.yaml": FlowDag,
        "flow.flex.yaml": FlexFlow,
        "x.prompty": Prompty,
        "t.jinja2": JinjaTemplate,
        "tool.py": PythonToolFile,
        "other.yaml": FlowDag,
        "notes.txt": type(None),
    }


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x00\x01\x02binary", "binary"),
        (b"inputs:\n  q: \xff\xfe\n", "not valid UTF-8"),
    ],
)
def test_unreadable_contents(tmp_path, content, fragment):
    path = tmp_path / "flow.dag.yaml"
    path.write_bytes(content)
    document = load_document(path)
    problems = document.problems
    assert problems[0].code == "PW100" and fragment in problems[0].message


def test_invalid_utf8_points_at_the_byte(tmp_path):
    path = tmp_path / "flow.dag.yaml"
    path.write_bytes(b"inputs:\n  q: ab\xff\n")
    problem = load_document(path).problems[0]
    assert (problem.range.start.line, problem.range.start.character) == (1, 7)


def test_missing_directory_and_large_files(tmp_path):
    assert isinstance(load_document(tmp_path / "flow.dag.yaml"), UnreadableDocument)
    (tmp_path / "d.prompty").mkdir()
    assert isinstance(load_document(tmp_path / "d.prompty"), UnreadableDocument)
    big = tmp_path / "big" / "flow.dag.yaml"
    big.parent.mkdir()
    big.write_text("a: " + "x" * (5 * 1024 * 1024))
    document = load_document(big)
    assert isinstance(document, UnreadableDocument) and "too large" in document.problems[0].message


def test_cache_returns_same_document_until_the_file_changes(tmp_path):
    path = tmp_path / "flow.dag.yaml"
    path.write_text("inputs: {}\n")
    first = load_document(path)
    assert load_document(path) is first
    path.write_text("inputs: {a: {type: string}}\n")
    assert load_document(path) is not first
    assert list(load_document(path).inputs) == ["a"]
