"""A table of a pyproject.toml (`[tool.promptwise]`) as the node tree YAML files give
(`yaml_nodes`), with the range of every key and value, so the settings checks and the
secret scan treat `promptwise.yaml` and `[tool.promptwise]` alike.

tomllib reads the values (it is the reference parser) but keeps no positions, so a small
line scanner finds where each key and value is written: table headers (`[a.b]`),
`key = value` lines (dotted and quoted keys) and inline tables (`{ k = v }`). A value
spanning several lines (an array, a triple-quoted string) gets the range of its first
line; a value the scanner cannot place gets the range of the nearest table it can.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time

from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    MAP_TAG,
    SEQ_TAG,
    STR_TAG,
    YamlError,
    YamlMapping,
    YamlNode,
    YamlScalar,
    YamlSequence,
)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ERROR_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")
_TAGS = {bool: BOOL_TAG, int: INT_TAG, float: FLOAT_TAG, str: STR_TAG}

# (line, key start, key end, value start, value end); the key and value share the line
_Place = tuple[int, int, int, int, int]


@dataclass
class TomlTable:
    root: YamlMapping | None  # the table, or None when the file does not have it
    errors: list[YamlError] = field(default_factory=list)  # the file cannot be read as TOML


def parse_toml_table(text: str, table: tuple[str, ...] = ("tool", "promptwise")) -> TomlTable:
    """The table at `table` in a TOML file, as nodes with ranges. Never raises."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _ERROR_POSITION.search(message)
        where = Range.empty(0, 0)
        if found:
            line, column = int(found.group(1)) - 1, max(int(found.group(2)) - 1, 0)
            where = Range.of(line, column, line, column + 1)
        return TomlTable(None, [YamlError(f"TOML syntax error: {_ERROR_POSITION.sub('', message)}", where)])
    except (RecursionError, MemoryError, ValueError) as error:
        return TomlTable(None, [YamlError(f"TOML could not be read: {error}", Range.empty(0, 0))])
    value = data
    for part in table:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        return TomlTable(None)
    places = _Scanner(text).scan()
    first_line = min((place[0] for path, place in places.items() if path[: len(table)] == table), default=0)
    fallback: _Place = (first_line, 0, 0, 0, len(text.split("\n")[first_line]) if text else 0)
    node = _build(value, table, places, fallback, depth=0)
    return TomlTable(node if isinstance(node, YamlMapping) else None)


def _marks(place: _Place, key: bool) -> tuple[int, int, int, int]:
    line, key_start, key_end, value_start, value_end = place
    return (line, key_start, line, key_end) if key else (line, value_start, line, value_end)


def _build(value, path: tuple, places: dict[tuple, _Place], fallback: _Place, depth: int) -> YamlNode:
    place = places.get(path, fallback)
    marks = _marks(place, key=False)
    if depth > 64:  # tomllib itself would have refused; a guard for every recursive walk
        return YamlScalar(marks, STR_TAG, "", None)
    if isinstance(value, dict):
        mapping = YamlMapping(marks, MAP_TAG, flow_style=False)
        for key, item in value.items():
            child_place = places.get((*path, key), place)
            key_node = YamlScalar(_marks(child_place, key=True), STR_TAG, str(key), str(key))
            mapping.add(key_node, _build(item, (*path, key), places, place, depth + 1))
        return mapping
    if isinstance(value, list):
        sequence = YamlSequence(marks, SEQ_TAG, flow_style=True)
        sequence.items = [_build(item, (*path, index), places, place, depth + 1) for index, item in enumerate(value)]
        return sequence
    if isinstance(value, (datetime, date, time)):
        return YamlScalar(marks, STR_TAG, value.isoformat(), value)
    style = '"' if isinstance(value, str) else None
    return YamlScalar(marks, _TAGS.get(type(value), STR_TAG), str(value), value, style)


