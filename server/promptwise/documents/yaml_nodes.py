"""YAML parsed into a light tree of nodes that remember their exact source ranges.

Why not `yaml.safe_load`: it throws positions away, and diagnostics must point at the exact
key or value. Why not `yaml.compose`: its composer is recursive (a deeply nested file crashes
the C composer or raises RecursionError in the Python one) and it stops at the first duplicate
key policy we cannot see. So we read PyYAML's event stream (libyaml's parser is an iterative
state machine) and build the tree ourselves with an explicit stack and a depth limit.

Parsing never raises: syntax errors become `YamlError`s with a position, and whatever was
built before the error is kept (the editor still gets completion on a half-typed file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from promptwise.documents.source import Position, Range

try:  # libyaml makes parsing several times faster; fall back to pure Python if absent
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

MAX_DEPTH = 64  # far deeper than any flow; guards every recursive walk over the tree
MAX_NODES = 2_000_000  # guards alias expansion ("billion laughs") in to_python
# Aliases share nodes, so the tree is a graph that every walker (checks, references, secret
# scan, to_python) expands. A file may expand by at most this many nodes through its aliases,
# and aliases may not nest the tree deeper than MAX_DEPTH; anchors in real flows add dozens.
MAX_ALIAS_EXPANSION = 100_000

STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"

_resolver = Resolver()
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag (resolution is pure)
ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
MappingStartEvent, MappingEndEvent = yaml.MappingStartEvent, yaml.MappingEndEvent
SequenceStartEvent, SequenceEndEvent = yaml.SequenceStartEvent, yaml.SequenceEndEvent
DocumentStartEvent = yaml.DocumentStartEvent
_constructor = yaml.constructor.SafeConstructor()


class YamlNode:
    """Base of the tree. Ranges are built lazily from the marks: most are never asked for,
    and building frozen Range objects for every node was half the parse time."""

    __slots__ = ("_marks", "_range", "tag")
    kind = "node"

    def __init__(self, marks: tuple[int, int, int, int], tag: str):
        self._marks = marks
        self._range: Range | None = None
        self.tag = tag

    @property
    def range(self) -> Range:
        if self._range is None:
            sl, sc, el, ec = self._marks
            self._range = Range(Position(sl, sc), Position(el, ec))
        return self._range

    @range.setter
    def range(self, value: Range) -> None:
        self._range = value
        self._marks = (value.start.line, value.start.character, value.end.line, value.end.character)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._marks})"


class YamlScalar(YamlNode):
    __slots__ = ("text", "value", "style")
    kind = "scalar"

    def __init__(self, marks, tag: str, text: str, value: Any, style: str | None = None):
        # attributes set directly rather than through super().__init__: this runs for
        # every scalar of every parse
        self._marks = marks
        self._range = None
        self.tag = tag
        self.text = text  # the scalar's string value, before type resolution
        self.value = value  # resolved: str, int, float, bool, None, datetime ...
        self.style = style  # None plain, "'" or '"' quoted, "|" literal, ">" folded

    @property
    def is_null(self) -> bool:
        return self.value is None

    @property
    def is_empty(self) -> bool:
        """`key:` with nothing after it (as opposed to an explicit `null` or `~`)."""
        return self.value is None and self.text == "" and self.style is None

    def __repr__(self) -> str:
        return f"YamlScalar({self.text!r}, {self._marks})"


class YamlEntry:
    __slots__ = ("key", "value")

    def __init__(self, key: YamlNode, value: YamlNode):
        self.key = key
        self.value = value

    @property
    def key_text(self) -> str | None:
        """The key as a string when it is a scalar (every key we care about is)."""
        return self.key.text if isinstance(self.key, YamlScalar) else None

    def __repr__(self) -> str:
        return f"YamlEntry({self.key!r}: {self.value!r})"


class YamlMapping(YamlNode):
    __slots__ = ("entries", "flow_style", "_by_key")
    kind = "mapping"

    def __init__(self, marks, tag: str, flow_style: bool = False):
        super().__init__(marks, tag)
        self.entries: list[YamlEntry] = []
        self.flow_style = flow_style
        # last entry per key: YAML loaders keep the last duplicate, and so do we
        self._by_key: dict[str, YamlEntry] = {}

    def add(self, key: YamlNode, value: YamlNode) -> None:
        """Append an entry (for trees built from other formats, e.g. TOML settings)."""
        entry = YamlEntry(key, value)
        self.entries.append(entry)
        if isinstance(key, YamlScalar):
            self._by_key[key.text] = entry

    def get(self, key: str) -> YamlNode | None:
        entry = self._by_key.get(key)
        return entry.value if entry is not None else None

    def entry(self, key: str) -> YamlEntry | None:
        return self._by_key.get(key)

    def keys(self) -> list[str]:
        return list(self._by_key)

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[YamlEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class YamlSequence(YamlNode):
    __slots__ = ("items", "flow_style")
    kind = "sequence"

    def __init__(self, marks, tag: str, flow_style: bool = False):
        super().__init__(marks, tag)
        self.items: list[YamlNode] = []
        self.flow_style = flow_style

    def __iter__(self) -> Iterator[YamlNode]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class YamlError:
    message: str
    range: Range


@dataclass(frozen=True)
class DuplicateKey:
    key: str
    range: Range  # the later (winning) occurrence
    first: Range  # the earlier occurrence it overrides


@dataclass
class YamlDocument:
    root: YamlNode | None
    errors: list[YamlError] = field(default_factory=list)
    duplicates: list[DuplicateKey] = field(default_factory=list)


def _range(start_mark, end_mark) -> Range:
    return Range(
        Position(start_mark.line, start_mark.column), Position(end_mark.line, end_mark.column)
    )


def _scalar_value(tag: str, text: str) -> Any:
    if tag == STR_TAG:
        return text
    if tag == NULL_TAG:
        return None
    builder = _constructor.yaml_constructors.get(tag)
    if builder is None:  # a custom tag such as `!include`: keep the text
        return text
    try:
        return builder(_constructor, ScalarNode(tag, text))
    except Exception:  # e.g. an invalid timestamp; the text is still useful
        return text


def _error_range(error: Exception, source: str, line_offset: int) -> Range:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return Range.empty(mark.line, mark.column)
    position = getattr(error, "position", None)  # ReaderError: a character index
    if isinstance(position, int) and 0 <= position <= len(source):
        line = source.count("\n", 0, position)
        column = position - (source.rfind("\n", 0, position) + 1)
        return Range(Position(line, column), Position(line, column + 1))
    return Range.empty(line_offset, 0)


def _error_message(error: Exception) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [p for p in (error.context, error.problem) if p]
        text = "; ".join(parts) if parts else "invalid YAML"
    else:
        text = str(error).splitlines()[0] if str(error) else "invalid YAML"
    return f"YAML syntax error: {text}"


class _Builder:
    """Consumes parser events and builds the node tree with an explicit stack."""

    def __init__(self, max_depth: int):
        self.max_depth = max_depth
        self.stack: list[list] = []  # frames: [open collection, pending mapping key or None]
        self.anchors: dict[str, YamlNode] = {}
        self.roots: list[YamlNode] = []
        self.errors: list[YamlError] = []
        self.duplicates: list[DuplicateKey] = []
        self.last = None  # end mark of the last event read
        self.measured: dict[int, tuple[int, int]] = {}  # id(collection) -> expanded (size, depth)
        self.expanded = 0  # nodes added by aliases so far

    def _add(self, node: YamlNode) -> None:
        """Attach a node to the open collection (used off the hot path)."""
        if not self.stack:
            self.roots.append(node)
            return
        frame = self.stack[-1]
        parent = frame[0]
        if type(parent) is YamlSequence:
            parent.items.append(node)
        elif frame[1] is None:
            frame[1] = node
        else:
            self._attach_entry(parent, frame[1], node)
            frame[1] = None

    def _attach_entry(self, parent: "YamlMapping", key: YamlNode, value: YamlNode) -> None:
        entry = YamlEntry(key, value)
        parent.entries.append(entry)
        if type(key) is YamlScalar:
            earlier = parent._by_key.get(key.text)
            if earlier is not None:
                self.duplicates.append(DuplicateKey(key.text, key.range, earlier.key.range))
            parent._by_key[key.text] = entry

    def run(self, events) -> None:
        """Consume the event stream. One loop with local names: this is the hot path of
        every analysis, so it avoids a method call per event for the common cases."""
        stack = self.stack  # frames: [collection, pending key of a mapping or None]
        anchors = self.anchors
        resolve = _resolver.resolve
        resolved_cache = _PLAIN_TAGS
        for event in events:
            kind = type(event)
            if kind is ScalarEvent:
                start, end = event.start_mark, event.end_mark
                tag = event.tag
                text = event.value
                if tag is None or tag == "!":
                    if not event.implicit[0]:
                        tag = STR_TAG
                    else:
                        tag = resolved_cache.get(text)
                        if tag is None:
                            tag = resolve(ScalarNode, text, event.implicit)
                            if len(resolved_cache) < 4096:
                                resolved_cache[text] = tag
                node = YamlScalar(
                    (start.line, start.column, end.line, end.column),
                    tag,
                    text,
                    text if tag == STR_TAG else _scalar_value(tag, text),
                    event.style or None,  # libyaml says '' for plain, pure Python says None
                )
                if event.anchor:
                    anchors[event.anchor] = node
                if stack:
                    frame = stack[-1]
                    parent = frame[0]
                    if type(parent) is YamlSequence:
                        parent.items.append(node)
                    elif frame[1] is None:
                        frame[1] = node
                    else:
                        key = frame[1]
                        frame[1] = None
                        entry = YamlEntry(key, node)
                        parent.entries.append(entry)
                        if type(key) is YamlScalar:
                            by_key = parent._by_key
                            if key.text in by_key:
                                self.duplicates.append(
                                    DuplicateKey(key.text, key.range, by_key[key.text].key.range)
                                )
                            by_key[key.text] = entry
                else:
                    self.roots.append(node)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                start = event.start_mark
                if len(stack) >= self.max_depth:
                    self.errors.append(
                        YamlError(
                            f"YAML nested deeper than {self.max_depth} levels; flatten the structure",
                            _range(start, event.end_mark),
                        )
                    )
                    return
                marks = (start.line, start.column, start.line, start.column)
                if kind is MappingStartEvent:
                    node = YamlMapping(marks, event.tag or MAP_TAG, bool(event.flow_style))
                else:
                    node = YamlSequence(marks, event.tag or SEQ_TAG, bool(event.flow_style))
                if event.anchor:
                    anchors[event.anchor] = node
                self._add(node)
                stack.append([node, None])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                end = event.end_mark
                node = stack.pop()[0]
                node._marks = node._marks[:2] + (end.line, end.column)
            elif kind is AliasEvent:
                target = anchors.get(event.anchor)
                if target is None:  # the parser reports this itself, but be safe
                    start, end = event.start_mark, event.end_mark
                    target = YamlScalar((start.line, start.column, end.line, end.column), NULL_TAG, "", None)
                elif type(target) is not YamlScalar:
                    refusal = self._refuse_alias(event, target)
                    if refusal is not None:
                        self.errors.append(refusal)
                        return
                self._add(target)
            elif kind is DocumentStartEvent and self.roots:
                self.errors.append(
                    YamlError(
                        "this file holds more than one YAML document; keep only the first "
                        "(remove the `---` line and what follows)",
                        _range(event.start_mark, event.end_mark),
                    )
                )
                return
            self.last = event.end_mark

    def _refuse_alias(self, event, target: YamlNode) -> YamlError | None:
        """Why an alias to a collection may not be used, or None: a collection that contains
        itself (an endless value), or aliases that expand the file past MAX_ALIAS_EXPANSION
        nodes or nest it deeper than MAX_DEPTH (a "billion laughs" bomb)."""
        where = _range(event.start_mark, event.end_mark)
        if any(frame[0] is target for frame in self.stack):
            return YamlError(
                f"YAML alias *{event.anchor} refers to a collection that contains it, an endless "
                "value; copy the values instead of the alias",
                where,
            )
        size, depth = _measure(target, self.measured)
        self.expanded += size
        if self.expanded > MAX_ALIAS_EXPANSION:
            return YamlError(
                f"YAML aliases expand this file to more than {MAX_ALIAS_EXPANSION:,} values "
                f"(at *{event.anchor}); use fewer nested aliases",
                where,
            )
        if len(self.stack) + depth > self.max_depth:
            return YamlError(
                f"YAML alias *{event.anchor} nests the file deeper than {self.max_depth} levels; "
                "use fewer nested aliases",
                where,
            )
        return None

    def close_unfinished(self, end: Position) -> None:
        """After an error, give still-open collections an end so ranges stay sane."""
        while self.stack:
            frame = self.stack[-1]
            if frame[1] is not None:  # a key with no value yet
                marks = (end.line, end.character, end.line, end.character)
                self._add(YamlScalar(marks, NULL_TAG, "", None))
            node = self.stack.pop()[0]
            node.range = Range(node.range.start, max(node.range.start, end))


def _measure(root: YamlNode, measured: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(nodes, depth) of a complete node expanded through its aliases, without expanding it:
    an iterative post-order walk, memoised per collection, so a bomb costs its own size."""
    pending: list[tuple[YamlNode, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if type(node) is YamlScalar or id(node) in measured:
            continue
        children = _children(node)
        if children_done:
            size, depth = 1, 1
            for child in children:
                child_size, child_depth = (1, 0) if type(child) is YamlScalar else measured[id(child)]
                size += child_size
                depth = max(depth, child_depth + 1)
            measured[id(node)] = (min(size, MAX_NODES), depth)
        else:
            pending.append((node, True))
            pending.extend((child, False) for child in children if type(child) is not YamlScalar)
    return (1, 0) if type(root) is YamlScalar else measured[id(root)]


def _children(node: YamlNode) -> list[YamlNode]:
    if type(node) is YamlSequence:
        return node.items
    if type(node) is YamlMapping:
        return [part for entry in node.entries for part in (entry.key, entry.value)]
    return []


def parse_yaml(text: str, line_offset: int = 0, max_depth: int = MAX_DEPTH) -> YamlDocument:
    """Parse `text`; ranges are shifted down by `line_offset` lines (for front matter)."""
    source = "\n" * line_offset + text if line_offset else text
    builder = _Builder(max_depth)
    try:
        builder.run(yaml.parse(source, Loader=_Loader))
    except yaml.YAMLError as error:
        builder.errors.append(YamlError(_error_message(error), _error_range(error, source, line_offset)))
    except (RecursionError, MemoryError, ValueError) as error:  # defensive: never raise
        builder.errors.append(YamlError(f"YAML could not be read: {error}", Range.empty(line_offset, 0)))
    last = builder.last
    builder.close_unfinished(Position(last.line, last.column) if last is not None else Position(line_offset, 0))
    root = builder.roots[0] if builder.roots else None
    return YamlDocument(root, builder.errors, builder.duplicates)


def to_python(node: YamlNode | None, _budget: list[int] | None = None, _depth: int = 0) -> Any:
    """Plain Python value of a node (dicts, lists, scalars); bounded against alias bombs."""
    if node is None:
        return None
    budget = _budget if _budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0 or _depth > MAX_DEPTH + 1:
        raise ValueError("YAML value too large to expand (aliases or nesting)")
    if isinstance(node, YamlScalar):
        return node.value
    if isinstance(node, YamlSequence):
        return [to_python(item, budget, _depth + 1) for item in node.items]
    if isinstance(node, YamlMapping):
        result: dict = {}
        for entry in node.entries:
            key = to_python(entry.key, budget, _depth + 1)
            try:
                hash(key)
            except TypeError:
                key = str(key)
            result[key] = to_python(entry.value, budget, _depth + 1)
        return result
    return None


def settings_mapping(root: YamlNode | None) -> dict | None:
    """A settings file's plain mapping for the checks that re-run the runtime's validators, or
    None when there is none to check (not a mapping, or an alias bomb the reader already reported)."""
    try:
        settings = to_python(root)
    except ValueError:
        return None
    return settings if isinstance(settings, dict) else None


def describe(node: YamlNode | None) -> str:
    """A short name of a node's type for messages: 'a string', 'a mapping' ..."""
    if node is None:
        return "nothing"
    if isinstance(node, YamlMapping):
        return "a mapping"
    if isinstance(node, YamlSequence):
        return "a list"
    if isinstance(node, YamlScalar):
        value = node.value
        if value is None:
            return "an empty value"
        if isinstance(value, bool):
            return "a boolean"
        if isinstance(value, int):
            return "an integer"
        if isinstance(value, float):
            return "a number"
        if isinstance(value, str):
            return "a string"
        return f"a {type(value).__name__}"
    return "a value"
