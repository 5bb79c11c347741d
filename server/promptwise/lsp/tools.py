"""A flow node's source, read for the features: its tool function or its template.

Definition, hover and completion all need "what does this node's source file declare?";
this module answers it from the documents model (never importing user code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptwise.lsp.context import model_kind, model_of_path
from promptwise.lsp.locate import source_file
from promptwise.lsp.server import PromptwiseServer

TEMPLATE_NODE_TYPES = ("llm", "prompt", "custom_llm")


@dataclass
class NodeSource:
    path: Path
    model: Any  # PythonToolFile, JinjaTemplate, Prompty, UnreadableDocument, ...
    kind: str
    lookup: Any = None  # ToolLookup for python sources

    @property
    def function(self):
        return self.lookup.function if self.lookup is not None else None

    @property
    def parameters(self) -> tuple:
        return self.lookup.parameters if self.lookup is not None else ()

    @property
    def template(self):
        """The JinjaTemplate of a template source (a .prompty's body too)."""
        if self.kind == "jinja":
            return self.model
        if self.kind == "prompty":
            return getattr(self.model, "template", None)
        return None

    @property
    def variable_names(self) -> list[str]:
        template = self.template
        return list(template.variable_names) if template is not None else []


async def node_source(ls: PromptwiseServer, flow, node) -> NodeSource | None:
    """The node's source file and what it declares, or None (package tool, missing file)."""
    if node is None or node.source is None:
        return None
    if node.source.type not in (None, "code"):
        return None  # package tools live in installed packages we do not read
    path = source_file(flow, node)
    if path is None:
        return None
    model = await model_of_path(ls, path)
    if model is None:
        return None
    kind = model_kind(model)
    lookup = None
    if kind == "python":
        from promptwise.documents.python_tool import find_tool_function

        lookup = find_tool_function(model, _tool_name(node))
    return NodeSource(path, model, kind, lookup)


def _tool_name(node) -> str | None:
    """For a code source, `source.tool` (rare) names the function; else the one @tool."""
    tool = node.source.tool if node.source is not None else None
    if tool and ":" in tool:  # module:function spelling
        tool = tool.rsplit(":", 1)[1]
    return tool or None
