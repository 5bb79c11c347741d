"""The YAML tree keeps exact ranges, finds duplicate keys and never raises."""

from __future__ import annotations

import pytest

from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import (
    YamlMapping,
    YamlScalar,
    YamlSequence,
    parse_yaml,
    to_python,
)


def test_ranges_of_keys_and_values():
    document = parse_yaml('name: é1\nlist:\n  - [x, {y: 2}]\nquoted: "q"\n')
    root = document.root
    assert isinstance(root, YamlMapping)
    assert root.entry("name").key.range == Range.of(0, 0, 0, 4)
    assert root.get("name").range == Range.of(0, 6, 0, 8)  # code points, not bytes
    assert root.get("quoted").range == Range.of(3, 8, 3, 11)  # quotes included
    assert root.get("quoted").style == '"'
    inner = root.get("list").items[0]
    assert isinstance(inner, YamlSequence) and inner.range == Range.of(2, 4, 2, 15)
    assert inner.items[1].get("y").value == 2


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: 1", {"a": 1}),
        ("a: yes", {"a": True}),
        ("a: 1.5", {"a": 1.5}),
        ("a:", {"a": None}),
        ("a: '1'", {"a": "1"}),
        ("a: &x [1]\nb: *x", {"a": [1], "b": [1]}),
        ("- a\n- b", ["a", "b"]),
    ],
)
def test_values(text, expected):
    assert to_python(parse_yaml(text).root) == expected


def test_plain_empty_value_is_empty_and_plain_style_is_none():
    root = parse_yaml("a:\nb: null\nc: x\n").root
    assert root.get("a").is_empty
    assert not root.get("b").is_empty and root.get("b").is_null
    assert root.get("c").style is None


def test_duplicate_keys_keep_last_and_are_reported():
    document = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert document.root.get("a").value == 3
    [duplicate] = document.duplicates
    assert duplicate.key == "a"
    assert duplicate.range == Range.of(2, 0, 2, 1)
    assert duplicate.first == Range.of(0, 0, 0, 1)


@pytest.mark.parametrize(
    "text, line, our_words",
    [
        # Which words PyYAML uses is its business (6.0.4 changed them): we guarantee a syntax
        # error with the right line, under our own prefix, and our own sentences where ours.
        ("a: [1, 2\nb: c", 1, ""),
        ("a: b: c", 0, ""),
        ("a: 1\n\tb: 2", 1, ""),
        ("a: b\nc: \x00", 1, ""),
        ("a: 1\n---\nb: 2\n", 1, "more than one YAML document"),
        ("[" * 100_000, 0, ""),
        ("- " * 100_000 + "x", 0, ""),
    ],
)
def test_errors_become_positions(text, line, our_words):
    document = parse_yaml(text)
    assert document.errors, text
    error = document.errors[0]
    assert error.range.start.line == line
    assert error.message
    assert our_words in error.message


def test_partial_tree_survives_an_error():
    document = parse_yaml("inputs:\n  q: {type: string}\nnodes: [\n")
    assert document.errors
    assert isinstance(document.root, YamlMapping)
    assert document.root.get("inputs").get("q").get("type").value == "string"


def test_empty_text_has_no_root_and_no_error():
    document = parse_yaml("")
    assert document.root is None and document.errors == []


def test_line_offset_shifts_ranges():
    root = parse_yaml("x: 1", line_offset=3).root
    assert root.entry("x").key.range == Range.of(3, 0, 3, 1)


def test_custom_tag_keeps_text():
    root = parse_yaml("a: !include other.yaml").root
    value = root.get("a")
    assert isinstance(value, YamlScalar) and value.value == "other.yaml"
