"""PW3xx: python nodes checked against their tool files (read with ast, never imported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.analysis.context import AnalysisContext
from promptwise.analysis.tools import check
from promptwise.documents.load import load_document
from promptwise.documents.source import Range

# Line 12 holds `    path: tool.py` (value at characters 10-17); node inputs start on line 14.
FLOW = """\
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${tool_node.output}
nodes:
- name: tool_node
  type: python
  source:
    type: code
    path: tool.py
{extra}  inputs:
{inputs}"""
PATH_VALUE = Range.of(12, 10, 12, 17)

SINGLE = "from promptflow.core import tool\n\n\n@tool\ndef answer(question: str, top_k: int = 3) -> str:\n    return question\n"


def run(tmp_path: Path, tool: str, inputs: str = "    question: ${inputs.question}\n", extra: str = ""):
    (tmp_path / "tool.py").write_text(tool)
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(FLOW.replace("{extra}", extra).replace("{inputs}", inputs))
    document = load_document(flow)
    return check(document, AnalysisContext.create(flow))


def summary(problems):
    return [(p.code, p.path.name, p.range) for p in problems]


@pytest.mark.parametrize(
    "tool, inputs, extra, expected",
    [
        pytest.param(SINGLE, "    question: ${inputs.question}\n", "", [], id="valid"),
        pytest.param(
            "def answer(question:\n    pass\n", "    question: x\n", "",
            [("PW302", "flow.dag.yaml", PATH_VALUE), ("PW302", "tool.py", Range.of(0, 10, 0, 11))],
            id="syntax-error-in-file-and-on-node",
        ),
        pytest.param(
            "def answer(question):\n    pass\n", "    question: x\n", "",
            [("PW303", "flow.dag.yaml", PATH_VALUE)], id="no-tool",
        ),
        pytest.param(
            "from promptflow import tool\n@tool\ndef a(q): pass\n@tool\ndef b(q): pass\n", "    q: x\n", "",
            [("PW304", "flow.dag.yaml", PATH_VALUE)], id="two-tools",
        ),
        pytest.param(
            "def answer(question): pass\n", "    question: x\n", "    tool: anwser\n",
            [("PW305", "flow.dag.yaml", Range.of(13, 10, 13, 16))], id="named-function-missing",
        ),
        pytest.param(SINGLE, "    question: x\n    tpo_k: 5\n", "", [("PW306", "flow.dag.yaml", Range.of(15, 4, 15, 9))], id="unknown-input-did-you-mean"),
        pytest.param(SINGLE, "    question: x\n    colour: red\n", "", [("PW306", "flow.dag.yaml", Range.of(15, 4, 15, 10))], id="unknown-input"),
        pytest.param(
            "from promptflow import tool\n@tool\ndef answer(question, /): pass\n", "    question: x\n", "",
            [("PW306", "flow.dag.yaml", Range.of(14, 4, 14, 12))], id="positional-only",
        ),
        pytest.param(SINGLE, "    top_k: 5\n", "", [("PW307", "flow.dag.yaml", Range.of(13, 2, 13, 8))], id="required-missing"),
        pytest.param(SINGLE, "", "", [("PW307", "flow.dag.yaml", Range.of(13, 2, 13, 8))], id="required-missing-empty-inputs"),
        pytest.param(
            "from promptflow import tool\n@tool\ndef answer(question, **kwargs): pass\n", "    question: x\n    anything: 1\n", "",
            [], id="kwargs-accepts-anything",
        ),
        pytest.param(
            "from promptflow.core import tool\nclass Answer:\n    def __init__(self, index: str):\n        pass\n"
            "    @tool\n    def __call__(self, question: str):\n        pass\n",
            "    question: x\n    index: idx\n", "", [], id="class-tool-init-parameters",
        ),
        pytest.param(
            "from promptflow.core import tool\nclass Answer:\n    def __init__(self, index: str):\n        pass\n"
            "    @tool\n    def __call__(self, question: str):\n        pass\n",
            "    question: x\n", "", [("PW307", "flow.dag.yaml", Range.of(13, 2, 13, 8))], id="class-tool-init-missing",
        ),
    ],
)
def test_python_node_problems(tmp_path, tool, inputs, extra, expected):
    assert sorted(summary(run(tmp_path, tool, inputs, extra)), key=str) == sorted(expected, key=str)


def test_unknown_input_fix_renames_the_key_and_covers_the_missing_parameter(tmp_path):
    problems = run(tmp_path, SINGLE, "    qestion: ${inputs.question}\n")
    assert summary(problems) == [("PW306", "flow.dag.yaml", Range.of(14, 4, 14, 11))]
    assert "did you mean `question`?" in problems[0].message
    (fix,) = problems[0].fixes
    assert [(e.range, e.new_text) for e in fix.edits] == [(Range.of(14, 4, 14, 11), "question")]


def test_required_parameter_fix_adds_the_flow_input_reference(tmp_path):
    problems = run(tmp_path, SINGLE, "    top_k: 5\n")
    (fix,) = problems[0].fixes
    assert [(e.range, e.new_text) for e in fix.edits] == [(Range.empty(15, 0), "    question: ${inputs.question}\n")]
    assert "question: str" in problems[0].message


def test_no_tool_fix_adds_decorator_and_import(tmp_path):
    problems = run(tmp_path, "def answer(question):\n    pass\n", "    question: x\n")
    (fix,) = problems[0].fixes
    assert [(e.path.name, e.range, e.new_text) for e in fix.edits] == [
        ("tool.py", Range.empty(0, 0), "from promptflow.core import tool\n"),
        ("tool.py", Range.empty(0, 0), "@tool\n"),
    ]


def test_two_tools_message_names_both(tmp_path):
    problems = run(tmp_path, "from promptflow import tool\n@tool\ndef a(q): pass\n@tool\ndef b(q): pass\n", "    q: x\n")
    assert "`a`, `b`" in problems[0].message


def test_missing_or_package_sources_are_left_to_the_source_checks(tmp_path):
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(
        "inputs: {}\noutputs: {}\nnodes:\n"
        "- name: a\n  type: python\n  source: {type: code, path: nowhere.py}\n  inputs: {}\n"
        "- name: b\n  type: python\n  source: {type: package, tool: my_pkg.tools.run}\n  inputs: {}\n"
    )
    assert check(load_document(flow), AnalysisContext.create(flow)) == []


def test_unsaved_tool_text_is_used(tmp_path):
    (tmp_path / "tool.py").write_text(SINGLE)
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(FLOW.replace("{extra}", "").replace("{inputs}", "    question: x\n"))
    overlay = {tmp_path / "tool.py": "from promptflow import tool\n@tool\ndef answer(text): pass\n"}
    context = AnalysisContext.create(flow, overlay)
    problems = check(load_document(flow), context)
    assert [p.code for p in problems] == ["PW306", "PW307"]
    assert (tmp_path / "tool.py").resolve() in context.dependencies


def test_tool_file_on_its_own_reports_its_syntax_error(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text("x = (1,\n")
    assert summary(check(load_document(path))) == [("PW302", "tool.py", Range.of(0, 4, 0, 5))]


# ------------------------------------------------------------------ flow.flex.yaml entries

FLEX = """\
entry: assistant:Assistant
init:
  model: 
    type: string
