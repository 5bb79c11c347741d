"""Any text given to the readers and checkers yields results, never an exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptwise.analysis import prompty_checks, secrets, templates, tools
from promptwise.analysis.context import AnalysisContext
from promptwise.documents.jinja_template import parse_jinja_template
from promptwise.documents.prompty import parse_prompty
from promptwise.documents.python_tool import find_tool_function, parse_python_tool

PROMPTY = """---
name: x
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: d
    api_key: sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789
  parameters:
    max_tokens: 10
inputs:
  question:
    type: string
sample:
  question: hi
---
system:
{% for x in xs %}{{ x }}{% endfor %}
user:
{{ question }}
"""

TOOL = """from promptflow.core import tool
class A:
    def __init__(self, k: str = "0123456789abcdef0123456789abcdef"): pass
    @tool
    def __call__(self, q, *a, b=1, **kw) -> str: return q
"""

pieces = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "for", "if", "endif", "endfor", "set", "=", ":", "\n", " ",
     "system:", "sytem:", "---", "(", ")", "def", "class", "@tool", "é", "\t", "\r\n", "'", '"',
     "sk-", "AccountKey=", "x", "in", "macro", "raw", "|", ".", ","]
)  # fmt: skip


def _mutate(base: str, data) -> str:
    text = base
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(pieces) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_prompty_checks_never_raise(data):
    text = _mutate(PROMPTY, data)
    document = parse_prompty(text, Path("/nowhere/p.prompty"))
    context = AnalysisContext.create(document.path)
    for module in (templates, prompty_checks, secrets):
        assert isinstance(module.check(document, context), list)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_python_reader_never_raises(data):
    module = parse_python_tool(_mutate(TOOL, data), "/nowhere/t.py")
    lookup = find_tool_function(module)
    assert lookup.function is not None or lookup.error is not None
    assert isinstance(tools.check(module), list)
    assert isinstance(secrets.check(module), list)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_jinja_reader_never_raises(text):
    template = parse_jinja_template(text)
    assert template.syntax_error is not None or all(v.name for v in template.variables)
    assert isinstance(secrets.check_text("t.jinja2", text), list)
