"""A YAML syntax error is reported alone: the reader stops at it, so references to nodes after
the break would all look broken, and inputs they use would all look unused."""

from __future__ import annotations

import shutil
from pathlib import Path

from promptwise.analysis import analyze

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def test_syntax_error_in_the_middle_of_a_flow_is_the_only_problem(tmp_path):
    project = tmp_path / "log-triage"
    shutil.copytree(FLOWS / "log-triage", project, ignore=shutil.ignore_patterns(".promptwise"))
    flow = project / "flow.dag.yaml"
    text = flow.read_text(encoding="utf-8")
    first_node = text.index("- name: classify")
    broken = text[:first_node] + text[first_node:].replace("  type: llm", "  type: llm\n  inputs: {a: b", 1)
    problems = analyze(flow, broken)
    assert [problem.code for problem in problems] == ["PW101"]
    assert problems[0].range.start.line > text[:first_node].count("\n")  # at or after the break

    # Fixed again: the full analysis is back (the example flow has no problems).
    assert analyze(flow, text) == []
