"""Applying the editor's incremental edits to our copy of a document, the way LSP counts lines.

pygls's `TextDocument` finds the edited line with `str.splitlines`, which also breaks lines at
form feeds, vertical tabs, U+0085, U+2028 and U+2029; LSP breaks only at \\n, \\r\\n and \\r.
In a document holding any of those characters (a form feed in Python code, a line separator
pasted into a prompt) every later edit lands on the wrong line, and the server's copy drifts
away from the editor's for good. pygls also lets a column past the end of a line fall between
the \\r and \\n of a CRLF. Here the range is resolved on LSP lines with our own position
conversion (`promptwise.lsp.positions`), which clamps past-the-end columns to the line's end
and past-the-end lines to the document's end, as the specification says.
"""

from __future__ import annotations

import re
from typing import Optional

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from promptwise.lsp.positions import UTF16, from_client_position, split_lines

_LINE_START = re.compile(r"\r\n|\r|\n")


def _line_offsets(text: str) -> list[int]:
    """The offset where each LSP line starts."""
    return [0] + [match.end() for match in _LINE_START.finditer(text)]


def apply_range_edit(text: str, range_: types.Range, new_text: str, encoding: str = UTF16) -> str:
    lines = split_lines(text)
    offsets = _line_offsets(text)
    start = from_client_position(lines, range_.start, encoding)
    end = from_client_position(lines, range_.end, encoding)
    start_offset = offsets[start.line] + start.character
    end_offset = max(offsets[end.line] + end.character, start_offset)  # a reversed range edits nothing extra
    return text[:start_offset] + new_text + text[end_offset:]


class EditorTextDocument(TextDocument):
    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        encoding = self.position_codec.encoding or UTF16
        self._source = apply_range_edit(self.source, change.range, change.text, encoding)


class EditorWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: Optional[str] = None,
        version: Optional[int] = None,
        language_id: Optional[str] = None,
    ) -> TextDocument:
        return EditorTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


def install(protocol) -> None:
    """Swap the workspace pygls made at initialize (still empty) for one that makes
    `EditorTextDocument`s."""
    old = protocol._workspace
    protocol._workspace = EditorWorkspace(
        old.root_uri,
        old._sync_kind,
        list(old.folders.values()),
        old.position_encoding,
    )
