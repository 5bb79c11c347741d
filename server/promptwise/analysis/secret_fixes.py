"""The quick fix for a key written in a python node's inputs: pass it as Prompt flow does.

Prompt flow gives a tool its secrets through a connection: the node input names the
connection, the tool's parameter is typed with the connection's class, and the key lives in
the connection (here: promptwise.yaml, as `${env:NAME}`). `${env:NAME}` written in the node
itself would be read as a reference to a node `env` (PW202). So the fix edits three files:

    flow.dag.yaml     api_key: sk-...               ->  api_key: lookup_connection
    promptwise.yaml   connections:                  +     lookup_connection:
                                                            type: custom
                                                            secrets: {api_key: ${env:OPENAI_API_KEY}}
    lookup.py         def f(q: str, api_key: str):  ->  def f(q: str, api_key: CustomConnection):
                                                            api_key = api_key.secrets["api_key"]

and the tool keeps working with the same string it received before. It is offered only when
every edit is certain: a module-level tool function whose parameter takes the value by name,
without a default, typed `str` or not typed, and a promptwise.yaml whose `connections:` is a
block mapping (or absent).
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptwise.analysis.problem import Fix, Problem, TextEdit
from promptwise.documents.python_tool import Utf8Columns, import_insert_line, parse_quietly
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlScalar

IMPORT = "from promptflow.connections import CustomConnection\n"


def _inside(inner: Range, outer: Range) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _node_input_at(flow: Any, range_: Range):
    for node in flow.all_nodes():
        for node_input in node.inputs.values():
            if node_input.value_node is not None and _inside(range_, node_input.value_range):
                return node, node_input
    return None, None


def _connection_edit(settings: Any, name: str, field: str, env: str) -> TextEdit | None:
    """Insert connection `name` into promptwise.yaml's `connections:` (or add the section)."""
    if settings is None or settings.toml:
        return None
    lines = settings.text.split("\n")
    body = ["type: custom", "secrets:", f"  {field}: ${{env:{env}}}"]
    root = settings.root
    if root is None:
        if settings.text.strip():
            return None  # not a mapping we can extend safely
        return TextEdit(settings.path, Range.empty(0, 0), "connections:\n  " + f"{name}:\n" + "".join(f"    {b}\n" for b in body))
    if not isinstance(root, YamlMapping):
        return None
    entry = root.entry("connections")
    if entry is None:
        last = len(lines) - 1
        prefix = "" if settings.text.endswith("\n") or not settings.text else "\n"
        text = prefix + "connections:\n" + f"  {name}:\n" + "".join(f"    {b}\n" for b in body)
        return TextEdit(settings.path, Range.empty(last, len(lines[last])), text)
    mapping = entry.value
    if not isinstance(mapping, YamlMapping) or mapping.flow_style or not mapping.entries:
        return None
    if entry.key.range.start.character != 0:
        return None
    indent = mapping.entries[0].key.range.start.character
    step = " " * indent
    line = entry.key.range.start.line + 1
    text = f"{step}{name}:\n" + "".join(f"{step}{step}{b}\n" for b in body)
    return TextEdit(settings.path, Range.empty(line, 0), text)


def _tool_edits(path: Path, text: str, function_name: str, parameter: str) -> list[TextEdit] | None:
    """The parameter typed CustomConnection, the key read from it first thing, and the import."""
    try:
        tree = parse_quietly(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    function = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function_name),
        None,
    )
    if function is None:
        return None
    arguments = function.args.posonlyargs + function.args.args + function.args.kwonlyargs
    argument = next((a for a in arguments if a.arg == parameter), None)
    if argument is None or not function.body:
        return None
    cols = Utf8Columns(text)
    edits: list[TextEdit] = []
    if argument.annotation is None:
        name_end = cols.node_range(argument).start
        end = Range.empty(name_end.line, name_end.character + len(parameter))
        edits.append(TextEdit(path, end, ": CustomConnection"))
    elif isinstance(argument.annotation, ast.Name) and argument.annotation.id == "str":
        edits.append(TextEdit(path, cols.node_range(argument.annotation), "CustomConnection"))
    else:
        return None
    first = function.body[0]
    has_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    if first.lineno == function.lineno or (has_docstring and len(function.body) > 1 and function.body[1].lineno == first.end_lineno):
        return None  # a one-line body (`def f(x): return x`): no line of its own to insert before
    indent = cols.node_range(first).start.character
    line = (first.end_lineno if has_docstring else first.lineno - 1)
    edits.append(TextEdit(path, Range.empty(line, 0), f"{' ' * indent}{parameter} = {parameter}.secrets[{parameter!r}]\n"))
    imported = any(
        isinstance(n, ast.ImportFrom) and any(alias.name == "CustomConnection" and not alias.asname for alias in n.names)
        for n in tree.body
    )
    if not imported:
        edits.insert(0, TextEdit(path, Range.empty(import_insert_line(tree), 0), IMPORT))
    return edits


def with_connection_fixes(flow: Any, problems: list[Problem], context: Any = None) -> list[Problem]:
    """`problems` (PW6xx of a flow), a key in a python node's inputs given the connection fix."""
    found = []
    for problem in problems:
        if not problem.fixes and problem.code.startswith("PW6") and Path(problem.path) == Path(flow.path):
            fix = connection_fix(flow, problem, context)
            if fix is not None:
                problem = replace(problem, fixes=(fix,))
        found.append(problem)
    return found


def connection_fix(flow: Any, problem: Problem, context: Any = None) -> Fix | None:
    """The fix for `problem` (a secret in `flow`), or None when it is not a python node's
    input that can move to a connection with certainty."""
    from promptwise.analysis.secrets import classify, env_name, movable
    from promptwise.analysis.settings import settings_for
    from promptwise.analysis.tools import tool_for_node

    node, node_input = _node_input_at(flow, problem.range)
    if node is None or node.type != "python" or node.variant_of is not None or not node.name:
        return None
    if not isinstance(node_input.value_node, YamlScalar) or not isinstance(node_input.value, str):
        return None
    secret = classify(node_input.value, node_input.name)
    if secret is None or not movable(node_input.value, secret):
        return None
    env = env_name(node_input.name, secret)
    lookup = tool_for_node(flow, node, context)
    if lookup is None or lookup.function is None or lookup.init is not None or lookup.module is None:
        return None
    if getattr(lookup.function, "class_name", None):
        return None  # a method: its class's code is not ours to restructure
    parameter = next((p for p in lookup.function.parameters if p.name == node_input.name), None)
    if parameter is None or not parameter.accepts_by_name or parameter.has_default:
        return None
    settings = settings_for(Path(flow.path), context)
    names = set((settings.connection_names() or []) if settings is not None else [])
    name = f"{node.name}_connection"
    number = 2
    while name in names:
        name, number = f"{node.name}_connection{number}", number + 1
    connection = _connection_edit(settings, name, node_input.name, env)
    tool = _tool_edits(lookup.module.path, lookup.module.text, lookup.function.name, node_input.name)
    if connection is None or tool is None:
        return None
    flow_edit = TextEdit(Path(flow.path), node_input.value_range, name)
    return Fix(
        f"Pass it through connection `{name}` (promptwise.yaml, ${{env:{env}}})",
        (flow_edit, connection, *tool),
    )
