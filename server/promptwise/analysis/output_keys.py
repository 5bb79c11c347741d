"""The keys a python node's output is known to have, read statically from its tool.

Known only when certain: every `return` of the tool function returns a dict literal with
constant string keys (and no `**spread`), or the function is annotated to return a
TypedDict defined in the same file. Otherwise None: we then say nothing about
`${node.output.key}`, rather than guess.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from promptwise.documents.python_tool import PythonToolFile, ToolFunction

SCALAR_RETURNS = frozenset({"str", "int", "float", "bool", "bytes"})


def own_returns(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Return]:
    """Return statements of the function itself, not of functions or classes inside it
    (in no particular order)."""
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _dict_keys(node: ast.expr | None) -> list[str] | None:
    if not isinstance(node, ast.Dict):
        return None
    keys = []
    for key in node.keys:
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None  # `**other` (key None) or a computed key
        keys.append(key.value)
    return keys


def _typed_dict_fields(tree: ast.Module, name: str) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if "TypedDict" not in bases:
                return None
            return [
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            ]
    return None


@lru_cache(maxsize=256)
def _keys_from_source(text: str, function_name: str, line: int, returns: str | None) -> tuple[str, ...] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    target = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function_name:
            first_line = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            if first_line == line or target is None:
                target = node
    if target is None:
        return None
    if returns:
        fields = _typed_dict_fields(tree, returns.strip("'\""))
        if fields is not None:
            return tuple(fields)
    statements = own_returns(target)
    if not statements:
        return None
    keys: list[str] = []
    for statement in statements:
        found = _dict_keys(statement.value)
        if found is None:
            return None
        keys += [key for key in found if key not in keys]
    return tuple(keys)


def known_output_keys(module: PythonToolFile, function: ToolFunction) -> tuple[str, ...] | None:
    """The keys of the dict the tool returns, when the source makes them certain."""
    if module.syntax_error is not None or function.class_name is not None:
        return None
    return _keys_from_source(module.text, function.name, function.range.start.line, function.returns)


def _is_mapping(node: ast.expr | None) -> bool:
    return isinstance(node, (ast.Dict, ast.DictComp)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
    )


@lru_cache(maxsize=256)
def _returns_mapping(text: str, function_name: str, line: int) -> bool:
    """Some `return` of the function gives a dict: a literal, `dict(...)`, a comprehension, or
    a name the function assigns one of those to."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function_name):
            continue
        mapping_names = {
            target.id
            for statement in ast.walk(node) if isinstance(statement, ast.Assign) and _is_mapping(statement.value)
            for target in statement.targets if isinstance(target, ast.Name)
        }
        for statement in own_returns(node):
            value = statement.value
            if _is_mapping(value) or (isinstance(value, ast.Name) and value.id in mapping_names):
                return True
    return False


def scalar_return(module: PythonToolFile, function: ToolFunction) -> str | None:
    """`str`, `int` ... when the tool is annotated to return a plain scalar and its code does not
    visibly return a dict (Python does not enforce the annotation; the code wins)."""
    if function.returns not in SCALAR_RETURNS:
        return None
    if module.syntax_error is None and _returns_mapping(module.text, function.name, function.range.start.line):
        return None
    return function.returns
