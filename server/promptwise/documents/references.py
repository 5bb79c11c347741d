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
from promptwise.documents.yaml_nodes import YamlNode, YamlScalar

FLOW_INPUT_PREFIXES = ("inputs", "flow")
_EMBEDDED = re.compile(r"\$\{[^}]*\}")
_SUBSTITUTION = re.compile(r"\$\{(env|file):([^}:]*)(?::([^}]*))?\}")


@dataclass(frozen=True)
class Reference:
    """A parsed `${...}`. For `${inputs.q}`: prefix 'inputs', name 'q'. For
    `${classify.output.label}`: prefix '', name 'classify', section 'output', path ('label',)."""

    text: str  # the whole value, e.g. "${classify.output.label}"
    range: Range  # the whole `${...}`
    prefix: str  # "inputs" or "flow" for flow inputs, "" for node references
    name: str  # input name or node name ("" when missing, e.g. `${inputs.}`)
    name_range: Range
    section: str | None = None  # node references: "output" (None when written `${node}`)
    section_range: Range | None = None
    path: tuple[str, ...] = ()  # keys after the section
    path_range: Range | None = None  # all of them, e.g. `label.score`

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
    if not isinstance(node, YamlScalar) or not is_reference_text(node.value):
        return None
    text: str = node.value
    base = _text_start(node)
    whole = node.range if base is None else _sub(base, node.range, 0, len(text))
    inner = text[2:-1]
    first, dot, rest = inner.partition(".")
    if first in FLOW_INPUT_PREFIXES and dot:
        name_start = 2 + len(first) + 1
        return Reference(
            text, whole, first, rest, _sub(base, whole, name_start, name_start + len(rest))
        )
    name_range = _sub(base, whole, 2, 2 + len(first))
    if not dot:
        return Reference(text, whole, "", first, name_range)
    section, dot2, prop = rest.partition(".")
    section_start = 2 + len(first) + 1
    section_range = _sub(base, whole, section_start, section_start + len(section))
    if not dot2:
        return Reference(text, whole, "", first, name_range, section, section_range)
    path_start = section_start + len(section) + 1
    return Reference(
        text,
        whole,
        "",
        first,
        name_range,
        section,
        section_range,
        tuple(prop.split(".")),
        _sub(base, whole, path_start, path_start + len(prop)),
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
