"""Every problem class of flow.dag.yaml: code, severity, the exact token, and the fix."""

from __future__ import annotations

import pytest

from promptwise.analysis import analyze
from promptwise.analysis.problem import Severity
from promptwise.documents.yaml_nodes import parse_yaml

from analysis_helpers import apply_fix, covered, tool_source

BASE = """\
inputs:
  question:
    type: string
outputs:
  answer:
    type: string
    reference: ${second.output}
nodes:
- name: first
  type: python
  source:
    type: code
    path: first.py
  inputs:
    x: ${inputs.question}
- name: second
  type: python
  source:
    type: code
    path: second.py
  inputs:
    x: ${first.output}
"""

TOOLS = {
    "first.py": tool_source("first", "x: str") .replace("def first(x: str)", "def first(x: str) -> dict"),
    "second.py": tool_source("second", "x"),
}


def test_base_flow_is_clean(project):
    _, problems = project.analyze("flow.dag.yaml", BASE, TOOLS)
    assert problems == []


# (id, old -> new replacements, code, severity, 0-based line, covered token, fix result or None)
CASES = [
    ("unknown-key", [("  inputs:\n    x: ${first", "  inputz:\n    x: ${first")], "PW103", "warning", 20, "inputz", "inputs"),
    ("unknown-top-key", [("outputs:", "output:")], "PW103", "warning", 3, "output", "outputs"),
    ("wrong-type-bool", [("  type: python\n  source:\n    type: code\n    path: second.py", "  type: python\n  aggregation: 'yes'\n  source:\n    type: code\n    path: second.py")], "PW104", "error", 17, "'yes'", None),
    ("wrong-type-map", [("  inputs:\n    x: ${inputs.question}", "  inputs: [a]")], "PW104", "error", 13, "[a]", None),
    ("missing-type", [("  question:\n    type: string", "  question:\n    description: q")], "PW105", "error", 1, "question", None),
    ("missing-reference", [("    reference: ${second.output}\n", "    description: nothing\n")], "PW105", "error", 4, "answer", None),
    ("node-missing-type", [("- name: second\n  type: python\n", "- name: second\n")], "PW105", "error", 15, "second", None),
    ("empty-required", [("- name: first", "- name:")], "PW105", "error", 8, "name", None),
    ("bad-node-type", [("- name: second\n  type: python", "- name: second\n  type: pyhton")], "PW106", "error", 16, "pyhton", "python"),
    ("bad-input-type", [("  question:\n    type: string", "  question:\n    type: str")], "PW106", "error", 2, "str", None),
    ("unknown-input", [("${inputs.question}", "${inputs.questoin}")], "PW201", "error", 14, "questoin", "question"),
    ("unknown-node", [("x: ${first.output}", "x: ${frist.output}")], "PW202", "error", 21, "frist", "first"),
    ("node-is-input", [("x: ${first.output}", "x: ${question}")], "PW202", "error", 21, "${question}", "${inputs.question}"),
    ("bad-section", [("x: ${first.output}", "x: ${first.outputs}")], "PW203", "error", 21, "outputs", "output"),
    ("self-reference", [("x: ${first.output}", "x: ${second.output}")], "PW204", "error", 21, "${second.output}", None),
    ("output-unknown-node", [("reference: ${second.output}", "reference: ${secnd.output}")], "PW202", "error", 6, "secnd", "second"),
    ("activate-unknown-node", [("    x: ${first.output}\n", "    x: ${first.output}\n  activate:\n    when: ${gate.output}\n    is: true\n")], "PW202", "error", 23, "gate", None),
    ("embedded-reference", [("x: ${first.output}", "x: Answer ${first.output}")], "PW208", "warning", 21, "${first.output}", None),
    ("literal-output", [("reference: ${second.output}", "reference: second")], "PW214", "error", 6, "second", None),
    ("duplicate-name", [("- name: second", "- name: first")], "PW209", "error", 15, "first", None),
    ("source-missing", [("path: second.py", "path: secnd.py")], "PW301", "error", 19, "secnd.py", "second.py"),
    ("no-source", [("  source:\n    type: code\n    path: second.py\n", "")], "PW105", "error", 15, "second", None),
    ("code-source-without-path", [("    type: code\n    path: second.py\n", "    type: code\n")], "PW105", "error", 17, "source", None),
    ("duplicate-key", [("- name: second\n  type: python", "- name: second\n  type: python\n  type: llm")], "PW102", "error", 17, "type", None),
    ("yaml-syntax", [("    x: ${first.output}\n", "    x: [${first.output}\n")], "PW101", "error", 21, "{first.output}", None),
    ("default-type", [("  question:\n    type: string", "  question:\n    type: int\n    default: many")], "PW104", "error", 3, "many", None),
    ("default-enum", [("  question:\n    type: string", "  question:\n    type: string\n    enum: [home, motor]\n    default: moter")], "PW106", "error", 4, "moter", "motor"),
    ("scalar-output-key", [("def first(x: str) -> dict", "def first(x: str) -> str"), ("x: ${first.output}", "x: ${first.output.key}")], "PW203", "error", 21, "key", None),
]


