"""`${...}` references are parsed with exact ranges of every part."""

from __future__ import annotations

import pytest

from promptwise.documents.references import embedded_references, parse_reference, parse_substitutions
from promptwise.documents.yaml_nodes import parse_yaml


def _value(line: str):
    """Parse `key: <value>` and return the value node and the line text."""
    return parse_yaml(line).root.get("key"), line


def _text(line: str, range_) -> str:
    assert range_.start.line == range_.end.line == 0
    return line[range_.start.character : range_.end.character]


@pytest.mark.parametrize(
    "line, prefix, name, section, path",
    [
        ("key: ${inputs.question}", "inputs", "question", None, ()),
        ("key: ${flow.question}", "flow", "question", None, ()),
        ("key: ${classify}", "", "classify", None, ()),
        ("key: ${classify.output}", "", "classify", "output", ()),
        ("key: ${classify.output.label}", "", "classify", "output", ("label",)),
        ("key: ${classify.output.a.b}", "", "classify", "output", ("a", "b")),
        ("key: '${classify.output.label}'", "", "classify", "output", ("label",)),
        ('key: "${inputs.q}"', "inputs", "q", None, ()),
    ],
)
def test_parts_and_ranges(line, prefix, name, section, path):
    node, text = _value(line)
    reference = parse_reference(node)
    assert reference is not None
    assert (reference.prefix, reference.name, reference.section, reference.path) == (prefix, name, section, path)
    assert _text(text, reference.range) == node.value
    assert _text(text, reference.name_range) == name
    if section:
        assert _text(text, reference.section_range) == section
    if path:
        assert _text(text, reference.path_range) == ".".join(path)


@pytest.mark.parametrize("line", ["key: hello", "key: Hi ${inputs.x}", "key: 3", "key: ${", "key: $x"])
def test_literals_are_not_references(line):
    node, _ = _value(line)
    assert parse_reference(node) is None


def test_embedded_references_are_found_with_ranges():
    node, text = _value("key: Hello ${inputs.name}, see ${b.output}")
    found = embedded_references(node)
    assert [t for t, _ in found] == ["${inputs.name}", "${b.output}"]
    assert [_text(text, r) for _, r in found] == ["${inputs.name}", "${b.output}"]


def test_substitutions():
    node, text = _value('key: "${env:AZURE_KEY}"')
    [substitution] = parse_substitutions(node)
    assert (substitution.kind, substitution.name) == ("env", "AZURE_KEY")
    assert _text(text, substitution.range) == "${env:AZURE_KEY}"
    assert _text(text, substitution.name_range) == "AZURE_KEY"
    node, text = _value("key: ${file:data/sample.json}")
    [substitution] = parse_substitutions(node)
    assert (substitution.kind, substitution.name) == ("file", "data/sample.json")
