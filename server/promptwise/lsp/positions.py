"""Conversion between our code-point positions and the client's position encoding.

The analysis speaks 0-based lines and code-point columns (`promptwise.documents.source`);
LSP clients speak UTF-16 code units unless they negotiated otherwise. The conversion needs
the line's text, so every function here takes the document's lines.

Why not pygls's `PositionCodec`: it splits lines with `str.splitlines`, which also breaks on
form feeds and U+2028 (LSP only breaks on \\n, \\r\\n and \\r), and it clamps an end-of-line
position to the last character. Both would shift ranges by one on ordinary input.
"""

from __future__ import annotations

import re

from lsprotocol import types

from promptwise.documents.source import Position, Range

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

UTF8 = types.PositionEncodingKind.Utf8
UTF16 = types.PositionEncodingKind.Utf16
UTF32 = types.PositionEncodingKind.Utf32


def split_lines(text: str) -> list[str]:
    """The document's lines as LSP counts them, without their line breaks."""
    return _LINE_BREAK.split(text)


def _units(text: str, encoding: str) -> int:
    if encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", errors="surrogatepass"))
    # UTF-16: characters beyond the basic plane take two units
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def to_client_position(lines: list[str], position: Position, encoding: str = UTF16) -> types.Position:
    if not lines:
        return types.Position(line=0, character=0)
    if position.line >= len(lines):  # past the end: the end of the document
        last = len(lines) - 1
        return types.Position(line=last, character=_units(lines[last], encoding))
    line = max(position.line, 0)
    text = lines[line]
    column = min(max(position.character, 0), len(text))
    return types.Position(line=line, character=_units(text[:column], encoding))


def to_client_range(lines: list[str], range_: Range, encoding: str = UTF16) -> types.Range:
    return types.Range(
        start=to_client_position(lines, range_.start, encoding),
        end=to_client_position(lines, range_.end, encoding),
    )


def from_client_position(lines: list[str], position: types.Position, encoding: str = UTF16) -> Position:
    """The code-point position of a client position (clamped into the document)."""
    if not lines:
        return Position(0, 0)
    if position.line >= len(lines):
        last = len(lines) - 1
        return Position(last, len(lines[last]))
    line = max(position.line, 0)
    text = lines[line]
    if encoding == UTF32 or text.isascii():
        return Position(line, min(max(position.character, 0), len(text)))
    wanted = position.character
    units = 0
    for index, char in enumerate(text):
        if units >= wanted:
            return Position(line, index)
        units += _units(char, encoding)
    return Position(line, len(text))


def from_client_range(lines: list[str], range_: types.Range, encoding: str = UTF16) -> Range:
    return Range(
        from_client_position(lines, range_.start, encoding),
        from_client_position(lines, range_.end, encoding),
    )