class _Scanner:
    """Finds where keys and values are written; tolerant, since tomllib has already said
    the file is valid TOML."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.places: dict[tuple, _Place] = {}

    def scan(self) -> dict[tuple, _Place]:
        table: tuple = ()
        number = 0
        while number < len(self.lines):
            line = self.lines[number]
            start = len(line) - len(line.lstrip())
            if start == len(line) or line[start] == "#":
                number += 1
                continue
            if line[start] == "[":
                double = line.startswith("[[", start)
                parsed = self._key(line, start + (2 if double else 1))
                if parsed is not None:
                    parts, _ = parsed
                    table = tuple(name for name, _, _ in parts)
                    _, key_start, key_end = parts[-1]
                    self._place_prefixes(table, parts, number, start)
                    if not double:  # items of an array of tables are not placed
                        self.places.setdefault(table, (number, key_start, key_end, start, len(line.rstrip())))
                number += 1
                continue
            number = self._assignment(table, number, start)
        return self.places

    def _assignment(self, table: tuple, number: int, start: int) -> int:
        """Place `key = value` on line `number`; returns the next line to read."""
        line = self.lines[number]
        parsed = self._key(line, start)
        if parsed is None:
            return number + 1
        parts, index = parsed
        index = _skip_spaces(line, index)
        if index >= len(line) or line[index] != "=":
            return number + 1
        value_start = _skip_spaces(line, index + 1)
        path = table + tuple(name for name, _, _ in parts)
        _, key_start, key_end = parts[-1]
        value_end, open_until = self._value(number, value_start, stops="#")
        self._place_prefixes(path, parts, number, start, len(table))
        self.places[path] = (number, key_start, key_end, value_start, value_end)
        if value_start < len(line) and line[value_start] == "{":
            self._inline_table(path, number, value_start)
        return open_until + 1

    def _place_prefixes(self, path: tuple, parts: list, number: int, start: int, offset: int = 0) -> None:
        """Tables named only on the way to a key (`models` in `models.x = 1`, or in
        `[tool.promptwise.models.x]`) are placed where they are first named."""
        end = len(self.lines[number].rstrip())
        for count in range(1, len(parts)):
            _, key_start, key_end = parts[count - 1]
            self.places.setdefault(path[: offset + count], (number, key_start, key_end, start, end))

    def _inline_table(self, path: tuple, number: int, index: int) -> None:
        line = self.lines[number]
        index += 1  # past `{`
        while True:
            index = _skip_spaces(line, index)
            if index >= len(line) or line[index] == "}":
                return
            parsed = self._key(line, index)
            if parsed is None:
                return
            parts, index = parsed
            index = _skip_spaces(line, index)
            if index >= len(line) or line[index] != "=":
                return
            value_start = _skip_spaces(line, index + 1)
            value_end, open_until = self._value(number, value_start, stops=",}")
            child = path + tuple(name for name, _, _ in parts)
            _, key_start, key_end = parts[-1]
            self.places[child] = (number, key_start, key_end, value_start, value_end)
            if open_until != number:
                return  # a multi-line value inside an inline table: stop placing here
            if value_start < len(line) and line[value_start] == "{":
                self._inline_table(child, number, value_start)
            index = _skip_spaces(line, value_end)
            if index < len(line) and line[index] == ",":
                index += 1
                continue
            return

    def _key(self, line: str, index: int) -> tuple[list[tuple[str, int, int]], int] | None:
        """A dotted key starting at `index`: its parts with their columns, and the index after it."""
        parts: list[tuple[str, int, int]] = []
        while True:
            index = _skip_spaces(line, index)
            if index < len(line) and line[index] in "\"'":
                quote = line[index]
                end = _string_end(line, index, quote)
                if end is None:
                    return None
                parts.append((_unquote(line[index:end], quote), index, end))
                index = end
            else:
                match = _BARE_KEY.match(line, index)
                if match is None:
                    return None
                parts.append((match.group(0), match.start(), match.end()))
                index = match.end()
            index = _skip_spaces(line, index)
            if index < len(line) and line[index] == ".":
                index += 1
                continue
            return parts, index

    def _value(self, number: int, index: int, stops: str) -> tuple[int, int]:
        """(end column of the value on its first line, last line the value occupies)."""
        line = self.lines[number]
        if index >= len(line):
            return index, number
        for triple in ('"""', "'''"):
            if line.startswith(triple, index):
                close = line.find(triple, index + 3)
                if close >= 0:
                    return close + 3, number
                for later in range(number + 1, len(self.lines)):
                    if triple in self.lines[later]:
                        return len(line.rstrip()), later
                return len(line.rstrip()), len(self.lines) - 1
        first = line[index]
        if first in "\"'":
            end = _string_end(line, index, first)
            return (end if end is not None else len(line.rstrip())), number
        if first in "[{":
            return self._bracketed(number, index)
        end = index
        while end < len(line) and line[end] not in stops and line[end] != "#":
            end += 1
        return len(line[:end].rstrip()), number

    def _bracketed(self, number: int, index: int) -> tuple[int, int]:
        """An array or inline table, possibly (arrays) over several lines."""
        depth = 0
        line_number = number
        position = index
        while line_number < len(self.lines):
            line = self.lines[line_number]
            while position < len(line):
                char = line[position]
                if char in "\"'":
                    end = _string_end(line, position, char)
                    position = end if end is not None else len(line)
                    continue
                if char == "#":
                    break
                if char in "[{":
                    depth += 1
                elif char in "]}":
                    depth -= 1
                    if depth == 0:
                        end = position + 1 if line_number == number else len(self.lines[number].rstrip())
                        return end, line_number
                position += 1
            line_number += 1
            position = 0
        return len(self.lines[number].rstrip()), len(self.lines) - 1


def _skip_spaces(line: str, index: int) -> int:
    while index < len(line) and line[index] in " \t":
        index += 1
    return index


def _string_end(line: str, index: int, quote: str) -> int | None:
    """The index after the string that opens at `index` (basic strings honour `\\`)."""
    position = index + 1
    while position < len(line):
        char = line[position]
        if char == "\\" and quote == '"':
            position += 2
            continue
        if char == quote:
            return position + 1
        position += 1
    return None


def _unquote(raw: str, quote: str) -> str:
    inner = raw[1:-1]
    if quote == "'":
        return inner
    try:
        return tomllib.loads(f"k = {raw}")["k"]
    except tomllib.TOMLDecodeError:
        return inner
