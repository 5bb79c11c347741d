"""Pieces every YAML-based document shares: elements that remember their mapping (so any
key's or value's range can be asked for), typed readers that never raise, and the
document base with its parse problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from promptwise.common.problems import Problem, Severity
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import (
    YamlDocument,
    YamlMapping,
    YamlNode,
    YamlScalar,
    YamlSequence,
    to_python,
)

EMPTY_RANGE = Range.empty(0, 0)


@dataclass
class Element:
    """A part of a document backed by a YAML mapping (None when the YAML had another shape)."""

    mapping: YamlMapping | None = field(default=None, repr=False, kw_only=True)

    def key_range(self, key: str) -> Range | None:
        entry = self.mapping.entry(key) if self.mapping is not None else None
        return entry.key.range if entry is not None else None

    def value_node(self, key: str) -> YamlNode | None:
        return self.mapping.get(key) if self.mapping is not None else None

    def value_range(self, key: str) -> Range | None:
        node = self.value_node(key)
        return node.range if node is not None else None

    def has(self, key: str) -> bool:
        return self.mapping is not None and key in self.mapping


def as_mapping(node: YamlNode | None) -> YamlMapping | None:
    return node if isinstance(node, YamlMapping) else None


def as_sequence(node: YamlNode | None) -> YamlSequence | None:
    return node if isinstance(node, YamlSequence) else None


def scalar(mapping: YamlMapping | None, key: str) -> Any:
    """The scalar value under `key`, or None when absent or not a scalar."""
    node = mapping.get(key) if mapping is not None else None
    return node.value if isinstance(node, YamlScalar) else None


def string(mapping: YamlMapping | None, key: str) -> str | None:
    """A string value; numbers and booleans are rendered as text (YAML `1.0` for a name)."""
    value = scalar(mapping, key)
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def boolean(mapping: YamlMapping | None, key: str, default: bool = False) -> bool:
    value = scalar(mapping, key)
    return value if isinstance(value, bool) else default


def plain(mapping: YamlMapping | None, key: str) -> Any:
    """The plain Python value under `key` (dicts, lists, scalars); None if absent or
    too large to expand."""
    node = mapping.get(key) if mapping is not None else None
    try:
        return to_python(node)
    except ValueError:
        return None


def string_list(node: YamlNode | None) -> list[tuple[str, Range]]:
    """Strings of a YAML list, each with its range (non-strings skipped)."""
    sequence = as_sequence(node)
    if sequence is None:
        return []
    return [
        (str(item.value), item.range)
        for item in sequence.items
        if isinstance(item, YamlScalar) and item.value is not None
    ]


@dataclass
class YamlBackedDocument:
    """Base for flow.dag.yaml, flow.flex.yaml and .prompty documents."""

    path: Path
    text: str
    yaml: YamlDocument | None = field(default=None, repr=False)
    problems: list[Problem] = field(default_factory=list, repr=False)  # found while parsing

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def root(self) -> YamlMapping | None:
        return as_mapping(self.yaml.root) if self.yaml is not None else None

    def problem(self, code: str, range_: Range, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.path, range_, severity, code, message))


def widen_to_token(range_: Range, text: str) -> Range:
    """A zero-width position (where a parser stopped) widened to the token there, or to the
    last token before it at the end of a line, so the editor has something to underline."""
    if range_.start != range_.end:
        return range_
    lines = text.split("\n")
    line_number = range_.start.line
    if line_number >= len(lines):
        line_number = len(lines) - 1
        column = len(lines[line_number])
    else:
        column = min(range_.start.character, len(lines[line_number]))
    line = lines[line_number]
    end = column
    while end < len(line) and not line[end].isspace():
        end += 1
    if end > column:
        return Range.of(line_number, column, line_number, end)
    start = column
    while start > 0 and line[start - 1].isspace():
        start -= 1
    token_end = start
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    if token_end > start:
        return Range.of(line_number, start, line_number, token_end)
    return Range.of(line_number, column, line_number, column)


def record_yaml_problems(document: YamlBackedDocument) -> None:
    """Syntax errors (PW101) and duplicate keys (PW102) of the parsed YAML."""
    if document.yaml is None:
        return
    for error in document.yaml.errors:
        document.problem(
            "PW101", widen_to_token(error.range, document.text), f"{error.message}; fix the YAML at this position"
        )
    for duplicate in document.yaml.duplicates:
        document.problem(
            "PW102",
            duplicate.range,
            f"duplicate key '{duplicate.key}' (also on line {duplicate.first.start.line + 1}); "
            "the later one wins: remove or rename one of them",
        )


def top_level_mapping(document: YamlBackedDocument, not_a_mapping: str, empty: str) -> YamlMapping | None:
    """The file's top-level mapping, after recording its YAML problems. When there is none,
    says why: PW104 `not_a_mapping` (the top level is a list or a scalar) or PW105 `empty`
    (nothing at all, and no syntax error to explain it)."""
    record_yaml_problems(document)
    root = document.root
    if root is None:
        if document.yaml.root is not None:
            document.problem("PW104", document.yaml.root.range, not_a_mapping)
        elif not document.yaml.errors:
            document.problem("PW105", EMPTY_RANGE, empty)
    return root


def read_named_sections(root: YamlMapping, sections: Iterable[tuple[str, dict, Callable]]) -> None:
    """For each (key, target, build): every `name: value` entry of the mapping under `key`
    becomes `target[name] = build(name, key range, value)`; the first of duplicate names wins."""
    for key, target, build in sections:
        section = as_mapping(root.get(key))
        if section is None:
            continue
        for entry in section.entries:
            name = entry.key_text
            if name is not None and name not in target:
                target[name] = build(name, entry.key.range, entry.value)
