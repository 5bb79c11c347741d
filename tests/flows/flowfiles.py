"""Reading the example flows for the tests, independently of the product's own parser.

The tests check structural facts (files exist, references resolve, signatures match) with plain
PyYAML, ast and Jinja2, so a bug in the document model cannot hide a broken example.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jinja2
import jinja2.meta
import yaml

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
CORPUS = REPO / "tests" / "corpus"

REFERENCE = re.compile(r"\$\{([^}]*)\}")
# Inputs of the built-in LLM tools that are request parameters, not template variables.
LLM_PARAMETERS = frozenset(
    "model deployment_name temperature max_tokens top_p stop response_format presence_penalty frequency_penalty"
    " logit_bias seed n user tools tool_choice suffix echo best_of logprobs connection".split()
)


def dag_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("flow.dag.yaml"))


def flex_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("flow.flex.yaml"))


def prompty_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.prompty"))


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def all_nodes(flow: dict) -> list[dict]:
    """Nodes, with each variant of a `use_variants` node as a node of its own (name kept)."""
    nodes = []
    for node in flow.get("nodes") or []:
        if node.get("use_variants"):
            variants = (flow.get("node_variants") or {})[node["name"]]["variants"]
            nodes.extend({"name": node["name"], **variant["node"]} for variant in variants.values())
        else:
            nodes.append(node)
    return nodes


def references(value) -> list[str]:
    """Every `${...}` body in a (nested) value."""
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def template_variables(path: Path) -> set[str]:
    environment = jinja2.Environment()
    return set(jinja2.meta.find_undeclared_variables(environment.parse(path.read_text(encoding="utf-8"))))


def tool_function(path: Path, function_name: str | None = None) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The `@tool` function of a tool file (or the named one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if function_name:
        return next(f for f in functions if f.name == function_name)

    def is_tool(decorator) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Name) and target.id == "tool") or (
            isinstance(target, ast.Attribute) and target.attr == "tool"
        )

    tools = [f for f in functions if any(is_tool(d) for d in f.decorator_list)]
    assert len(tools) == 1, f"{path}: expected exactly one @tool function, found {[f.name for f in tools]}"
    return tools[0]


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[set[str], set[str], bool]:
    """(all parameter names, the required ones, whether it takes **kwargs)."""
    args = function.args
    positional = args.posonlyargs + args.args
    names = [a.arg for a in positional + args.kwonlyargs if a.arg != "self"]
    first_default = len(positional) - len(args.defaults)
    required = {a.arg for a in positional[:first_default] if a.arg != "self"}
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None}
    return set(names), required, args.kwarg is not None


def split_prompty(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\r?\n(.*?)\r?\n---\r?\n(.*)$", text, re.S)
    assert match, f"{path}: no YAML front matter between --- lines"
    return yaml.safe_load(match.group(1)) or {}, match.group(2)


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            assert isinstance(row, dict), f"{path}:{number}: a row must be a JSON object"
            rows.append(row)
    return rows
