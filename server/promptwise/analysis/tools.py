"""PW3xx: python nodes against their tool files, read statically (never imported).

Codes:
  (a missing source file is PW301, reported with every node kind's by analysis/sources.py)
  PW302  the tool file has a Python syntax error (in the file, and on the node using it)
  PW303  the tool file has no @tool function
  PW304  the tool file has more than one @tool function (Prompt flow wants exactly one)
  PW305  the function named by the node (`source.tool`) is not in the file
  PW306  a node input the tool function does not accept (did-you-mean; fix renames the key)
  PW307  a required parameter of the tool function that the node does not supply
  PW308  the tool file imports a package that is not installed (warning: the run would fail)

The same codes apply to a flow.flex.yaml's entry: the entry function or class missing
(PW305), its file's syntax error (PW302), `inputs` / `init` keys the function or class's
`__init__` does not take (PW306), and required parameters they leave out (PW307).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from promptwise.analysis.context import AnalysisContext, normalize
from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.analysis.schema import suggest
from promptwise.documents.flex_flow import FlexFlow
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.python_tool import (
    ParameterKind,
    PythonToolFile,
    ToolLookup,
    find_tool_function,
)
from promptwise.documents.source import Position, Range

_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")


def ensure_context(document: Any, context: Any) -> AnalysisContext:
    """The analyzer passes an AnalysisContext; other callers may pass nothing."""
    if isinstance(context, AnalysisContext):
        return context
    return AnalysisContext.create(getattr(document, "path", Path(".")))


class SourceFiles:
    """The files a flow's nodes point at, looked up once per check (a 200-node flow names
    the same few templates and tools over and over). None: the file does not exist."""

    def __init__(self, context: AnalysisContext):
        self.context = context
        self._documents: dict[Path, Any] = {}
        self._sources: dict[tuple[Path, str], Path] = {}
        self._lookups: dict[tuple[Path, str | None], ToolLookup] = {}

    def load(self, path: Path) -> Any:
        if path not in self._documents:
            found = self.context.exists(path)
            self._documents[path] = self.context.load(path) if found else None
        return self._documents[path]

    def source_path(self, flow: FlowDag | FlexFlow, relative_path: str) -> Path:
        """`node_source_path`, once per `source.path` of the check."""
        key = (flow.folder, relative_path)
        if key not in self._sources:
            self._sources[key] = node_source_path(flow, relative_path, self.context)
        return self._sources[key]

    def tool_function(self, module: PythonToolFile, name: str | None) -> ToolLookup:
        """`find_tool_function`, once per tool of the check (many nodes share one)."""
        key = (module.path, name)
        if key not in self._lookups:
            self._lookups[key] = find_tool_function(module, name)
        return self._lookups[key]


def node_source_path(flow: FlowDag | FlexFlow, relative_path: str, context: AnalysisContext) -> Path:
    """Where a `source.path` is read from, as Prompt flow finds it: in the flow's folder, else in
    an `additional_includes` entry (a file or folder copied beside the flow under its own name:
    `../shared/util.py` provides `util.py`, `../shared` provides `shared/...`)."""
    local = flow.folder / relative_path
    if context.exists(local):
        return local
    parts = Path(relative_path).parts
    for include, _ in getattr(flow, "additional_includes", ()):
        root = flow.folder / include
        if parts and root.name == parts[0]:
            candidate = root.joinpath(*parts[1:])
            if context.exists(candidate):
                return candidate
    return local


def relative(path: Path, folder: Path) -> str:
    """`path` as the flow writes it: relative to the flow's folder when inside it."""
    # relative paths depend on the current folder, so it is part of the cache key
    cwd = "" if os.path.isabs(path) and os.path.isabs(folder) else os.getcwd()
    return _relative(Path(path), Path(folder), cwd)


@functools.lru_cache(maxsize=4096)
def _relative(path: Path, folder: Path, cwd: str) -> str:
    try:
        return normalize(path).relative_to(normalize(folder)).as_posix()
    except ValueError:
        return str(path)


def _problem(path: Path, range_: Range, code: str, message: str, fixes=(), severity=Severity.ERROR) -> Problem:
    return Problem(path, range_, severity, code, message, tuple(fixes))


