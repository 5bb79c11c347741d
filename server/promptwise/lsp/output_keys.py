"""The keys of the dict a python tool returns, read statically (for `${node.output.` completion).

Known when the function returns dict literals (`return {"label": ..., "score": ...}`),
`dict(label=...)`, or is annotated with a TypedDict defined in the same file. Read with
`ast`; user code is never imported. Returns [] when the keys cannot be known.
"""

from __future__ import annotations

import ast

from promptwise.analysis.output_keys import own_returns


def returned_keys(source: str, function_name: str, class_name: str | None = None) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    scope: list[ast.stmt] = tree.body
    if class_name:
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
        if cls is None:
            return []
        scope = cls.body
    function = next(
        (n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function_name),
        None,
    )
    if function is None:
        return []
    keys: list[str] = []
    for key in _typed_dict_keys(tree, function.returns):
        if key not in keys:
            keys.append(key)
    for node in sorted(own_returns(function), key=lambda n: (n.lineno, n.col_offset)):
        for key in _dict_keys(node.value):
            if key not in keys:
                keys.append(key)
    return keys


def _dict_keys(value: ast.AST | None) -> list[str]:
    if isinstance(value, ast.Dict):
        return [k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        return [k.arg for k in value.keywords if k.arg]
    return []


def _typed_dict_keys(tree: ast.Module, annotation: ast.AST | None) -> list[str]:
    if not isinstance(annotation, ast.Name):
        return []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == annotation.id:
            if any(_base_name(base) == "TypedDict" for base in node.bases):
                return [
                    item.target.id
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                ]
    return []


def _base_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None
