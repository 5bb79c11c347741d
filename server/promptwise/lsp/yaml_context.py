"""Where the cursor is in a YAML file, read from the text's indentation alone.

Completion runs while the user types, when the YAML is often not valid (`    lim` has no
colon yet), so the parsed tree cannot say which mapping the cursor is in. Indentation can:
walking up from the cursor to each less-indented line gives the chain of parent keys, with
`[]` for a list item (and the item's line, to find the node it belongs to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LEAD = re.compile(r"^(?P<indent> *)(?P<dash>- +)?")
_KEY = re.compile(r"(?P<key>[^\s:#'\"{}\[\],][^:#]*?|'[^']*'|\"[^\"]*\")\s*:(?:\s|$)")
_KEY_PREFIX = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<word>[\w$.-]*)$")
_VALUE_PREFIX = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[\w$.-]+):[ \t]+(?P<word>[\w./-]*)$")


@dataclass
class YamlPosition:
    path: list[str]  # parent keys from the top, "[]" for a list item
    item_lines: list[int] = field(default_factory=list)  # line of each "[]" in path, same order
    in_key: bool = False  # the cursor is where a key is typed
    key: str | None = None  # in a value: the key it belongs to
    word: str = ""  # the partial word before the cursor
    word_start: int = 0  # its column


def _parse(line: str) -> tuple[int, int | None, int, str | None] | None:
    """(indent, dash column or None, key column, key or None); None for blank/comment lines."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
        return None
    lead = _LEAD.match(line)
    indent = len(lead.group("indent"))
    dash = indent if lead.group("dash") else None
    key_column = lead.end()
    match = _KEY.match(line, key_column)
    key = match.group("key").strip().strip("'\"") if match else None
    return indent, dash, key_column, key


def yaml_position(lines: list[str], line: int, character: int, first_line: int = 0) -> YamlPosition | None:
    """The cursor's place; `first_line` limits the walk (a prompty's front matter)."""
    if line >= len(lines):
        return None
    prefix = lines[line][:character]
    result: YamlPosition
    key_match = _KEY_PREFIX.match(prefix)
    value_match = _VALUE_PREFIX.match(prefix) if key_match is None else None
    if key_match is not None:
        indent = len(key_match.group("indent"))
        dash = key_match.group("dash")
        column = indent + len(dash or "")
        result = YamlPosition([], in_key=True, word=key_match.group("word"), word_start=column)
    elif value_match is not None:
        indent = len(value_match.group("indent"))
        dash = value_match.group("dash")
        column = indent + len(dash or "")
        word = value_match.group("word")
        result = YamlPosition([], key=value_match.group("key"), word=word, word_start=character - len(word))
    else:
        return None

    path: list[str] = []
    items: list[int] = []
    if dash:  # the cursor's line starts a list item
        path.append("[]")
        items.append(line)
        mode, column = "sequence", indent
    else:
        mode = "mapping"
    for number in range(line - 1, first_line - 1, -1):
        parsed = _parse(lines[number])
        if parsed is None:
            continue
        line_indent, line_dash, key_column, key = parsed
        if mode == "mapping":
            if line_dash is not None and line_dash < column:
                # an item whose mapping holds the cursor (sibling key) or its parent key
                if key_column < column and key is not None:
                    path.append(key)
                    items.append(-1)
                path.append("[]")
                items.append(number)
                mode, column = "sequence", line_dash
            elif line_dash is None and key_column < column:
                if key is None:
                    return None  # a less-indented line that is not a key: not a mapping we know
                path.append(key)
                items.append(-1)
                column = key_column
        else:  # sequence: look for the key that holds the list
            if line_dash is not None and line_dash == column:
                continue  # a sibling item
            if line_dash is not None and line_dash < column:
                if key is not None and key_column <= column:
                    path.append(key)
                    items.append(-1)
                path.append("[]")
                items.append(number)
                column = line_dash
            elif line_dash is None and key_column <= column:
                if key is None:
                    return None
                path.append(key)
                items.append(-1)
                mode, column = "mapping", key_column
        if column == 0 and mode == "mapping":
            break
    path.reverse()
    items.reverse()
    result.path = path
    result.item_lines = [n for n in items if n >= 0]
    return result