def _source_path_range(node: FlowNode) -> Range:
    if node.source is not None:
        found = node.source.value_range("path") or node.source.value_range("tool")
        if found is not None:
            return found
    return node.name_range


def _inputs_anchor(node: FlowNode) -> Range:
    """Where to point for something missing from a node's inputs: the `inputs` key, or
    the node's name when it has none."""
    return (node.key_range("inputs") if node.mapping is not None else None) or node.name_range


def _insert_input_fix(document: FlowDag, node: FlowNode, name: str, value: str) -> Fix | None:
    """`name: value` appended to a node's block-style `inputs:` mapping."""
    inputs = node.value_node("inputs")
    entries = getattr(inputs, "entries", None)
    if not entries or getattr(inputs, "flow_style", True):
        return None
    indent = entries[0].key.range.start.character
    last_end = max(e.value.range.end for e in entries)
    line = last_end.line if last_end.character == 0 else last_end.line + 1
    lines = document.text.split("\n")
    if line >= len(lines):  # the file ends without a newline after the last input
        end = Range.empty(len(lines) - 1, len(lines[-1]))
        return Fix(f"Add input `{name}`", (TextEdit(document.path, end, f"\n{' ' * indent}{name}: {value}"),))
    return Fix(
        f"Add input `{name}: {value}`",
        (TextEdit(document.path, Range.empty(line, 0), f"{' ' * indent}{name}: {value}\n"),),
    )


def _add_tool_decorator_fix(module: PythonToolFile) -> Fix | None:
    """For a file with exactly one function and no @tool: decorate it (and import tool)."""
    if len(module.functions) != 1 or module.classes:
        return None
    function = module.functions[0]
    line = function.range.start.line
    indent = function.range.start.character
    edits = [TextEdit(module.path, Range.empty(line, 0), " " * indent + "@tool\n")]
    if "tool" not in module.tool_decorator_names or "from promptflow" not in module.text:
        at = Range.empty(module.import_line, 0)
        edits.insert(0, TextEdit(module.path, at, "from promptflow.core import tool\n"))
    return Fix(f"Mark `{function.name}` as the tool with @tool", tuple(edits))


def check_tool_file(module: PythonToolFile) -> list[Problem]:
    """Problems of a tool file on its own: its syntax error (PW302), or imports of packages
    that are not installed (PW308)."""
    error = module.syntax_error
    if error is None:
        return missing_imports(module)
    return [
        _problem(
            module.path, error.range, "PW302",
            f"{error.message}; fix the code here (Prompt flow cannot load this tool file)",
        )  # fmt: skip
    ]


# Provided by Promptwise's stand-in when not installed: never reported missing.
_PROVIDED = frozenset({"promptflow", "promptflow_tools"})


def missing_imports(module: PythonToolFile) -> list[Problem]:
    """PW308 at each module-level import of a package this Python environment cannot find.
    Looked up with importlib's finders, which locate a package without running it; a module
    beside the tool file (Prompt flow puts the flow folder on sys.path) counts as found, and
    an import inside `try:` (an optional dependency) is not looked at."""
    import importlib.util
    import sys

    problems = []
    for top, where in _top_level_imports(module.text):
        if top in _PROVIDED or top in sys.stdlib_module_names or _beside(module.path, top):
            continue
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            problems.append(_problem(
                module.path, where, "PW308",
                f"`{top}` is not installed in the Python environment Promptwise runs with ({sys.executable}): "
                f"the tool would fail to import; install it there (e.g. pip install {top}), or add it to the "
                "flow's requirements", severity=Severity.WARNING))
    return problems


