"""What every position-based feature needs first: the document's model, its lines and the
cursor in code points; and the way back, from our ranges to LSP locations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types

from promptwise.documents.source import Position, Range
from promptwise.lsp import uris
from promptwise.lsp.positions import from_client_position, split_lines, to_client_range
from promptwise.lsp.server import PromptwiseServer


@dataclass
class DocumentContext:
    uri: str
    path: Path
    model: Any
    lines: list[str]
    position: Position  # code points

    @property
    def kind(self) -> str:
        return model_kind(self.model)


def model_kind(model: Any) -> str:
    """'flow_dag', 'flex_flow', 'prompty', 'jinja', 'python', 'unreadable' or '' (from the
    model itself, so a flow with any file name is recognised as the analysis does)."""
    if model is None:
        return ""
    kind = getattr(model, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    name = type(model).__name__
    return {
        "FlowDag": "flow_dag",
        "FlexFlow": "flex_flow",
        "Prompty": "prompty",
        "JinjaTemplate": "jinja",
        "PythonToolFile": "python",
    }.get(name, "")


async def document_context(
    ls: PromptwiseServer, uri: str, position: types.Position | None = None, latest: bool = False
) -> DocumentContext | None:
    """`latest=True` (hover, completion): answer from the last parsed version of the document
    rather than wait for the running analysis; the lines are the editor's current text, so
    what was just typed at the cursor counts; the request's own CPU work does not queue
    behind analyses either (`answer_promptly`)."""
    if latest:
        ls.answer_promptly()
    model = await ls.document_model(uri, latest=latest)
    if model is None:
        return None
    path = uris.uri_to_path(uri)
    text = getattr(model, "text", None)
    current = ls.open_document(uri) if latest else None
    if current is not None:
        text = current.source
    lines = split_lines(text) if isinstance(text, str) else ls.lines_of(path)
    point = from_client_position(lines, position, ls.encoding) if position is not None else Position(0, 0)
    return DocumentContext(uri, path, model, lines, point)


def client_range(ls: PromptwiseServer, path: Path, range_: Range, lines: list[str] | None = None) -> types.Range:
    if lines is None:
        lines = ls.lines_of(path)
    return to_client_range(lines, range_, ls.encoding)


def location(ls: PromptwiseServer, path: Path, range_: Range, lines: list[str] | None = None) -> types.Location:
    return types.Location(uri=uris.path_to_uri(path), range=client_range(ls, path, range_, lines))


async def model_of_path(ls: PromptwiseServer, path: Path) -> Any:
    """The model of another file (a node's template or tool), open in the editor or not."""
    return await ls.document_model(uris.path_to_uri(path))