@pytest.mark.parametrize("case_id, replacements, code, severity, line, token, fixed", CASES, ids=[c[0] for c in CASES])
def test_problem(project, case_id, replacements, code, severity, line, token, fixed):
    text = BASE
    tools = dict(TOOLS)
    for old, new in replacements:
        if old in tools["first.py"]:
            tools["first.py"] = tools["first.py"].replace(old, new)
            continue
        assert old in text, old
        text = text.replace(old, new, 1)
    _, problems = project.analyze("flow.dag.yaml", text, tools)
    matching = [p for p in problems if p.code == code]
    assert matching, f"no {code} in {[(p.code, p.message) for p in problems]}"
    problem = next((p for p in matching if p.range.start.line == line), matching[0])
    assert problem.range.start.line == line, problem
    assert covered(text, problem.range) == token
    assert problem.severity == Severity(severity)
    assert problem.message.strip() and ";" in problem.message or "?" in problem.message  # what + what to do
    if fixed is not None:
        assert problem.fixes, "expected a fix"
        assert problem.fixes[0].edits[0].new_text == fixed


def test_cycle_names_the_cycle_at_each_edge(project):
    text = BASE.replace("    x: ${inputs.question}", "    x: ${second.output}")
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    cycles = [p for p in problems if p.code == "PW205"]
    assert len(cycles) == 2
    assert all("first -> second -> first" in p.message for p in cycles)
    assert sorted(covered(text, p.range) for p in cycles) == ["${first.output}", "${second.output}"]


def test_three_node_cycle_and_long_chain_do_not_recurse(project):
    lines = ["inputs: {}", "outputs: {}", "nodes:"]
    count = 3000
    for i in range(count):
        target = (i + 1) % count
        lines += [f"- name: n{i}", "  type: python", "  source: {type: code, path: t.py}", "  inputs:", f"    x: ${{n{target}.output}}"]
    text = "\n".join(lines) + "\n"
    _, problems = project.analyze("flow.dag.yaml", text, {"t.py": tool_source("t", "x")})
    cycles = [p for p in problems if p.code == "PW205"]
    assert len(cycles) == count
    assert "n0 -> n1 -> n2" in cycles[0].message


def test_unused_input_fix_removes_its_lines(project):
    text = BASE.replace("inputs:\n  question:\n    type: string\n", "inputs:\n  question:\n    type: string\n  spare:\n    type: string\n    default: x\n")
    path, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [unused] = [p for p in problems if p.code == "PW206"]
    assert covered(text, unused.range) == "spare" and unused.severity is Severity.WARNING
    fixed = apply_fix(text, unused.fixes[0])
    assert fixed == BASE.replace("reference: ${second.output}", "reference: ${second.output}")
    assert analyze(path, fixed) == []


def test_unused_node_output(project):
    text = BASE + "- name: orphan\n  type: python\n  source: {type: code, path: second.py}\n  inputs:\n    x: ${first.output}\n"
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [unused] = [p for p in problems if p.code == "PW207"]
    assert covered(text, unused.range) == "orphan" and unused.severity is Severity.WARNING


AGGREGATION = BASE.replace(
    "  inputs:\n    x: ${first.output}\n",
    "  inputs:\n    x: ${first.output}\n  aggregation: true\n",
) + "- name: third\n  type: python\n  source: {type: code, path: second.py}\n  inputs:\n    x: ${second.output}\n"


def test_aggregation_misuse(project):
    _, problems = project.analyze("flow.dag.yaml", AGGREGATION, TOOLS)
    misuse = sorted((covered(AGGREGATION, p.range), p.range.start.line) for p in problems if p.code == "PW210")
    # the flow output and the per-row node `third` both read the aggregation node
    assert misuse == [("${second.output}", 6), ("${second.output}", 27)]


VARIANTS = BASE.replace(
    "- name: second\n  type: python\n  source:\n    type: code\n    path: second.py\n  inputs:\n    x: ${first.output}\n",
    "- name: second\n  use_variants: true\n",
) + """node_variants:
  second:
    default_variant_id: variant_1
    variants:
      variant_0:
        node:
          type: python
          source: {type: code, path: second.py}
          inputs:
            x: ${first.output}
"""


@pytest.mark.parametrize(
    "old, new, code, token, fixed",
    [
        ("default_variant_id: variant_1", "default_variant_id: variant_1", "PW212", "variant_1", "variant_0"),
        ("node_variants:\n  second:", "node_variants:\n  secnd:", "PW211", "use_variants", None),
        ("node_variants:\n  second:", "node_variants:\n  secnd:", "PW215", "secnd", "second"),
        ("- name: second\n  use_variants: true\n", "- name: second\n  use_variants: false\n  type: python\n  source: {type: code, path: second.py}\n  inputs:\n    x: ${first.output}\n", "PW215", "second", None),
    ],
)
def test_variant_misuse(project, old, new, code, token, fixed):
    text = VARIANTS.replace(old, new)
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    matching = [p for p in problems if p.code == code]
    assert matching, [(p.code, p.message) for p in problems]
    assert covered(text, matching[0].range) == token
    if fixed:
        assert matching[0].fixes[0].edits[0].new_text == fixed


