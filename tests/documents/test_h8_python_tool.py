"""Python tool files read statically: functions, @tool, parameters, ranges, syntax errors."""

from __future__ import annotations

import pytest

from promptwise.documents.python_tool import (
    ParameterKind,
    find_tool_function,
    load_python_tool,
    parse_python_tool,
)
from promptwise.documents.source import Range

TOOL = """\
from promptflow.core import tool


@tool
def summarize(text: str, max_words: int = 50, *, style: str | None = None, **kwargs) -> str:
    \"\"\"Shorten text.\"\"\"
    return text


def helper(x):
    return x
"""


@pytest.mark.parametrize(
    "source, expected_tools",
    [
        ("from promptflow.core import tool\n@tool\ndef a(): pass\n", ["a"]),
        ("from promptflow import tool\n@tool()\ndef a(): pass\n", ["a"]),
        ("from promptflow._core.tool_meta import tool\n@tool\ndef a(): pass\n", ["a"]),
        ("from promptflow.core import tool as t\n@t(name='x')\ndef a(): pass\n", ["a"]),
        ("import promptflow\n@promptflow.tool\ndef a(): pass\n", ["a"]),
        ("import promptflow.core as pf\n@pf.tool\ndef a(): pass\n", ["a"]),
        ("@tool\ndef a(): pass\n", ["a"]),  # no import: read as the author intended
        ("from langchain.tools import tool\n@tool\ndef a(): pass\n", []),  # someone else's
        ("import promptflow\n@tool\ndef a(): pass\n", []),  # `tool` is not bound here
        ("from promptflow.core import tool\ndef a(): pass\n", []),
        (
            "from promptflow.core import tool\nclass C:\n    def __init__(self, k): pass\n"
            "    @tool\n    def __call__(self, q): pass\n",
            ["C.__call__"],
        ),
    ],
)
def test_which_functions_carry_tool(source, expected_tools):
    module = parse_python_tool(source)
    assert module.syntax_error is None
    assert [t.qualified_name for t in module.tools] == expected_tools


def test_parameters_kinds_defaults_annotations_and_ranges():
    module = parse_python_tool(TOOL)
    function = module.function("summarize")
    assert function is not None and function.is_tool
    assert function.name_range == Range.of(4, 4, 4, 13)
    assert function.range == Range.of(3, 0, 6, 15)
    assert function.returns == "str"
    assert function.docstring == "Shorten text."
    assert function.accepts_kwargs
    got = [(p.name, p.kind, p.annotation, p.default, p.required, p.range) for p in function.parameters]
    assert got == [
        ("text", ParameterKind.POSITIONAL_OR_KEYWORD, "str", None, True, Range.of(4, 14, 4, 18)),
        ("max_words", ParameterKind.POSITIONAL_OR_KEYWORD, "int", "50", False, Range.of(4, 25, 4, 34)),
        ("style", ParameterKind.KEYWORD_ONLY, "str | None", "None", False, Range.of(4, 49, 4, 54)),
        ("kwargs", ParameterKind.VAR_KEYWORD, None, None, False, Range.of(4, 77, 4, 83)),
    ]
    assert function.signature() == (
        "def summarize(text: str, max_words: int = 50, *, style: str | None = None, **kwargs) -> str"
    )
    helper = module.function("helper")
    assert helper is not None and not helper.is_tool and not helper.accepts_kwargs


@pytest.mark.parametrize(
    "source, name, expected_range",
    [
        ("def é_x(ü): pass\n", "é_x", Range.of(0, 4, 0, 7)),  # code points, not bytes
        ("async  def   go(a): pass\n", "go", Range.of(0, 13, 0, 15)),
        ("def\tf(a): pass\n", "f", Range.of(0, 4, 0, 5)),
    ],
)
def test_function_name_range_in_code_points(source, name, expected_range):
    function = parse_python_tool(source).function(name)
    assert function is not None
    assert function.name_range == expected_range


def test_parameter_range_after_non_ascii():
    function = parse_python_tool("def f(é, ü=1): pass\n").function("f")
    assert [p.range for p in function.parameters] == [Range.of(0, 6, 0, 7), Range.of(0, 9, 0, 10)]


