"""Code-point positions <-> the client's encoding (UTF-16 by default), table-driven."""

from __future__ import annotations

import pytest
from lsprotocol import types

from promptwise.documents.source import Position, Range
from promptwise.lsp.positions import (
    UTF8,
    UTF16,
    UTF32,
    from_client_position,
    split_lines,
    to_client_position,
    to_client_range,
)

LINES = split_lines("name: x\ninputs: {q: ${inputs.😀q}}\r\nrésumé: é😀é\rlast")


def test_split_lines_breaks_only_where_lsp_does():
    assert split_lines("a\nb\r\nc\rd\x0ce\u2028f") == ["a", "b", "c", "d\x0ce\u2028f"]


@pytest.mark.parametrize(
    ("position", "encoding", "expected"),
    [
        (Position(0, 4), UTF16, (0, 4)),  # ASCII: the same in every encoding
        (Position(1, 21), UTF16, (1, 21)),  # just before the emoji
        (Position(1, 22), UTF16, (1, 23)),  # after the emoji: two UTF-16 units
        (Position(1, 22), UTF8, (1, 25)),  # four UTF-8 bytes
        (Position(1, 22), UTF32, (1, 22)),
        (Position(2, 8), UTF16, (2, 8)),  # `é` is one UTF-16 unit ...
        (Position(2, 8), UTF8, (2, 10)),  # ... and two UTF-8 bytes
        (Position(2, 10), UTF16, (2, 11)),  # é😀 -> 1 + 2
        (Position(0, 99), UTF16, (0, 7)),  # past the end of the line: its end
        (Position(99, 0), UTF16, (3, 4)),  # past the last line: the end of the document
    ],
)
def test_to_client_position(position, encoding, expected):
    result = to_client_position(LINES, position, encoding)
    assert (result.line, result.character) == expected


@pytest.mark.parametrize(
    ("line", "character", "encoding", "expected"),
    [
        (1, 23, UTF16, Position(1, 22)),
        (1, 22, UTF16, Position(1, 22)),  # inside the surrogate pair: after the character
        (1, 25, UTF8, Position(1, 22)),
        (2, 11, UTF16, Position(2, 10)),
        (2, 500, UTF16, Position(2, 11)),
        (7, 3, UTF16, Position(3, 4)),
    ],
)
def test_from_client_position(line, character, encoding, expected):
    assert from_client_position(LINES, types.Position(line=line, character=character), encoding) == expected


def test_round_trip_every_character():
    for number, line in enumerate(LINES):
        for column in range(len(line) + 1):
            for encoding in (UTF8, UTF16, UTF32):
                client = to_client_position(LINES, Position(number, column), encoding)
                assert from_client_position(LINES, client, encoding) == Position(number, column)


def test_range():
    result = to_client_range(LINES, Range.of(1, 12, 1, 25), UTF16)
    assert result == types.Range(start=types.Position(line=1, character=12), end=types.Position(line=1, character=26))
