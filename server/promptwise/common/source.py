"""Source positions shared by every layer.

Lines and characters are 0-based, as in LSP. Characters count Unicode code points;
the LSP layer converts to the client's encoding (UTF-16 by default) at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Position:
    line: int
    character: int


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position

    @classmethod
    def of(cls, start_line: int, start_char: int, end_line: int, end_char: int) -> "Range":
        return cls(Position(start_line, start_char), Position(end_line, end_char))

    @classmethod
    def empty(cls, line: int = 0, character: int = 0) -> "Range":
        return cls(Position(line, character), Position(line, character))

    def contains(self, position: Position) -> bool:
        return self.start <= position <= self.end

    def to_json(self) -> dict:
        return {
            "start": {"line": self.start.line, "character": self.start.character},
            "end": {"line": self.end.line, "character": self.end.character},
        }
