"""`[tool.promptwise]` read into nodes with the range of every key and value."""

from __future__ import annotations

import pytest

from promptwise.documents.toml_nodes import parse_toml_table
from promptwise.documents.yaml_nodes import YamlMapping, YamlScalar, YamlSequence, to_python

TEXT = """\
[project]
name = "claims"

[tool.promptwise]
defaults = { model = "gpt-4o-mini", connection = 'local' }  # inline
models."my-model" = { input_per_1m = 0.5, context_window = 8000 }

[tool.promptwise.connections.openai]
type = "openai"   # a comment
api_key = "${env:OPENAI_API_KEY}"
tags = [
  "a", "b",
]
note = \"\"\"
two lines\"\"\"
after = 1
"""


def _covered(node) -> str:
    r = node.range
    assert r.start.line == r.end.line
    return TEXT.split("\n")[r.start.line][r.start.character : r.end.character]


@pytest.fixture(scope="module")
def root() -> YamlMapping:
    table = parse_toml_table(TEXT)
    assert table.errors == []
    assert isinstance(table.root, YamlMapping)
    return table.root


def test_values_are_toml_values(root):
    assert to_python(root) == {
        "defaults": {"model": "gpt-4o-mini", "connection": "local"},
        "models": {"my-model": {"input_per_1m": 0.5, "context_window": 8000}},
        "connections": {
            "openai": {
                "type": "openai", "api_key": "${env:OPENAI_API_KEY}", "tags": ["a", "b"],
                "note": "two lines", "after": 1,
            }
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    "path, key_text, value_text",
    [
        (("defaults", "model"), "model", '"gpt-4o-mini"'),
        (("defaults", "connection"), "connection", "'local'"),
        (("models", "my-model", "input_per_1m"), "input_per_1m", "0.5"),
        (("models", "my-model", "context_window"), "context_window", "8000"),
        (("connections", "openai", "type"), "type", '"openai"'),
        (("connections", "openai", "api_key"), "api_key", '"${env:OPENAI_API_KEY}"'),
        (("connections", "openai", "after"), "after", "1"),
    ],
)
def test_ranges(root, path, key_text, value_text):
    node = root
    for part in path[:-1]:
        node = node.get(part)
    entry = node.entry(path[-1])
    assert _covered(entry.key) == key_text
    assert isinstance(entry.value, YamlScalar)
    assert _covered(entry.value) == value_text


def test_tables_from_headers_and_dotted_keys(root):
    assert _covered(root.entry("models").key) == "models"
    assert _covered(root.get("connections").entry("openai").key) == "openai"
    tags = root.get("connections").get("openai").get("tags")
    assert isinstance(tags, YamlSequence) and tags.range.start.line == 10


@pytest.mark.parametrize(
    "text, line",
    [("[tool.promptwise]\nx = \n", 1), ("[tool.promptwise]\nx = 1\nx = 2\n", 2), ("a = [\n", 0)],
)
def test_syntax_errors_have_positions(text, line):
    table = parse_toml_table(text)
    assert table.root is None
    (error,) = table.errors
    assert error.message.startswith("TOML syntax error") and error.range.start.line == line


def test_absent_table():
    assert parse_toml_table('[project]\nname = "x"\n').root is None
    assert parse_toml_table("").root is None
