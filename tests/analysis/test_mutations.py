"""Property: whatever a developer half-types, the analysis returns problems, never raises.

Valid flows and prompts (the corpus, flows/, and a small built-in flow) are mutated the way
editing does — slices deleted, YAML punctuation and reference fragments inserted, lines
duplicated, swapped and re-indented — and analyzed in place, so templates and tools next
to them are read too.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptwise.analysis import analyze
from promptwise.analysis.problem import Problem

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = ROOT / "tests" / "analysis" / "flow.dag.yaml"  # never written: analyzed from text
BUILT_IN_TEXT = """\
inputs:
  q: {type: string, default: hi}
outputs:
  a: {type: string, reference: '${b.output}'}
nodes:
- name: b
  type: llm
  source: {type: code, path: b.jinja2}
  inputs: {q: '${inputs.q}'}
  activate: {when: '${inputs.q}', is: hi}
node_variants:
  b: {default_variant_id: v, variants: {v: {node: {type: llm}}}}
"""


def _samples() -> list[tuple[Path, str]]:
    found = [(BUILT_IN, BUILT_IN_TEXT)]
    for folder in (ROOT / "tests" / "corpus", ROOT / "flows"):
        for pattern in ("**/flow.dag.yaml", "**/flow.flex.yaml", "**/*.prompty"):
            for path in sorted(folder.glob(pattern)):
                try:
                    found.append((path, path.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError):
                    continue
    return found


SAMPLES = _samples()
FRAGMENTS = st.sampled_from(
    [":", " ", "\n", "\t", "-", "- ", "[", "]", "{", "}", ",", "#", "&a", "*a", "!", "|", ">",
     "'", '"', "%", "@", "`", "${", "}", "${inputs.", "${node.output.", ".output", "nodes:",
     "inputs:", "name: x", "type: llm", "  ", "    ", "---", "\x00", "\ufeff", "é", "{{", "}}",
     "{%", "%}", "use_variants: true", "aggregation: true", "when:", "is:"]
)  # fmt: skip


@st.composite
def mutated(draw):
    path, text = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "indent"]))
        lines = text.split("\n")
        if operation == "delete" and text:
            start = draw(st.integers(0, len(text) - 1))
            text = text[:start] + text[start + draw(st.integers(1, 40)) :]
        elif operation == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(FRAGMENTS) + text[at:]
        elif operation == "duplicate":
            index = draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            text = "\n".join(lines)
        elif operation == "swap" and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif operation == "indent":
            index = draw(st.integers(0, len(lines) - 1))
            lines[index] = " " * draw(st.integers(0, 5)) + lines[index].lstrip()
            text = "\n".join(lines)
    return path, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_analysis_never_raises(sample):
    path, text = sample
    problems = analyze(path, text)
    assert isinstance(problems, list)
    line_count = text.count("\n") + 1
    for problem in problems:
        assert isinstance(problem, Problem)
        assert problem.range.start <= problem.range.end
        if problem.path == path:
            assert problem.range.start.line <= line_count
        assert problem.code != "PW000", problem.message  # no checker crashed
        assert problem.message


def test_samples_include_the_corpus():
    assert len(SAMPLES) > 1
