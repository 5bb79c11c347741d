"""Declared input values against their declared types: a flow input's `default` that is
not of its `type` (PW104), or not one of its `enum` (PW106).

Only clear contradictions are reported: a number where a string is declared is fine
(YAML reads `default: 2024` as a number, and Prompt flow passes it on), text where a
number, a boolean, a list or an object is declared is not.
"""

from __future__ import annotations

from pathlib import Path

from promptwise.analysis.edits import replace_fix
from promptwise.analysis.problem import Problem, Severity
from promptwise.analysis.schema import suggest
from promptwise.documents.flow_dag import FlowInput
from promptwise.documents.yaml_nodes import YamlScalar, describe

_ACCEPTS = {
    "string": lambda v: not isinstance(v, (dict, list)),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, (dict, list)),
    "dict": lambda v: isinstance(v, dict),
}
_WORDS = {
    "string": "text",
    "int": "an integer",
    "double": "a number",
    "bool": "true or false",
    "list": "a list",
    "object": "a mapping or list",
    "dict": "a mapping",
}


def check_input_values(inputs: dict[str, FlowInput], path: Path, what: str = "flow input") -> list[Problem]:
    problems: list[Problem] = []
    for name, flow_input in inputs.items():
        if not flow_input.has_default or flow_input.default is None:
            continue
        node = flow_input.value_node("default")
        range_ = node.range if node is not None else flow_input.key_range
        accepts = _ACCEPTS.get(flow_input.type or "")
        if accepts is not None and not accepts(flow_input.default):
            problems.append(
                Problem(
                    path,
                    range_,
                    Severity.ERROR,
                    "PW104",
                    f"the default of {what} '{name}' is {describe(node)}, but its type is "
                    f"{flow_input.type} ({_WORDS[flow_input.type]}); change the default or the type",
                )
            )
            continue
        if flow_input.enum and isinstance(node, YamlScalar) and flow_input.default not in flow_input.enum:
            options = ", ".join(str(option) for option in flow_input.enum)
            guess = suggest(str(flow_input.default), [str(option) for option in flow_input.enum])
            problems.append(
                Problem(
                    path,
                    range_,
                    Severity.ERROR,
                    "PW106",
                    f"the default of {what} '{name}' is '{flow_input.default}', which is not in its "
                    f"enum ({options})" + (f"; did you mean '{guess}'?" if guess else "; use one of them"),
                    (replace_fix(path, range_, guess, f"Change to '{guess}'"),) if guess else (),
                )
            )
    return problems
