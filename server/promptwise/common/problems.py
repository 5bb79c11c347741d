"""Problems are plain data: the CLI prints them, the language server converts them.

They sit at the bottom of the package (documents/ reports read problems with them, and
documents/ must not import analysis/); `promptwise.analysis.problem` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from promptwise.common.source import Range


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"
    HINT = "hint"


@dataclass(frozen=True)
class TextEdit:
    path: Path
    range: Range
    new_text: str


@dataclass(frozen=True)
class Fix:
    """A quick fix: a title for the editor's menu and the edits that apply it."""

    title: str
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True)
class Problem:
    path: Path
    range: Range
    severity: Severity
    code: str  # stable, e.g. "PW101"; the same in `promptwise check` and the editor
    message: str  # what is wrong and what to do
    fixes: tuple[Fix, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "range": self.range.to_json(),
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
        }
