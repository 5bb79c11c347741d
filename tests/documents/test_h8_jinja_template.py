"""Jinja2 templates: input variables with the range of their first use, syntax errors."""

from __future__ import annotations

import pytest

from promptwise.documents.jinja_template import load_jinja_template, parse_jinja_template
from promptwise.documents.source import Range


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello {{ name }}", [("name", Range.of(0, 9, 0, 13))]),
        ("{{ user.name | upper }}", [("user", Range.of(0, 3, 0, 7))]),
        ("a\n  {{ b }} {{ c }}\n{{ b }}", [("b", Range.of(1, 5, 1, 6)), ("c", Range.of(1, 13, 1, 14))]),
        # loop variables, `loop`, set targets, macro parameters are not inputs
        ("{% for x in items %}{{ x }} {{ loop.index }}{% endfor %}", [("items", Range.of(0, 12, 0, 17))]),
        ("{% set y = 1 %}{{ y }}", []),
        ("{% macro m(p, q=2) %}{{ p }}{{ w }}{% endmacro %}", [("w", Range.of(0, 31, 0, 32))]),
        ("{% for k, v in pairs %}{{ k }}={{ v }}{% endfor %}", [("pairs", Range.of(0, 15, 0, 20))]),
        # a keyword argument, a filter, a test are not variables; their values are
        ("{{ f(k=z) }}", [("f", Range.of(0, 3, 0, 4)), ("z", Range.of(0, 7, 0, 8))]),
        ("{{ a | default(b) }}", [("a", Range.of(0, 3, 0, 4)), ("b", Range.of(0, 15, 0, 16))]),
        ("{% if a is not defined %}{% endif %}", [("a", Range.of(0, 6, 0, 7))]),
        ("{{ c if d else e }}", [("c", Range.of(0, 3, 0, 4)), ("d", Range.of(0, 8, 0, 9)), ("e", Range.of(0, 15, 0, 16))]),
        # Jinja's own globals are not inputs
        ("{% for i in range(3) %}{{ dict(a=i) }}{% endfor %}", []),
        # a name read in a loop and again outside it: the free read is the input's first use
        ("{% for x in xs %}{{ x }}{% endfor %}{{ x }}", [("xs", Range.of(0, 12, 0, 14)), ("x", Range.of(0, 39, 0, 40))]),
        ("{% for x in xs %}\n{{ x }}\n{% endfor %}\n{{ x }}", [("xs", Range.of(0, 12, 0, 14)), ("x", Range.of(3, 3, 3, 4))]),
        # code points, CRLF, raw blocks and strings
        ("é {{ ü }}\r\n{{ ü }}", [("ü", Range.of(0, 5, 0, 6))]),
        ("{% raw %}{{ nope }}{% endraw %}{{ yes }}", [("yes", Range.of(0, 34, 0, 37))]),
        ("{{ \"name\" ~ name }}", [("name", Range.of(0, 12, 0, 16))]),
        ("{# {{ hidden }} #}{{ shown }}", [("shown", Range.of(0, 21, 0, 26))]),
        ("{{- a -}}\n  {%- if b -%}{%- endif -%}", [("a", Range.of(0, 4, 0, 5)), ("b", Range.of(1, 9, 1, 10))]),
    ],
)
def test_variables_and_first_use(text, expected):
    template = parse_jinja_template(text)
    assert template.syntax_error is None
    assert [(v.name, v.range) for v in template.variables] == expected


def test_every_use_is_recorded_for_rename():
    template = parse_jinja_template("{{ q }} and {{ q }}\n{{ q | upper }}")
    assert template.variable("q").uses == (
        Range.of(0, 3, 0, 4),
        Range.of(0, 15, 0, 16),
        Range.of(1, 3, 1, 4),
    )


def test_line_offset_for_a_prompty_body():
    template = parse_jinja_template("system:\nAnswer {{ question }}\n", line_offset=7)
    assert [(v.name, v.range) for v in template.variables] == [("question", Range.of(8, 10, 8, 18))]


@pytest.mark.parametrize(
    "text, line_offset, expected_range",
    [
        # The sentence is Jinja2's (not asserted): we guarantee the error and its exact range.
        ("ok\n  {{ b }\nmore", 0, Range.of(1, 2, 1, 8)),
        ("{% if a %}\n{{ b }}\n", 0, Range.of(1, 0, 1, 7)),
        ("{% if a %}\n{{ b }}", 0, Range.of(1, 0, 1, 7)),
        ("{% endfor %}", 0, Range.of(0, 0, 0, 12)),
        ("system:\n{{ a + }}", 5, Range.of(6, 0, 6, 9)),
    ],
)
def test_syntax_error_at_the_templates_own_line(text, line_offset, expected_range):
    template = parse_jinja_template(text, line_offset=line_offset)
    assert template.syntax_error is not None
    assert template.syntax_error.message
    assert template.syntax_error.range == expected_range
    assert template.variables == ()


def test_load_from_disk(tmp_path):
    path = tmp_path / "p.jinja2"
    path.write_bytes(b"user:\n{{ question }} \xff\n")
    template = load_jinja_template(path)
    assert template.path == path
    assert template.variable_names == ["question"]


def test_deeply_nested_template_does_not_raise():
    text = "{% if a %}" * 400 + "{% endif %}" * 400
    template = parse_jinja_template(text)
    assert template.syntax_error is not None or template.variable_names == ["a"]
