"""`${...}` references inside YAML values, with exact ranges of each part.

Prompt flow's rule (promptflow.contracts.flow.InputAssignment): a value is a reference only
when the whole string is `${...}`; anything else is a literal, even `"Hi ${inputs.x}"`.
Inside the braces, `inputs.NAME` or legacy `flow.NAME` is a flow input; otherwise
`NODE` (meaning `NODE.output`), `NODE.SECTION`, or `NODE.SECTION.PROPERTY...`.

Prompty front matter uses a different kind: `${env:NAME}` and `${file:relative/path}`
(optionally `${env:NAME:default}`), which are substitutions, not graph references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptwise.documents.source import Position, Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, YamlSequence

FLOW_INPUT_PREFIXES = ("inputs", "flow")
_EMBEDDED = re.compile(r"\$\{[^}]*\}")
_SUBSTITUTION = re.compile(r"\$\{(env|file):([^}:]*)(?::([^}]*))?\}")


class Reference:
    """A parsed `${...}`. For `${inputs.q}`: prefix 'inputs', name 'q'. For
    `${classify.output.label}`: prefix '', name 'classify', section 'output', path ('label',).

    Ranges are computed on first use: a large flow holds thousands of references and most
    ranges are never asked for.
    """

    __slots__ = ("text", "prefix", "name", "section", "path", "_node", "_spans", "_ranges")

    def __init__(self, text: str, node: YamlScalar, prefix: str, name: str, section: str | None,
                 path: tuple[str, ...], spans: tuple):
        self.text = text  # the whole value, e.g. "${classify.output.label}"
        self.prefix = prefix  # "inputs" or "flow" for flow inputs, "" for node references
        self.name = name  # input name or node name ("" when missing, e.g. `${inputs.}`)
        self.section = section  # node references: "output" (None when written `${node}`)
        self.path = path  # keys after the section
        self._node = node
        self._spans = spans  # (start, end) offsets in the text: whole, name, section, path
        self._ranges: list | None = None

    def _range(self, index: int) -> Range | None:
        if self._ranges is None:
            base = _text_start(self._node)
            fallback = self._node.range
            self._ranges = [None if span is None else _sub(base, fallback, *span) for span in self._spans]
        return self._ranges[index]

    @property
    def range(self) -> Range:
        """The whole `${...}`."""
        return self._range(0)

    @property
    def name_range(self) -> Range:
        return self._range(1)

    @property
    def section_range(self) -> Range | None:
        return self._range(2)

    @property
    def path_range(self) -> Range | None:
        """All keys after the section, e.g. `label.score`."""
        return self._range(3)

    @property
    def is_flow_input(self) -> bool:
        return self.prefix in FLOW_INPUT_PREFIXES

    @property
    def is_node(self) -> bool:
        return not self.prefix

    @property
    def node_section(self) -> str:
        """The section a node reference reads; `${node}` means `${node.output}`."""
        return self.section or "output"

    def __repr__(self) -> str:
        return f"Reference({self.text!r})"


@dataclass(frozen=True)
class Substitution:
    """`${env:NAME}` or `${file:path}` (prompty)."""

    kind: str  # "env" or "file"
    name: str
    default: str | None
    range: Range  # the whole `${...}`
    name_range: Range


def _text_start(node: YamlScalar) -> Position | None:
    """Where the scalar's text begins in the source, when it can be mapped one-to-one."""
    start, end = node.range.start, node.range.end
    if start.line != end.line or node.style in ("|", ">"):
        return None  # multi-line scalars fold lines; positions no longer map directly
    offset = 1 if node.style in ("'", '"') else 0
    return Position(start.line, start.character + offset)


def _sub(base: Position | None, fallback: Range, start: int, end: int) -> Range:
    if base is None:
        return fallback
    return Range.of(base.line, base.character + start, base.line, base.character + end)


def is_reference_text(value: object) -> bool:
    return isinstance(value, str) and len(value) > 2 and value.startswith("${") and value.endswith("}")


def parse_reference(node: YamlNode | None) -> Reference | None:
    """The reference a YAML value holds, or None when it is a literal."""
    if type(node) is not YamlScalar or not is_reference_text(node.value):
        return None
    text: str = node.value
    whole = (0, len(text))
    inner = text[2:-1]
    first, dot, rest = inner.partition(".")
    if first in FLOW_INPUT_PREFIXES and dot:
        name_start = 2 + len(first) + 1
        return Reference(text, node, first, rest, None, (), (whole, (name_start, name_start + len(rest)), None, None))
    name_span = (2, 2 + len(first))
    if not dot:
        return Reference(text, node, "", first, None, (), (whole, name_span, None, None))
    section, dot2, prop = rest.partition(".")
    section_start = 2 + len(first) + 1
    section_span = (section_start, section_start + len(section))
    if not dot2:
        return Reference(text, node, "", first, section, (), (whole, name_span, section_span, None))
    path_start = section_start + len(section) + 1
    return Reference(
        text,
        node,
        "",
        first,
        section,
        tuple(prop.split(".")),
        (whole, name_span, section_span, (path_start, path_start + len(prop))),
    )


def embedded_references(node: YamlNode | None) -> list[tuple[str, Range]]:
    """`${...}` written inside a longer literal string (Prompt flow does not substitute
    those). Returns the text and range of each."""
    if not isinstance(node, YamlScalar) or not isinstance(node.value, str):
        return []
    text = node.value
    if is_reference_text(text) or "${" not in text:
        return []
    base = _text_start(node)
    return [(m.group(0), _sub(base, node.range, m.start(), m.end())) for m in _EMBEDDED.finditer(text)]


def parse_substitutions(node: YamlNode | None) -> list[Substitution]:
    """`${env:X}` / `${file:x}` occurrences in a scalar value."""
    if not isinstance(node, YamlScalar) or not isinstance(node.value, str) or "${" not in node.value:
        return []
    base = _text_start(node)
    found = []
    for match in _SUBSTITUTION.finditer(node.value):
        found.append(
            Substitution(
                kind=match.group(1),
                name=match.group(2),
                default=match.group(3),
                range=_sub(base, node.range, match.start(), match.end()),
                name_range=_sub(base, node.range, match.start(2), match.end(2)),
            )
        )
    return found


def collect_substitutions(node: YamlNode | None, found: list[Substitution], depth: int = 0) -> None:
    """Every `${env:X}` / `${file:x}` under a YAML node, in source order."""
    if node is None or depth > 40:
        return
    if isinstance(node, YamlScalar):
        found.extend(parse_substitutions(node))
    elif isinstance(node, YamlMapping):
        for entry in node.entries:
            collect_substitutions(entry.value, found, depth + 1)
    elif isinstance(node, YamlSequence):
        for item in node.items:
            collect_substitutions(item, found, depth + 1)