def test_valid_variants_are_clean(project):
    text = VARIANTS.replace("default_variant_id: variant_1", "default_variant_id: variant_0")
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    assert problems == []


def test_activate_literal_when_is_a_warning(project):
    text = BASE.replace("    x: ${first.output}\n", "    x: ${first.output}\n  activate:\n    when: yes\n    is: true\n")
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [problem] = [p for p in problems if p.code == "PW213"]
    assert covered(text, problem.range) == "yes" and problem.severity is Severity.WARNING


def test_activate_missing_is(project):
    text = BASE.replace("    x: ${first.output}\n", "    x: ${first.output}\n  activate:\n    when: ${first.output}\n")
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [problem] = [p for p in problems if p.code == "PW105"]
    assert "`is`" in problem.message and covered(text, problem.range) == "activate"


def test_unknown_key_without_close_match_lists_known_keys(project):
    text = BASE.replace("- name: first\n", "- name: first\n  zzzzzz: 1\n")
    _, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [problem] = [p for p in problems if p.code == "PW103"]
    assert "Known keys:" in problem.message and "activate" in problem.message and not problem.fixes


def test_fixes_produce_a_clean_flow(project):
    """Applying the did-you-mean fixes of a flow full of typos leaves no problems."""
    text = (
        BASE.replace("${inputs.question}", "${inputs.questoin}")
        .replace("x: ${first.output}", "x: ${frist.output}")
        .replace("- name: second\n  type: python", "- name: second\n  type: pyhton")
    )
    path, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    assert len(problems) >= 3
    for _ in range(5):
        fixable = [p for p in analyze(path, text) if p.fixes and p.severity is Severity.ERROR]
        if not fixable:
            break
        text = apply_fix(text, fixable[0].fixes[0])
    assert analyze(path, text) == []
    assert parse_yaml(text).errors == []


DICT_TOOL = '''from typing import TypedDict

from promptflow.core import tool


class Verdict(TypedDict):
    label: str
    score: float


def helper():
    return {"not": "the tool"}


@tool
def first(x: str):
    if not x:
        return {"text": "", "score": 0}
    return {"text": x, "score": 1, "extra": [1]}


@tool
def typed(x: str) -> Verdict:
    return make(x)
'''


@pytest.mark.parametrize(
    "tool_name, reference, expected",
    [
        ("first", "${first.output.txt}", ("txt", "text")),
        ("first", "${first.output.scroe.value}", ("scroe", "score")),
        ("first", "${first.output.text}", None),
        ("first", "${first.output.extra}", None),
        ("typed", "${first.output.lable}", ("lable", "label")),
        ("typed", "${first.output.score}", None),
    ],
)
def test_known_output_keys(project, tool_name, reference, expected):
    text = BASE.replace(
        "    type: code\n    path: first.py\n", f"    type: code\n    path: first.py\n    tool: {tool_name}\n"
    ).replace("x: ${first.output}", f"x: {reference}")
    _, problems = project.analyze("flow.dag.yaml", text, {"first.py": DICT_TOOL, "second.py": TOOLS["second.py"]})
    keys = [p for p in problems if p.code == "PW203"]
    if expected is None:
        assert keys == []
        return
    [problem] = keys
    assert covered(text, problem.range) == expected[0]
    assert problem.fixes[0].edits[0].new_text == expected[1]


def test_unknown_returns_say_nothing(project):
    tool = "from promptflow.core import tool\n\n\n@tool\ndef first(x):\n    result = {'a': 1}\n    return result\n"
    text = BASE.replace("x: ${first.output}", "x: ${first.output.whatever}")
    _, problems = project.analyze("flow.dag.yaml", text, {"first.py": tool, "second.py": TOOLS["second.py"]})
    assert [p for p in problems if p.code == "PW203"] == []


@pytest.mark.parametrize(
    "old, new",
    [
        ("  question:\n    type: string\n", "  question:\n    description: asked\n"),
        ("  answer:\n    type: string\n", "  answer:\n    description: said\n"),
        # the mapping ends the file without a final newline
        ("x: ${first.output}\n", "x: ${first.output}\n"),
    ],
)
def test_missing_type_fix_inserts_the_key(project, old, new):
    text = BASE.replace(old, new)
    if old == new:  # move an input to the end, without a final newline
        text = BASE.replace("inputs:\n  question:\n    type: string\n", "") + "inputs:\n  question:\n    description: asked"
    path, problems = project.analyze("flow.dag.yaml", text, TOOLS)
    [missing] = [p for p in problems if p.code == "PW105"]
    fixed = apply_fix(text, missing.fixes[0])
    assert [p.code for p in analyze(path, fixed)] == []
