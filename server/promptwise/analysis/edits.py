"""Building blocks for fixes: the lines a YAML mapping entry occupies, so that a fix can
remove a whole `name: {...}` block cleanly."""

from __future__ import annotations

from pathlib import Path

from promptwise.analysis.problem import Fix, TextEdit
from promptwise.documents.source import Position, Range
from promptwise.documents.yaml_nodes import YamlMapping


def entry_lines(mapping: YamlMapping, key: str, text: str) -> Range | None:
    """Whole lines from the entry's key to just before the next entry (or the end of its
    value), as a range ending at the start of the following line. None for flow-style
    mappings (`{a: 1, b: 2}`), where deleting lines would break the syntax."""
    if mapping.flow_style:
        return None
    entries = mapping.entries
    index = next((i for i, e in enumerate(entries) if e.key_text == key), None)
    if index is None:
        return None
    start_line = entries[index].key.range.start.line
    lines = text.split("\n")
    if index + 1 < len(entries):
        end_line = entries[index + 1].key.range.start.line
        if end_line <= start_line:
            return None  # two entries on one line
    else:
        value_end = entries[index].value.range.end
        # a block value's end mark sits at the start of the next line already
        end_line = value_end.line if value_end.character == 0 and value_end.line > start_line else value_end.line + 1
        # keep trailing comments/blank lines that belong to what follows
        while end_line - 1 > start_line and end_line - 1 < len(lines) and not lines[end_line - 1].strip():
            end_line -= 1
    end_line = min(end_line, len(lines))
    if end_line >= len(lines):
        last = len(lines) - 1
        return Range.of(start_line, 0, last, len(lines[last]))
    return Range.of(start_line, 0, end_line, 0)


def remove_entry_fix(path: Path, mapping: YamlMapping, key: str, text: str, title: str) -> Fix | None:
    span = entry_lines(mapping, key, text)
    if span is None:
        return None
    return Fix(title, (TextEdit(path, span, ""),))


def replace_fix(path: Path, range_: Range, new_text: str, title: str) -> Fix:
    return Fix(title, (TextEdit(path, range_, new_text),))


def insert_key_fix(path: Path, mapping: YamlMapping, text: str, line_text: str, title: str) -> Fix | None:
    """Insert `line_text` (e.g. `type: string`) as a new entry of a block mapping, right
    after its first entry and at the same indentation. None where that is not safe."""
    if mapping.flow_style or not mapping.entries:
        return None
    first = mapping.entries[0]
    key_start = first.key.range.start
    lines = text.split("\n")
    if len(mapping.entries) > 1:
        line = mapping.entries[1].key.range.start.line
        if line <= key_start.line:
            return None
    else:
        end = first.value.range.end
        line = end.line if end.character == 0 and end.line > key_start.line else end.line + 1
    new_line = " " * key_start.character + line_text
    if line >= len(lines):  # the mapping ends the file, without a final newline
        last = len(lines) - 1
        return Fix(title, (TextEdit(path, Range.of(last, len(lines[last]), last, len(lines[last])), "\n" + new_line),))
    return Fix(title, (TextEdit(path, Range(Position(line, 0), Position(line, 0)), new_line + "\n"),))