def test_positional_only_and_var_positional():
    function = parse_python_tool("def f(a, /, b, *rest, c): pass\n").function("f")
    kinds = [p.kind for p in function.parameters]
    assert kinds == [
        ParameterKind.POSITIONAL_ONLY,
        ParameterKind.POSITIONAL_OR_KEYWORD,
        ParameterKind.VAR_POSITIONAL,
        ParameterKind.KEYWORD_ONLY,
    ]
    assert function.keyword_names() == ["b", "c"]
    assert function.signature() == "def f(a, /, b, *rest, c)"


def test_class_based_tool_merges_init_parameters():
    module = parse_python_tool(
        "from promptflow.core import tool\n"
        "class Retriever:\n"
        "    def __init__(self, index_path: str):\n"
        "        pass\n"
        "    @tool\n"
        "    def __call__(self, query: str, top_k: int = 3):\n"
        "        pass\n"
    )
    cls = module.class_("Retriever")
    assert cls is not None and cls.name_range == Range.of(1, 6, 1, 15)
    assert cls.init is not None and cls.call is not None
    lookup = find_tool_function(module)
    assert lookup.error is None
    assert lookup.function is cls.call
    assert [p.name for p in lookup.parameters] == ["index_path", "query", "top_k"]


@pytest.mark.parametrize(
    "source, name, expected_function, expected_error",
    [
        ("from promptflow import tool\n@tool\ndef a(x): pass\ndef b(): pass\n", None, "a", None),
        ("from promptflow import tool\ndef a(x): pass\n", None, None, "none"),
        ("from promptflow import tool\n@tool\ndef a(): pass\n@tool\ndef b(): pass\n", None, None, "multiple"),
        ("def a(x): pass\ndef b(): pass\n", "b", "b", None),
        ("def a(x): pass\n", "missing", None, "not_found"),
        ("class K:\n    def __call__(self, q): pass\n", "K", "__call__", None),
        ("class K:\n    def run(self, q): pass\n", "K.run", "run", None),
        ("def a(:\n", None, None, "syntax"),
    ],
)
def test_find_tool_function_follows_prompt_flow(source, name, expected_function, expected_error):
    lookup = find_tool_function(parse_python_tool(source), name)
    assert lookup.error == expected_error
    assert (lookup.function.name if lookup.function else None) == expected_function


def test_multiple_tools_lists_candidates():
    module = parse_python_tool("from promptflow import tool\n@tool\ndef a(): pass\n@tool\ndef b(): pass\n")
    assert [c.name for c in find_tool_function(module).candidates] == ["a", "b"]


def test_redefined_function_keeps_the_last_definition():
    module = parse_python_tool("def f(a): pass\ndef f(b): pass\n")
    assert [p.name for p in module.function("f").parameters] == ["b"]


@pytest.mark.parametrize(
    "source, message_part, expected_range",
    [
        ("def f(:\n    pass\n", "invalid syntax", Range.of(0, 6, 0, 7)),
        ("x = 1\nif x:\npass\n", "expected an indented block", Range.of(2, 0, 2, 4)),
        ("x = (1,\n", "never closed", Range.of(0, 4, 0, 5)),
        ("é = 'a'; def(\n", "invalid syntax", Range.of(0, 9, 0, 12)),
        ("x = 1\0\n", "null bytes", Range.of(0, 0, 0, 0)),
    ],
)
def test_syntax_errors_become_positions(source, message_part, expected_range):
    module = parse_python_tool(source)
    assert module.syntax_error is not None
    assert message_part in module.syntax_error.message
    assert module.syntax_error.range == expected_range
    assert module.functions == ()


def test_deep_nesting_does_not_raise():
    module = parse_python_tool("x = " + "(" * 5000 + ")" * 5000 + "\n")
    assert module.syntax_error is not None


def test_load_from_disk_with_invalid_utf8(tmp_path):
    path = tmp_path / "tool.py"
    path.write_bytes(b"from promptflow import tool\n# \xff\xfe\n@tool\ndef go(q): pass\n")
    module = load_python_tool(path)
    assert module.path == path
    assert [t.name for t in module.tools] == ["go"]


def test_unsaved_text_wins_over_disk(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text("def old(): pass\n")
    module = load_python_tool(path, text="def new(): pass\n")
    assert [f.name for f in module.functions] == ["new"]


@pytest.mark.parametrize(
    "source, expected_line",
    [
        ("import os\n", 0),
        ('"""Doc."""\nimport os\n', 1),
        ('"""Doc\nmore."""\nfrom __future__ import annotations\nx = 1\n', 3),
        ("", 0),
    ],
)
def test_import_line_after_docstring_and_future(source, expected_line):
    assert parse_python_tool(source).import_line == expected_line
