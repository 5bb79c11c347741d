"""The `flow.flex.yaml` document: a flow whose logic is Python code named by `entry`.

`entry` is `module:function` or `module:Class` (a class whose `__call__` runs per row and
whose `__init__` takes the `init` values). The module is a dotted path relative to the
flow's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.documents.common import (
    YamlBackedDocument,
    plain,
    read_named_sections,
    string,
    string_list,
    top_level_mapping,
)
from promptwise.documents.flow_dag import FlowInput, FlowOutput, _flow_input, _flow_output
from promptwise.documents.references import Substitution, collect_substitutions
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlScalar, parse_yaml

ENTRY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass
class FlexFlow(YamlBackedDocument):
    kind = "flex_flow"
    entry: str | None = None
    entry_range: Range | None = None  # the whole value
    module: str | None = None  # "pkg.module" part of the entry
    module_range: Range | None = None
    attribute: str | None = None  # function or class name
    attribute_range: Range | None = None
    inputs: dict[str, FlowInput] = field(default_factory=dict)
    outputs: dict[str, FlowOutput] = field(default_factory=dict)
    init: dict[str, FlowInput] = field(default_factory=dict)
    sample: Any = None
    environment: dict | None = None
    environment_variables: dict[str, Any] = field(default_factory=dict)
    additional_includes: list[tuple[str, Range]] = field(default_factory=list)
    substitutions: list[Substitution] = field(default_factory=list)  # `${file:...}` / `${env:...}`

    @property
    def entry_is_valid(self) -> bool:
        return bool(self.entry and ENTRY_PATTERN.match(self.entry))

    def module_candidates(self) -> list[Path]:
        """Files the entry's module may live in, relative to the flow's folder."""
        if not self.module:
            return []
        relative = Path(*self.module.split("."))
        return [self.folder / relative.with_suffix(".py"), self.folder / relative / "__init__.py"]

    def module_file(self) -> Path | None:
        return next((p for p in self.module_candidates() if p.is_file()), None)


def parse_flex_flow(text: str, path: Path | str = "flow.flex.yaml") -> FlexFlow:
    """Parse flow.flex.yaml text. Never raises; parse problems are in `.problems`."""
    document = FlexFlow(Path(path), text, parse_yaml(text))
    root = top_level_mapping(
        document,
        "a flow.flex.yaml must be a mapping with an `entry`; rewrite the top level as `key: value` lines",
        "the flow is empty; add `entry: module:function`",
    )
    if root is None:
        return document
    entry_node = root.get("entry")
    document.entry = string(root, "entry")
    if entry_node is not None:
        document.entry_range = entry_node.range
    if document.entry and ":" in document.entry and isinstance(entry_node, YamlScalar):
        module, _, attribute = document.entry.partition(":")
        document.module, document.attribute = module.strip(), attribute.strip()
        start = entry_node.range.start
        single_line = entry_node.range.start.line == entry_node.range.end.line
        offset = 1 if entry_node.style in ("'", '"') else 0
        if single_line and entry_node.style not in ("|", ">"):
            base = start.character + offset
            document.module_range = Range.of(start.line, base, start.line, base + len(module))
            attr_start = base + len(module) + 1
            document.attribute_range = Range.of(
                start.line, attr_start, start.line, attr_start + len(attribute)
            )
        else:
            document.module_range = document.attribute_range = entry_node.range
    read_named_sections(
        root,
        (
            ("inputs", document.inputs, _flow_input),
            ("outputs", document.outputs, _flow_output),
            ("init", document.init, _flow_input),
        ),
    )
    document.sample = plain(root, "sample")
    collect_substitutions(root, document.substitutions)
    environment = plain(root, "environment")
    document.environment = environment if isinstance(environment, dict) else None
    variables = plain(root, "environment_variables")
    document.environment_variables = variables if isinstance(variables, dict) else {}
    document.additional_includes = string_list(root.get("additional_includes"))
    return document
