"""Python tool files read statically with `ast`: never import or run user code.

Prompt flow loads a python node's file and takes its one `@tool` function (or a `@tool`
method of a ToolProvider class, whose `__init__` parameters are also node inputs). We
reproduce that from the syntax tree so that the analysis, hover and completion know the
tool's parameters without promptflow installed and without executing anything.

Ranges are 0-based code points (as everywhere in promptwise); `ast` reports UTF-8 byte
columns, so every column is converted through the source line.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from promptwise.documents.files import read_user_bytes
from promptwise.documents.source import Position, Range

# Modules whose `tool` decorator marks a Prompt flow tool (promptflow.core is the current
# one; the others are older spellings still found in real flows).
TOOL_MODULES = (
    "promptflow",
    "promptflow.core",
    "promptflow._core.tool",
    "promptflow._core.tool_meta",
    "promptflow.tools",
)


class ParameterKind(str, Enum):
    POSITIONAL_ONLY = "positional_only"
    POSITIONAL_OR_KEYWORD = "positional_or_keyword"
    VAR_POSITIONAL = "var_positional"  # *args
    KEYWORD_ONLY = "keyword_only"
    VAR_KEYWORD = "var_keyword"  # **kwargs


@dataclass(frozen=True)
class ToolParameter:
    name: str
    kind: ParameterKind
    range: Range  # the parameter's name
    annotation: str | None = None  # source text, e.g. "list[str]"
    default: str | None = None  # source text of the default, None when there is none
    has_default: bool = False

    @property
    def required(self) -> bool:
        """A caller must supply it: no default, and not *args/**kwargs."""
        return not self.has_default and self.kind not in (
            ParameterKind.VAR_POSITIONAL,
            ParameterKind.VAR_KEYWORD,
        )

    @property
    def accepts_by_name(self) -> bool:
        """Prompt flow passes node inputs as keyword arguments."""
        return self.kind in (ParameterKind.POSITIONAL_OR_KEYWORD, ParameterKind.KEYWORD_ONLY)

    def describe(self) -> str:
        prefix = {"var_positional": "*", "var_keyword": "**"}.get(self.kind.value, "")
        text = prefix + self.name
        if self.annotation:
            text += f": {self.annotation}"
        if self.has_default:
            text += f" = {self.default}" if self.annotation else f"={self.default}"
        return text


@dataclass(frozen=True)
class ToolFunction:
    name: str
    name_range: Range  # the function's name after `def`
    range: Range  # the whole definition, decorators included
    parameters: tuple[ToolParameter, ...]  # `self`/`cls` of methods left out
    is_tool: bool  # carries Prompt flow's @tool
    is_async: bool = False
    returns: str | None = None  # return annotation source text
    docstring: str | None = None
    class_name: str | None = None  # set for methods

    @property
    def accepts_kwargs(self) -> bool:
        return any(p.kind is ParameterKind.VAR_KEYWORD for p in self.parameters)

    @property
    def qualified_name(self) -> str:
        return f"{self.class_name}.{self.name}" if self.class_name else self.name

    def parameter(self, name: str) -> ToolParameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def keyword_names(self) -> list[str]:
        """Names a node input can bind to, in signature order."""
        return [p.name for p in self.parameters if p.accepts_by_name]

    def signature(self) -> str:
        """`def name(a: str, b: int = 3) -> str`, for hover and messages."""
        parts: list[str] = []
        kinds = [p.kind for p in self.parameters]
        for index, p in enumerate(self.parameters):
            if p.kind is ParameterKind.KEYWORD_ONLY and ParameterKind.VAR_POSITIONAL not in kinds:
                if index == 0 or self.parameters[index - 1].kind is not ParameterKind.KEYWORD_ONLY:
                    parts.append("*")
            parts.append(p.describe())
            if p.kind is ParameterKind.POSITIONAL_ONLY and (
                index + 1 == len(self.parameters)
                or self.parameters[index + 1].kind is not ParameterKind.POSITIONAL_ONLY
            ):
                parts.append("/")
        text = f"{'async ' if self.is_async else ''}def {self.name}({', '.join(parts)})"
        if self.returns:
            text += f" -> {self.returns}"
        return text


@dataclass(frozen=True)
class ToolClass:
    """A class defined in the file; a tool class when one of its methods carries @tool."""

    name: str
    name_range: Range
    range: Range
    bases: tuple[str, ...]  # source text of each base class
    methods: tuple[ToolFunction, ...]

    def method(self, name: str) -> ToolFunction | None:
        return next((m for m in self.methods if m.name == name), None)

    @property
    def init(self) -> ToolFunction | None:
        return self.method("__init__")

    @property
    def call(self) -> ToolFunction | None:
        return self.method("__call__")

    @property
    def tool_methods(self) -> list[ToolFunction]:
        return [m for m in self.methods if m.is_tool]


@dataclass(frozen=True)
class PythonSyntaxError:
    message: str
    range: Range


@dataclass
class PythonToolFile:
    path: Path
    text: str
    functions: tuple[ToolFunction, ...] = ()  # module-level functions, in source order
    classes: tuple[ToolClass, ...] = ()
    syntax_error: PythonSyntaxError | None = None
    tool_decorator_names: frozenset[str] = field(default_factory=frozenset)
    import_line: int = 0  # where a fix may add an import: after the docstring and __future__

    @property
    def tools(self) -> list[ToolFunction]:
        """Every @tool function and @tool method, in source order (Prompt flow wants one)."""
        found = [f for f in self.functions if f.is_tool]
        for cls in self.classes:
            found.extend(cls.tool_methods)
        return sorted(found, key=lambda f: (f.range.start.line, f.range.start.character))

    def function(self, name: str) -> ToolFunction | None:
        return next((f for f in self.functions if f.name == name), None)

    def class_(self, name: str) -> ToolClass | None:
        return next((c for c in self.classes if c.name == name), None)


@dataclass(frozen=True)
class ToolLookup:
    """What `find_tool_function` found: the function, its class's `__init__` when the tool
    is a method (its parameters are node inputs too), or why nothing was found."""

    function: ToolFunction | None
    module: PythonToolFile | None = None  # the file it was looked up in (for its path)
    init: ToolFunction | None = None
    error: str | None = None  # "none" | "multiple" | "not_found" | "syntax"
    candidates: tuple[ToolFunction, ...] = ()

    @property
    def parameters(self) -> tuple[ToolParameter, ...]:
        """Everything a node may supply: `__init__` parameters then the tool's own."""
        own = self.function.parameters if self.function else ()
        init = self.init.parameters if self.init else ()
        return init + own

    @property
    def accepts_kwargs(self) -> bool:
        return bool(self.function and self.function.accepts_kwargs)


def find_tool_function(module: PythonToolFile, name: str | None = None) -> ToolLookup:
    """Prompt flow's rule: the one @tool function (or @tool method) of the file; with
    `name`, the function or `Class` / `Class.method` of that name, @tool or not."""
    if module.syntax_error is not None:
        return ToolLookup(None, module=module, error="syntax")
    if name:
        class_name, _, method_name = name.rpartition(".")
        if class_name:
            cls = module.class_(class_name)
            method = cls.method(method_name) if cls else None
            if method is None:
                return ToolLookup(None, module=module, error="not_found")
            return ToolLookup(method, module=module, init=cls.init)
        function = module.function(name)
        if function is not None:
            return ToolLookup(function, module=module)
        cls = module.class_(name)
        if cls is not None:
            target = (cls.tool_methods or [None])[0] or cls.call
            if target is not None:
                return ToolLookup(target, module=module, init=cls.init)
        for cls in module.classes:  # a method named directly, e.g. source.tool: my_method
            method = next((m for m in cls.tool_methods if m.name == name), None)
            if method is not None:
                return ToolLookup(method, module=module, init=cls.init)
        return ToolLookup(None, module=module, error="not_found")
    tools = module.tools
    if not tools:
        return ToolLookup(None, module=module, error="none")
    if len(tools) > 1:
        return ToolLookup(None, module=module, error="multiple", candidates=tuple(tools))
    tool = tools[0]
    init = module.class_(tool.class_name).init if tool.class_name else None
    return ToolLookup(tool, module=module, init=init)


# ---------------------------------------------------------------------------- parsing


class Utf8Columns:
    """Converts `ast`'s UTF-8 byte columns to code-point columns."""

    def __init__(self, text: str):
        # Python counts only \n, \r\n and \r as line ends (not \f or \u2028)
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.ascii = text.isascii()

    def line(self, lineno: int) -> str:  # lineno is 1-based, as in ast
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""

    def char(self, lineno: int, byte_col: int) -> int:
        if self.ascii:
            return byte_col
        return len(self.line(lineno).encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def position(self, lineno: int, byte_col: int) -> Position:
        return Position(lineno - 1, self.char(lineno, byte_col))

    def node_range(self, node: ast.AST) -> Range:
        start = self.position(node.lineno, node.col_offset)
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        end = self.position(end_line, end_col) if end_col is not None else start
        return Range(start, end)


def _decorator_target(decorator: ast.expr) -> str | None:
    """`tool`, `promptflow.tool`, `tool(...)` -> the dotted name being applied."""
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    parts: list[str] = []
    while isinstance(decorator, ast.Attribute):
        parts.append(decorator.attr)
        decorator = decorator.value
    if isinstance(decorator, ast.Name):
        parts.append(decorator.id)
        return ".".join(reversed(parts))
    return None


def _tool_names(tree: ast.Module) -> frozenset[str]:
    """Dotted names that mean Prompt flow's `tool` in this file, from its imports."""
    names: set[str] = set()
    shadowed: set[str] = set()  # `tool` imported from something else is not ours
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            from_promptflow = node.module in TOOL_MODULES or node.module.startswith("promptflow.")
            for alias in node.names:
                if alias.name == "tool":
                    (names if from_promptflow else shadowed).add(alias.asname or "tool")
                elif alias.name == "*" and from_promptflow:
                    names.add("tool")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "promptflow" or alias.name.startswith("promptflow."):
                    # `import promptflow.core` binds `promptflow`; `as pf` binds `pf`
                    bound = alias.asname or alias.name
                    names.add(f"{bound}.tool")
    if "tool" not in shadowed and not names:
        # No import at all: a bare `@tool` still means Prompt flow's (the file may rely on
        # a star import from a helper); we would rather read it as the author intended.
        names.add("tool")
    return frozenset(names)


def _function_name_range(node: ast.FunctionDef | ast.AsyncFunctionDef, cols: Utf8Columns) -> Range:
    line = cols.line(node.lineno)
    start = cols.char(node.lineno, node.col_offset)
    match = re.compile(r"(?:async\s+)?def\s+(" + re.escape(node.name) + r")\b").search(line, start)
    if match is None:  # `def` split across lines with a backslash: point at the statement
        return Range(Position(node.lineno - 1, start), Position(node.lineno - 1, start))
    return Range.of(node.lineno - 1, match.start(1), node.lineno - 1, match.end(1))


def _class_name_range(node: ast.ClassDef, cols: Utf8Columns) -> Range:
    line = cols.line(node.lineno)
    start = cols.char(node.lineno, node.col_offset)
    match = re.compile(r"class\s+(" + re.escape(node.name) + r")\b").search(line, start)
    if match is None:
        return Range(Position(node.lineno - 1, start), Position(node.lineno - 1, start))
    return Range.of(node.lineno - 1, match.start(1), node.lineno - 1, match.end(1))


def _full_range(node: ast.AST, cols: Utf8Columns) -> Range:
    decorators = getattr(node, "decorator_list", None) or []
    whole = cols.node_range(node)
    if decorators:
        first = cols.node_range(decorators[0]).start
        # the `@` sits one character before the decorator expression
        whole = Range(Position(first.line, max(first.character - 1, 0)), whole.end)
    return whole


def _source(text: str, node: ast.AST | None) -> str | None:
    if node is None:
        return None
    segment = source_segment(text, node)
    return segment if segment is not None else ast.unparse(node)


# A line with its end, as Python's parser splits source (only \r\n, \r and \n end a line).
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


@functools.lru_cache(maxsize=4)
def _lines_with_ends(text: str) -> list[str]:
    return _LINE_WITH_END.findall(text)


def source_segment(text: str, node: ast.AST) -> str | None:
    """`ast.get_source_segment(text, node)`, with the text split into lines once per file:
    Python (3.11 to 3.13) splits the whole text character by character on every call, about
    1 µs a character, and a tool file asks once per annotation, default and return type."""
    lineno, end_lineno = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    col_offset, end_col_offset = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
    if None in (lineno, end_lineno, col_offset, end_col_offset):
        return None
    lines = _lines_with_ends(text)
    if end_lineno == lineno:
        return lines[lineno - 1].encode()[col_offset:end_col_offset].decode()
    first = lines[lineno - 1].encode()[col_offset:].decode()
    last = lines[end_lineno - 1].encode()[:end_col_offset].decode()
    return "".join([first, *lines[lineno:end_lineno - 1], last])


def _parameters(
    args: ast.arguments, text: str, cols: Utf8Columns, drop_first: bool
) -> tuple[ToolParameter, ...]:
    def make(arg: ast.arg, kind: ParameterKind, default: ast.expr | None) -> ToolParameter:
        start = cols.position(arg.lineno, arg.col_offset)
        name_range = Range(start, Position(start.line, start.character + len(arg.arg)))
        return ToolParameter(
            name=arg.arg,
            kind=kind,
            range=name_range,
            annotation=_source(text, arg.annotation),
            default=_source(text, default),
            has_default=default is not None,
        )

    positional = [(a, ParameterKind.POSITIONAL_ONLY) for a in args.posonlyargs]
    positional += [(a, ParameterKind.POSITIONAL_OR_KEYWORD) for a in args.args]
    # defaults belong to the last len(defaults) positional parameters
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    result = [make(a, kind, d) for (a, kind), d in zip(positional, defaults)]
    if drop_first and result:
        result = result[1:]
    if args.vararg is not None:
        result.append(make(args.vararg, ParameterKind.VAR_POSITIONAL, None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        result.append(make(arg, ParameterKind.KEYWORD_ONLY, default))
    if args.kwarg is not None:
        result.append(make(args.kwarg, ParameterKind.VAR_KEYWORD, None))
    return tuple(result)


def _is_static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_decorator_target(d) in ("staticmethod",) for d in node.decorator_list)


def _function(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    text: str,
    cols: Utf8Columns,
    tool_names: frozenset[str],
    class_name: str | None = None,
) -> ToolFunction:
    is_method = class_name is not None and not _is_static(node)
    return ToolFunction(
        name=node.name,
        name_range=_function_name_range(node, cols),
        range=_full_range(node, cols),
        parameters=_parameters(node.args, text, cols, drop_first=is_method),
        is_tool=any(_decorator_target(d) in tool_names for d in node.decorator_list),
        is_async=isinstance(node, ast.AsyncFunctionDef),
        returns=_source(text, node.returns),
        docstring=ast.get_docstring(node),
        class_name=class_name,
    )


def _syntax_error(error: BaseException, cols: Utf8Columns) -> PythonSyntaxError:
    if isinstance(error, SyntaxError) and error.lineno:
        line_index = min(max(error.lineno, 1), len(cols.lines)) - 1
        line = cols.lines[line_index]
        # Since 3.10 the parser reports 1-based character offsets; clamp in case a tokenizer
        # error reports something past the line's end.
        start = min(max((error.offset or 1) - 1, 0), len(line))
        end = start
        if error.end_lineno == error.lineno and error.end_offset and error.end_offset - 1 > start:
            end = min(error.end_offset - 1, len(line))
        if end == start:  # make the range visible: the token at the error, or the line
            match = re.compile(r"\w+|\S").match(line, start)
            end = match.end() if match else len(line)
            if end == start and line.strip():
                start, end = len(line) - len(line.lstrip()), len(line)
        kind = "indentation error" if isinstance(error, IndentationError) else "syntax error"
        return PythonSyntaxError(
            f"Python {kind}: {error.msg}", Range.of(line_index, start, line_index, end)
        )
    message = getattr(error, "msg", None) or str(error) or type(error).__name__
    return PythonSyntaxError(f"Python file cannot be parsed: {message}", Range.empty(0, 0))


def parse_quietly(text: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse` without the SyntaxWarnings (`invalid escape sequence` ...) it would print
    to stderr: they are about the user's code, and our CLI output must stay clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename=filename)


def import_insert_line(tree: ast.Module) -> int:
    """The 0-based line after the module docstring and `from __future__` imports, where a
    new import can go without breaking either."""
    line = 0
    for index, node in enumerate(tree.body):
        is_docstring = (
            index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )  # fmt: skip
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (is_docstring or is_future):
            break
        line = node.end_lineno or node.lineno
    return line


def parse_python_tool(text: str, path: Path | str = "<memory>") -> PythonToolFile:
    """Read a tool file's text; never raises (syntax errors become `syntax_error`)."""
    path = Path(path)
    cols = Utf8Columns(text)
    try:
        tree = parse_quietly(text, str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        # ValueError: NUL bytes on 3.11; RecursionError: absurdly deep nesting
        return PythonToolFile(path, text, syntax_error=_syntax_error(error, cols))
    tool_names = _tool_names(tree)
    functions: list[ToolFunction] = []
    classes: list[ToolClass] = []
    for node in tree.body:  # module level only: nested functions are not tools
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(_function(node, text, cols, tool_names))
        elif isinstance(node, ast.ClassDef):
            methods = tuple(
                _function(item, text, cols, tool_names, class_name=node.name)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
            classes.append(
                ToolClass(
                    name=node.name,
                    name_range=_class_name_range(node, cols),
                    range=_full_range(node, cols),
                    bases=tuple(_source(text, b) or "" for b in node.bases),
                    methods=methods,
                )
            )
    # a later definition with the same name replaces the earlier one, as at import time
    by_name = {f.name: f for f in functions}
    functions = [f for f in functions if by_name[f.name] is f]
    return PythonToolFile(
        path, text, tuple(functions), tuple(classes), None, tool_names, import_insert_line(tree)
    )


def load_python_tool(path: Path | str, text: str | None = None) -> PythonToolFile:
    """Read a tool file from disk (or `text`, the editor's unsaved copy)."""
    path = Path(path)
    if text is None:
        raw = read_user_bytes(path)  # regular files only, bounded in size
        text = raw.decode("utf-8", errors="replace")
    return parse_python_tool(text, path)
