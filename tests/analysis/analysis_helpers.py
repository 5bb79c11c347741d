"""Helpers for analysis tests (a uniquely named module: tests/ folders are not packages)."""

from __future__ import annotations

from pathlib import Path

from promptwise.analysis import analyze

TOOL = '''from promptflow.core import tool


@tool
def {name}({params}):
    return {params_first}
'''


def tool_source(name: str, params: str = "x") -> str:
    first = params.split(",")[0].split(":")[0].split("=")[0].strip() or "None"
    return TOOL.format(name=name, params=params, params_first=first)


class Project:
    def __init__(self, root: Path):
        self.root = root

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def analyze(self, relative: str, text: str, files: dict[str, str] | None = None):
        for name, content in (files or {}).items():
            self.write(name, content)
        path = self.write(relative, text)
        return path, analyze(path)


def covered(text: str, range_) -> str:
    """The source text a range covers."""
    lines = text.split("\n")
    if range_.start.line == range_.end.line:
        return lines[range_.start.line][range_.start.character : range_.end.character]
    parts = [lines[range_.start.line][range_.start.character :]]
    parts += lines[range_.start.line + 1 : range_.end.line]
    parts.append(lines[range_.end.line][: range_.end.character] if range_.end.line < len(lines) else "")
    return "\n".join(parts)


def apply_fix(text: str, fix) -> str:
    """Apply a fix's edits (to one file) and return the new text."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(position):
        return offsets[position.line] + position.character

    result = text
    for edit in sorted(fix.edits, key=lambda e: offset(e.range.start), reverse=True):
        result = result[: offset(edit.range.start)] + edit.new_text + result[offset(edit.range.end) :]
    return result