inputs:
  question:
    type: string
"""
CLASS_ENTRY = (
    "class Assistant:\n"
    "    def __init__(self, model: str):\n        pass\n"
    "    def __call__(self, question: str, history: list = None):\n        return question\n"
)


def run_flex(tmp_path: Path, flex: str, code: str):
    (tmp_path / "assistant.py").write_text(code)
    flow = tmp_path / "flow.flex.yaml"
    flow.write_text(flex)
    return check(load_document(flow), AnalysisContext.create(flow))


@pytest.mark.parametrize(
    "flex, code, expected",
    [
        pytest.param(FLEX, CLASS_ENTRY, [], id="valid-class"),
        pytest.param(
            "entry: assistant:answer\ninputs:\n  question:\n    type: string\n",
            "def answer(question: str):\n    return question\n", [], id="valid-function",
        ),
        pytest.param(
            FLEX.replace("assistant:Assistant", "assistant:Asistant"), CLASS_ENTRY,
            [("PW305", "flow.flex.yaml", Range.of(0, 17, 0, 25))], id="entry-missing-did-you-mean",
        ),
        pytest.param(
            FLEX, "class Assistant:\n    def __init__(self, model): pass\n",
            [("PW305", "flow.flex.yaml", Range.of(0, 17, 0, 26))], id="class-without-call",
        ),
        pytest.param(
            FLEX, "class Assistant(:\n",
            [("PW302", "flow.flex.yaml", Range.of(0, 7, 0, 16)), ("PW302", "assistant.py", Range.of(0, 16, 0, 17))],
            id="syntax-error",
        ),
        pytest.param(
            FLEX.replace("  question:", "  qestion:"), CLASS_ENTRY,
            [("PW306", "flow.flex.yaml", Range.of(5, 2, 5, 9))], id="input-not-a-parameter",
        ),
        pytest.param(
            FLEX.replace("  model: ", "  modle: "), CLASS_ENTRY,
            [("PW306", "flow.flex.yaml", Range.of(2, 2, 2, 7))], id="init-not-a-parameter",
        ),
        pytest.param(
            FLEX.replace("init:\n  model: \n    type: string\n", ""), CLASS_ENTRY,
            [], id="init-left-out-takes-the-class-signature",
        ),
        pytest.param(
            FLEX.replace("  question:\n    type: string\n", "  history:\n    type: list\n"), CLASS_ENTRY,
            [("PW307", "flow.flex.yaml", Range.of(4, 0, 4, 6))], id="required-input-missing",
        ),
    ],
)
def test_flex_entry_problems(tmp_path, flex, code, expected):
    assert sorted(summary(run_flex(tmp_path, flex, code)), key=str) == sorted(expected, key=str)


def test_flex_entry_fix(tmp_path):
    (problem,) = run_flex(tmp_path, FLEX.replace("assistant:Assistant", "assistant:Asistant"), CLASS_ENTRY)
    assert [(e.range, e.new_text) for e in problem.fixes[0].edits] == [(Range.of(0, 17, 0, 25), "Assistant")]


def test_tool_for_node_gives_signature_and_location(tmp_path):
    from promptwise.analysis.tools import tool_for_node

    (tmp_path / "tool.py").write_text(SINGLE)
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text(FLOW.replace("{extra}", "").replace("{inputs}", "    question: x\n"))
    document = load_document(flow)
    lookup = tool_for_node(document, document.node("tool_node"))
    assert lookup.module.path.name == "tool.py"
    assert lookup.function.name_range == Range.of(4, 4, 4, 10)
    assert lookup.function.signature() == "def answer(question: str, top_k: int = 3) -> str"
    assert [p.name for p in lookup.parameters] == ["question", "top_k"]


def test_no_tool_fix_keeps_docstring_and_future_import_first(tmp_path):
    tool = '"""Answers."""\nfrom __future__ import annotations\n\n\ndef answer(question):\n    pass\n'
    problems = run(tmp_path, tool, "    question: x\n")
    (fix,) = problems[0].fixes
    assert [(e.range, e.new_text) for e in fix.edits] == [
        (Range.empty(2, 0), "from promptflow.core import tool\n"),
        (Range.empty(4, 0), "@tool\n"),
    ]


def test_messages_name_the_tool_file_relative_to_the_flow(tmp_path, monkeypatch):
    (tmp_path / "tool.py").write_text(SINGLE)
    (tmp_path / "flow.dag.yaml").write_text(FLOW.replace("{extra}", "").replace("{inputs}", "    top_k: 1\n"))
    monkeypatch.chdir(tmp_path)
    (problem,) = check(load_document(Path("flow.dag.yaml")), AnalysisContext.create("flow.dag.yaml"))
    assert "`answer` in tool.py;" in problem.message
