"""Folding ranges: YAML blocks (a flow's `nodes`, each node, its `inputs`, `node_variants`
... any mapping or list over several lines), a prompty's front matter and its role sections,
and Jinja blocks (`{% for %}`...`{% endfor %}`, `if`, `macro`, ..., and `{# #}` comments)."""

from __future__ import annotations

from bisect import bisect_right

from lsprotocol import types

from promptwise.documents.yaml_nodes import YamlMapping, YamlSequence
from promptwise.lsp.context import document_context
from promptwise.lsp.server import PromptwiseServer

# Jinja tags that open a block closed by `end<name>`
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "block", "raw", "with", "autoescape", "trans"})
MAX_RANGES = 5000  # enough for any file a person folds; bounds the answer for huge ones


def _yaml_ranges(root, lines: list[str]) -> list[tuple[int, int, str | None]]:
    """(start, end) of every mapping entry or list item spanning lines, from a YAML tree."""
    found: list[tuple[int, int, str | None]] = []
    last_line = max(len(lines) - 1, 0)
    stack = [root] if root is not None else []
    seen: set[int] = set()
    while stack and len(found) < MAX_RANGES:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes
            continue
        seen.add(id(node))
        if isinstance(node, YamlMapping):
            for entry in node.entries:
                value = entry.value
                if value is None:
                    continue
                start, end = entry.key.range.start.line, _end_line(value.range, lines)
                if end > start:
                    found.append((start, min(end, last_line), None))
                stack.append(value)
        elif isinstance(node, YamlSequence):
            for item in node.items:
                start, end = item.range.start.line, _end_line(item.range, lines)
                if end > start and isinstance(item, (YamlMapping, YamlSequence)):
                    found.append((start, min(end, last_line), None))
                stack.append(item)
    return found


def _end_line(range_, lines: list[str]) -> int:
    """The last line with text of a block: YAML's block ranges end where the next token
    starts (the next key's line), after any blank or comment lines."""
    start, end = range_.start.line, range_.end
    line = end.line
    if line < len(lines) and lines[line][: end.character].strip():
        return line
    line -= 1
    while line > start and line < len(lines) and (not lines[line].strip() or lines[line].lstrip().startswith("#")):
        line -= 1
    return max(line, start)


def _tags(text: str):
    """(kind, name, rest, start, end) of each `{% name rest %}` ("block") and `{# #}`
    ("comment"), in order. A scan with `str.find` that never revisits text: linear even in
    a template full of unclosed tags (a regex took 70 s on 20,000 of them)."""
    position = 0
    next_block, next_comment = text.find("{%"), text.find("{#")
    while True:
        if 0 <= next_block < position:
            next_block = text.find("{%", position)
        if 0 <= next_comment < position:
            next_comment = text.find("{#", position)
        starts = [i for i in (next_block, next_comment) if i >= 0]
        if not starts:
            return
        start = min(starts)
        kind, closer = ("block", "%}") if start == next_block else ("comment", "#}")
        end = text.find(closer, start + 2)
        if end < 0:
            return  # nothing closes it, so nothing after it is closed either
        inner = text[start + 2 : end].strip("-+ \t\r\n")
        length = 0
        while length < len(inner) and (inner[length].isalnum() or inner[length] == "_"):
            length += 1
        yield kind, inner[:length], inner[length:], start, end + 2
        position = end + 2


def jinja_ranges(text: str, first_line: int = 0) -> list[tuple[int, int, str | None]]:
    """Blocks and multi-line comments of a Jinja text (lines offset by `first_line`)."""
    found: list[tuple[int, int, str | None]] = []
    open_blocks: list[tuple[str, int]] = []
    line_starts = [0]
    index = text.find("\n")
    while index >= 0:
        line_starts.append(index + 1)
        index = text.find("\n", index + 1)

    def line_of(offset: int) -> int:
        return bisect_right(line_starts, offset) - 1 + first_line

    for kind, name, rest, start_offset, end_offset in _tags(text):
        if len(found) >= MAX_RANGES:
            break
        start = line_of(start_offset)
        if kind == "comment":
            end = line_of(end_offset - 1)
            if end > start:
                found.append((start, end, types.FoldingRangeKind.Comment))
            continue
        if name in _BLOCK_TAGS or (name == "set" and "=" not in rest):
            open_blocks.append((name, start))
        elif name.startswith("end"):
            opened = name[3:]
            while open_blocks:
                block, block_start = open_blocks.pop()
                if block == opened:
                    end = line_of(start_offset)
                    # fold the body, keeping the closing tag's line visible
                    if end - 1 > block_start:
                        found.append((block_start, end - 1, None))
                    break
    return found


def _role_ranges(prompty) -> list[tuple[int, int, str | None]]:
    return [
        (section.line, section.content_end_line, None)
        for section in getattr(prompty, "role_sections", ()) or ()
        if section.content_end_line > section.line
    ]


def folding_ranges_of(model, kind: str, lines: list[str]) -> list[tuple[int, int, str | None]]:
    last = max(len(lines) - 1, 0)
    yaml_document = getattr(model, "yaml", None)
    root = getattr(yaml_document, "root", None)
    found: list[tuple[int, int, str | None]] = []
    if kind in ("flow_dag", "flex_flow"):
        found = _yaml_ranges(root, lines)
    elif kind == "prompty":
        front = getattr(model, "front_matter_range", None)
        body_line = getattr(model, "body_line", 0)
        if front is not None:
            # from the opening `---` to the closing one (the line before the body)
            closing = body_line - 1 if body_line > front.start.line else front.end.line
            found.append((max(front.start.line - 1, 0), min(closing, last), types.FoldingRangeKind.Region))
        found += _yaml_ranges(root, lines)
        found += _role_ranges(model)
        found += jinja_ranges(getattr(model, "body", "") or "", body_line)
    elif kind == "jinja":
        found = jinja_ranges(getattr(model, "text", "") or "")
    unique = sorted(set(found), key=lambda r: (r[0], -r[1]))
    return unique[:MAX_RANGES]


async def folding_ranges(ls: PromptwiseServer, params: types.FoldingRangeParams) -> list[types.FoldingRange] | None:
    context = await document_context(ls, params.text_document.uri)
    if context is None or context.kind not in ("flow_dag", "flex_flow", "prompty", "jinja"):
        return None
    found = await ls.run_cpu(folding_ranges_of, context.model, context.kind, context.lines)
    return [types.FoldingRange(start_line=start, end_line=end, kind=kind) for start, end, kind in found] or None