@functools.lru_cache(maxsize=16)  # keyed by whole texts: kept small
def _top_level_imports(text: str) -> tuple[tuple[str, Range], ...]:
    """(top-level package, statement range) of each module-level import; parsed once per text
    (every python node of a flow may use the same tool file)."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    found = []
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            names = [alias.name for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and not statement.level and statement.module:
            names = [statement.module]
        else:
            continue
        where = Range(Position(statement.lineno - 1, statement.col_offset),
                      Position((statement.end_lineno or statement.lineno) - 1,
                               statement.end_col_offset or statement.col_offset))
        found.extend((name.split(".", 1)[0], where) for name in names)
    return tuple(found)


def _beside(tool_path: Path, name: str) -> bool:
    """A module of the project: beside the tool, or in a folder above it (the flow's folder is
    on sys.path when it runs, and a tool may sit in a subfolder)."""
    for folder in list(tool_path.parents)[:4]:
        if (folder / f"{name}.py").is_file() or (folder / name).is_dir():
            return True
    return False


def _lookup_problems(
    document: FlowDag, node: FlowNode, module: PythonToolFile, name: str | None, lookup: ToolLookup
) -> list[Problem]:
    shown = relative(module.path, document.folder)
    anchor = _source_path_range(node)
    if lookup.error == "syntax":
        error = module.syntax_error
        return check_tool_file(module) + [
            _problem(
                document.path, anchor, "PW302",
                f"tool file {shown} has a syntax error at line {error.range.start.line + 1} "
                f"({error.message}); fix it before running node `{node.name}`",
            )  # fmt: skip
        ]
    if lookup.error == "none":
        fix = _add_tool_decorator_fix(module)
        names = ", ".join(f"`{f.name}`" for f in module.functions[:5]) or "none"
        return [
            _problem(
                document.path, anchor, "PW303",
                f"{shown} has no function marked @tool (functions: {names}); decorate the one "
                "node `%s` should call with `@tool` (`from promptflow.core import tool`)" % node.name,
                [fix] if fix else [],
            )  # fmt: skip
        ]
    if lookup.error == "multiple":
        names = ", ".join(f"`{f.qualified_name}`" for f in lookup.candidates)
        problems = [
            _problem(
                document.path, anchor, "PW304",
                f"{shown} has {len(lookup.candidates)} @tool functions ({names}); Prompt flow "
                "needs exactly one per file: keep @tool on one and move the others to their own files",
            )  # fmt: skip
        ]
        return problems
    if lookup.error == "not_found":
        range_ = node.source.value_range("tool") if node.source is not None else None
        choices = [f.name for f in module.functions] + [c.name for c in module.classes]
        guess = suggest(name or "", choices) if name else None
        hint = f"; did you mean `{guess}`?" if guess else f"; it defines {', '.join(f'`{c}`' for c in choices[:6]) or 'no functions'}"
        fixes = [Fix(f"Change to `{guess}`", (TextEdit(document.path, range_, guess),))] if guess and range_ else []
        return [
            _problem(
                document.path, range_ or anchor, "PW305",
                f"function `{name}` is not defined in {shown}{hint}", fixes,
            )  # fmt: skip
        ]
    return []


def _signature_problems(document: FlowDag, node: FlowNode, module: PythonToolFile, lookup: ToolLookup) -> list[Problem]:
    function = lookup.function
    assert function is not None
    problems: list[Problem] = []
    parameters = lookup.parameters
    by_name = {p.name: p for p in parameters if p.kind not in (ParameterKind.VAR_POSITIONAL, ParameterKind.VAR_KEYWORD)}
    accepted = [p.name for p in parameters if p.accepts_by_name]
    supplied = set(node.inputs)
    unsupplied = [n for n in accepted if n not in supplied]
    where = f"`{function.qualified_name}` in {relative(module.path, document.folder)}"
    suggested: set[str] = set()  # parameters a rename fix already supplies
    for name, node_input in node.inputs.items():
        parameter = by_name.get(name)
        if parameter is not None and parameter.kind is ParameterKind.POSITIONAL_ONLY:
            problems.append(
                _problem(
                    document.path, node_input.key_range, "PW306",
                    f"`{name}` is a positional-only parameter of {where} (before `/`), and Prompt flow "
                    "passes inputs by name; remove the `/` from the function's signature",
                )  # fmt: skip
            )
            continue
        if parameter is not None or lookup.accepts_kwargs:
            continue
        guess = suggest(name, unsupplied) or suggest(name, accepted)
        fixes = []
        if guess and guess not in supplied:
            hint = f"did you mean `{guess}`?"
            suggested.add(guess)
            fixes.append(Fix(f"Rename input to `{guess}`", (TextEdit(document.path, node_input.key_range, guess),)))
        else:
            names = ", ".join(f"`{n}`" for n in accepted) or "no parameters"
            hint = f"it takes {names}; remove this input or add the parameter to the function"
        problems.append(
            _problem(
                document.path, node_input.key_range, "PW306",
                f"node `{node.name}` passes `{name}`, but {where} does not accept it; {hint}", fixes,
            )  # fmt: skip
        )
    for parameter in parameters:
        if parameter.name in supplied or parameter.name in suggested:
            continue
        if not parameter.required or not parameter.accepts_by_name:
            continue
        fixes = []
        if parameter.name in document.inputs:
            fix = _insert_input_fix(document, node, parameter.name, f"${{inputs.{parameter.name}}}")
            if fix is not None:
                fixes.append(fix)
        annotation = f": {parameter.annotation}" if parameter.annotation else ""
        problems.append(
            _problem(
                document.path, _inputs_anchor(node), "PW307",
                f"node `{node.name}` does not supply `{parameter.name}{annotation}`, a required parameter "
                f"of {where}; add `{parameter.name}: <value or ${{...}} reference>` under the node's inputs",
                fixes,
            )  # fmt: skip
        )
    return problems


def tool_for_node(flow: FlowDag, node: FlowNode, context: Any = None) -> ToolLookup | None:
    """The tool function a python node calls, for hover, completion and go-to-definition:
    `lookup.function` (signature, name_range), `lookup.parameters` (what the node may pass),
    `lookup.module.path`. None when the node has no readable code file."""
    source = node.source
    if node.type != "python" or source is None or not source.path or source.type not in (None, "code"):
        return None
    context = ensure_context(flow, context)
    module = SourceFiles(context).load(node_source_path(flow, source.path, context))
    if not isinstance(module, PythonToolFile):
        return None
    name = source.tool if source.tool and _IDENTIFIER.match(source.tool) else None
    return find_tool_function(module, name)


def check_python_node(document: FlowDag, node: FlowNode, files: SourceFiles) -> list[Problem]:
    source = node.source
    if source is not None and source.type in ("package", "package_with_prompt"):
        return []  # an installed package's tool: nothing on disk to read
    if source is None or not source.path:
        return []  # reported by the source checks (PW105)
    module = files.load(files.source_path(document, source.path))
    if not isinstance(module, PythonToolFile):
        return []  # missing (PW301 from the source checks) or unreadable (PW100)
    name = source.tool if source.tool and _IDENTIFIER.match(source.tool) else None
    lookup = files.tool_function(module, name)
    if lookup.error is not None:
        return _lookup_problems(document, node, module, name, lookup)
    # Reported in the tool file when the flow is checked: `check FLOW` does not check .py files on their own.
    return missing_imports(module) + _signature_problems(document, node, module, lookup)


def _declared_against(
    flow: FlexFlow, section: str, declared: dict, parameters: tuple, accepts_kwargs: bool, where: str
) -> list[Problem]:
    """A flex flow's `inputs` or `init` against the parameters that receive them."""
    problems: list[Problem] = []
    by_name = {p.name: p for p in parameters if p.accepts_by_name}
    missing = [p.name for p in parameters if p.required and p.accepts_by_name and p.name not in declared]
    suggested: set[str] = set()
    if not accepts_kwargs:
        for name, item in declared.items():
            if name in by_name:
                continue
            guess = suggest(name, missing)
            fixes = []
            if guess:
                suggested.add(guess)
                fixes.append(Fix(f"Rename to `{guess}`", (TextEdit(flow.path, item.key_range, guess),)))
                hint = f"did you mean `{guess}`?"
            else:
                names = ", ".join(f"`{n}`" for n in by_name) or "no parameters"
                hint = f"it takes {names}; remove it or add the parameter"
            problems.append(
                _problem(flow.path, item.key_range, "PW306", f"`{section}.{name}` is not a parameter of {where}; {hint}", fixes)
            )
    anchor = (flow.root.entry(section).key.range if flow.root is not None and flow.root.entry(section) else None) or flow.attribute_range or flow.entry_range
    for name in missing:
        if name in suggested:
            continue
        problems.append(
            _problem(
                flow.path, anchor, "PW307",
                f"{where} requires `{name}`, which `{section}` does not declare; add `{name}:` with its "
                f"type under `{section}`",
            )  # fmt: skip
        )
    return problems


def check_flex_flow(flow: FlexFlow, files: SourceFiles) -> list[Problem]:
    if not flow.entry_is_valid or flow.attribute is None:
        return []  # malformed entries are PW106 (sources)
    module_path = next((p for p in flow.module_candidates() if files.context.exists(p)), None)
    module = files.load(module_path) if module_path is not None else None
    if not isinstance(module, PythonToolFile):
        return []  # a missing module is PW301 (sources)
    shown = relative(module.path, flow.folder)
    anchor = flow.attribute_range or flow.entry_range or Range.empty(0, 0)
    if module.syntax_error is not None:
        return check_tool_file(module) + [
            _problem(
                flow.path, flow.module_range or anchor, "PW302",
                f"entry module {shown} has a syntax error at line {module.syntax_error.range.start.line + 1} "
                f"({module.syntax_error.message}); fix it before running the flow",
            )  # fmt: skip
        ]
    function = module.function(flow.attribute)
    cls = module.class_(flow.attribute)
    if function is None and cls is None:
        choices = [f.name for f in module.functions] + [c.name for c in module.classes]
        guess = suggest(flow.attribute, choices)
        fixes = [Fix(f"Change to `{guess}`", (TextEdit(flow.path, anchor, guess),))] if guess else []
        hint = f"did you mean `{guess}`?" if guess else (
            f"it defines {', '.join(f'`{c}`' for c in choices[:6])}" if choices else "it defines no functions or classes"
        )  # fmt: skip
        return [_problem(flow.path, anchor, "PW305", f"`{flow.attribute}` is not defined in {shown}; {hint}", fixes)]
    problems: list[Problem] = []
    if cls is not None:
        target = cls.call
        if target is None:
            return [
                _problem(
                    flow.path, anchor, "PW305",
                    f"class `{cls.name}` in {shown} has no `__call__` method, which the flow runs for each "
                    "row; add `def __call__(self, ...)`",
                )  # fmt: skip
            ]
        init_parameters = cls.init.parameters if cls.init is not None else ()
        init_kwargs = cls.init.accepts_kwargs if cls.init is not None else False
        if flow.root is not None and flow.root.get("init") is not None:
            # `init` is optional in the YAML: without it the class's __init__ is the signature
            problems += _declared_against(
                flow, "init", flow.init, init_parameters, init_kwargs, f"`{cls.name}.__init__` in {shown}"
            )
    else:
        target = function
        if flow.init:
            first = next(iter(flow.init.values()))
            problems.append(
                _problem(
                    flow.path, first.key_range, "PW306",
                    f"`init` is for a class entry, but `{function.name}` in {shown} is a function; remove "
                    "`init` or make the entry a class",
                )  # fmt: skip
            )
    if flow.root is not None and flow.root.get("inputs") is not None:
        problems += _declared_against(
            flow, "inputs", flow.inputs, target.parameters, target.accepts_kwargs,
            f"`{target.qualified_name}` in {shown}",
        )  # fmt: skip
    return problems


def check(document: Any, context: Any = None) -> list[Problem]:
    """PW3xx problems of a flow.dag.yaml (its python nodes), a flow.flex.yaml (its entry),
    or a tool file itself."""
    if isinstance(document, PythonToolFile):
        return check_tool_file(document)
    if isinstance(document, FlexFlow):
        return check_flex_flow(document, SourceFiles(ensure_context(document, context)))
    if not isinstance(document, FlowDag):
        return []
    files = SourceFiles(ensure_context(document, context))
    problems: list[Problem] = []
    for node in document.all_nodes():
        if node.type == "python" and not replaced_by_variants(document, node):
            problems.extend(check_python_node(document, node, files))
    return problems


def replaced_by_variants(flow: FlowDag, node: FlowNode) -> bool:
    """A `use_variants: true` node runs as one of its variants (with the variant's inputs and
    source), so what the node itself says is not checked as if it ran."""
    return bool(node.use_variants and node.variant_of is None and node.name in flow.node_variants)
