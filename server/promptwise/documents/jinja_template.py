"""Jinja2 templates (`.jinja2`, `.j2`, a .prompty body) read with Jinja2's own parser.

Which names are template inputs is decided exactly as Prompt flow decides it:
`Environment().parse` then `jinja2.meta.find_undeclared_variables` (loop variables, `set`
targets and macro parameters are therefore not inputs). Jinja's AST only carries line
numbers, so columns come from Jinja's own lexer: its tokens are raw slices of the source in
order, which lets us locate each one exactly.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2 import meta, nodes

from promptwise.documents.files import read_user_bytes
from promptwise.documents.jinja_sandbox import BoundedSandbox
from promptwise.documents.source import Position, Range

# Prompt flow's defaults, in the bounded sandbox: `meta.find_undeclared_variables` runs Jinja's
# code generator, which folds constant expressions, and a plain Environment would compute
# `{{ '%0999999999d' % 1 }}` or `{{ 10 ** 10 ** 10 }}` while merely listing variables.
_environment = BoundedSandbox()
_newline = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class TemplateVariable:
    name: str
    range: Range  # the first place the template reads it
    uses: tuple[Range, ...] = ()  # every place it is read as an input (for rename/references)


@dataclass(frozen=True)
class TemplateSyntaxProblem:
    message: str
    range: Range  # the offending line, in the file's own coordinates


@dataclass
class JinjaTemplate:
    path: Path
    text: str
    line_offset: int = 0  # lines before the template in its file (a .prompty's front matter)
    variables: tuple[TemplateVariable, ...] = ()  # inputs, in order of first use
    syntax_error: TemplateSyntaxProblem | None = None
    _by_name: dict[str, TemplateVariable] = field(default_factory=dict, repr=False)

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> TemplateVariable | None:
        if not self._by_name:
            self._by_name = {v.name: v for v in self.variables}
        return self._by_name.get(name)


# Name tokens that are Jinja syntax, never a variable.
_KEYWORDS = frozenset(
    "and or not in is if else elif recursive true false none True False None".split()
)


@dataclass(frozen=True)
class _NameToken:
    name: str
    position: Position  # within the template text (before line_offset)


def _lines(text: str) -> list[str]:
    return _newline.split(text)


def _variable_tokens(source: str) -> list[_NameToken]:
    """Name tokens that can be a variable read: not `x.attr`, not `f(key=...)`, not a
    filter or test name (`| upper`, `is defined`), not a name being bound (`for x in`,
    `set x =`, a macro's header, `import ... as x`)."""
    normalized = "\n".join(_lines(source))  # Jinja's lexer works on \n-joined lines
    line_starts = [0] + [m.end() for m in re.finditer("\n", normalized)]
    found: list[_NameToken] = []
    cursor = 0
    # While binding, names are targets, not reads: `for x, y in`, `set x =`, a macro's
    # header, `import ... as x` / `from ... import x`. The value is what ends the binding.
    binding: tuple[str, ...] = ()
    ends_binding = {"for": ("in",), "set": ("=",), "macro": (), "import": ()}
    before: tuple[str, str] = ("", "")  # the previous significant token
    before_before: tuple[str, str] = ("", "")
    pending: tuple[str, int] | None = None  # a name waiting to see the token after it
    for _lineno, token_type, value in _environment.lex(normalized):
        offset = normalized.find(value, cursor) if value else -1
        if offset < 0:
            continue  # a token whose text Jinja rewrote; keep the cursor where it was
        cursor = offset + len(value)
        if token_type == "whitespace":
            continue
        current = (token_type, value)
        if pending is not None and current != ("operator", "="):  # `key=` is a keyword arg
            name, at = pending
            line = bisect_right(line_starts, at) - 1
            found.append(_NameToken(name, Position(line, at - line_starts[line])))
        pending = None
        if binding:
            if value in binding or token_type == "block_end":
                binding = ()
        elif token_type == "name" and value in ends_binding and before[0] == "block_begin":
            binding = ends_binding[value] or ("\0",)  # "\0": only the block's end stops it
        elif token_type == "name" and not (
            value in _KEYWORDS
            or before[0] == "block_begin"  # the statement's own keyword: if, for, include...
            or before in (("operator", "."), ("operator", "|"), ("name", "is"))
            or (before == ("name", "not") and before_before == ("name", "is"))
            or (value == "context" and before in (("name", "with"), ("name", "without")))
        ):
            pending = (value, offset)
        before_before, before = before, current
    return found


def _reads(template: nodes.Template) -> list[tuple[str, int, bool]]:
    """(name, lineno, free) for each read of a name, in source order; `free` when no
    enclosing for/macro/with/set binds it. A light scope walk that only places variables
    in the text; which names are inputs is Jinja's own `find_undeclared_variables`."""
    reads: list[tuple[str, int, bool]] = []
    stack: list[tuple[nodes.Node, frozenset[str]]] = [(template, frozenset())]
    # Iterative walk (deep templates must not blow the recursion limit); children are
    # pushed in reverse so they come out in source order.
    while stack:
        node, bound = stack.pop()
        children: list[tuple[nodes.Node, frozenset[str]]] = []
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                reads.append((node.name, node.lineno, node.name not in bound))
            continue
        if isinstance(node, nodes.For):
            inner = bound | _targets(node.target) | {"loop"}
            children.append((node.iter, bound))
            if node.test is not None:
                children.append((node.test, inner))
            children += [(child, inner) for child in node.body]
            children += [(child, bound) for child in node.else_]
        elif isinstance(node, nodes.CondExpr):  # `a if b else c`: source order a, b, c
            children.append((node.expr1, bound))
            children.append((node.test, bound))
            if node.expr2 is not None:
                children.append((node.expr2, bound))
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            inner = bound | {a.name for a in node.args} | {"caller", "varargs", "kwargs"}
            if isinstance(node, nodes.CallBlock):
                children.append((node.call, bound))
            children += [(d, bound) for d in node.defaults]
            children += [(child, inner) for child in node.body]
        elif isinstance(node, nodes.With):
            inner = bound.union(*(_targets(t) for t in node.targets))
            children += [(v, bound) for v in node.values]
            children += [(child, inner) for child in node.body]
        else:
            # `set` binds for everything after it at the same level
            level_bound = bound
            for child in node.iter_child_nodes():
                children.append((child, level_bound))
                if isinstance(child, (nodes.Assign, nodes.AssignBlock)):
                    level_bound = level_bound | _targets(child.target)
                elif isinstance(child, nodes.Macro):
                    level_bound = level_bound | {child.name}
                elif isinstance(child, (nodes.Import, nodes.FromImport)):
                    level_bound = level_bound | _imported(child)
        stack.extend(reversed(children))
    return reads


def _place_reads(
    reads: list[tuple[str, int, bool]], tokens: list[_NameToken]
) -> list[tuple[str, Position | None, int, bool]]:
    """Give each read its column: on each line, the k-th read is the k-th read-like token
    when both sequences agree; otherwise the first token of that name on the line."""
    reads_by_line: dict[int, list[tuple[str, int, bool]]] = {}
    for read in reads:
        reads_by_line.setdefault(read[1] - 1, []).append(read)
    tokens_by_line: dict[int, list[_NameToken]] = {}
    for token in tokens:
        tokens_by_line.setdefault(token.position.line, []).append(token)
    placed: list[tuple[str, Position | None, int, bool]] = []
    for line, line_reads in reads_by_line.items():
        line_tokens = tokens_by_line.get(line, [])
        aligned = len(line_tokens) == len(line_reads) and all(
            t.name == r[0] for t, r in zip(line_tokens, line_reads)
        )
        for index, (name, _, free) in enumerate(line_reads):
            if aligned:
                position: Position | None = line_tokens[index].position
            else:
                position = next((t.position for t in line_tokens if t.name == name), None)
            placed.append((name, position, line, free))
    return placed


def _targets(target: nodes.Node) -> frozenset[str]:
    return frozenset(n.name for n in target.find_all(nodes.Name)) | (
        {target.name} if isinstance(target, nodes.Name) else set()
    )


def _imported(node: nodes.Import | nodes.FromImport) -> frozenset[str]:
    if isinstance(node, nodes.Import):
        return frozenset({node.target})
    return frozenset(n[1] if isinstance(n, tuple) else n for n in node.names)


def _syntax_problem(error: Exception, lines: list[str], line_offset: int) -> TemplateSyntaxProblem:
    if isinstance(error, jinja2.TemplateSyntaxError):
        index = min(max((error.lineno or 1) - 1, 0), len(lines) - 1)
        line = lines[index]
        start = len(line) - len(line.lstrip())
        return TemplateSyntaxProblem(
            f"Jinja syntax error: {error.message}",
            Range.of(index + line_offset, start, index + line_offset, len(line)),
        )
    return TemplateSyntaxProblem(
        f"Jinja template cannot be parsed: {error}", Range.empty(line_offset, 0)
    )


def parse_jinja_template(
    text: str, path: Path | str = "<memory>", line_offset: int = 0
) -> JinjaTemplate:
    """Parse a template; `line_offset` shifts every range (a .prompty body starts after
    its front matter). Never raises: a syntax error becomes `syntax_error`."""
    path = Path(path)
    lines = _lines(text)
    try:
        tree = _environment.parse(text)
        undeclared = meta.find_undeclared_variables(tree)
        reads = _reads(tree)
        tokens = _variable_tokens(text)
    except jinja2.TemplateSyntaxError as error:
        return JinjaTemplate(path, text, line_offset, syntax_error=_syntax_problem(error, lines, line_offset))
    except (RecursionError, MemoryError, ValueError, TypeError) as error:
        return JinjaTemplate(path, text, line_offset, syntax_error=_syntax_problem(error, lines, line_offset))

    inputs = undeclared - set(_environment.globals)  # range(), dict() ... are built in
    placed = _place_reads(reads, tokens)

    def token_range(line: int, position: Position | None, name: str) -> Range:
        if position is None:  # the lexer and the tree disagree: mark the line's start
            return Range.empty(line + line_offset, 0)
        start = position.character
        return Range.of(line + line_offset, start, line + line_offset, start + len(name))

    uses: dict[str, list[Range]] = {}
    seen: set[tuple[str, Range]] = set()
    for name, position, line, free in sorted(
        placed, key=lambda p: (p[2], p[1].character if p[1] else 0)
    ):
        if free and name in inputs:
            use = token_range(line, position, name)
            if (name, use) not in seen:
                seen.add((name, use))
                uses.setdefault(name, []).append(use)
    variables: list[TemplateVariable] = []
    for name in inputs:
        found = uses.get(name)
        if not found:  # our scope walk disagrees with Jinja's: any read of the name will do
            line = next((n.lineno - 1 for n in tree.find_all(nodes.Name) if n.name == name), 0)
            found = [Range.empty(line + line_offset, 0)]
        variables.append(TemplateVariable(name, found[0], tuple(found)))
    variables.sort(key=lambda v: (v.range.start.line, v.range.start.character, v.name))
    return JinjaTemplate(path, text, line_offset, tuple(variables))


def load_jinja_template(path: Path | str, text: str | None = None) -> JinjaTemplate:
    """Read a template from disk (or `text`, the editor's unsaved copy). Raises OSError
    when the file cannot be read; the caller reports that as a problem."""
    path = Path(path)
    if text is None:
        text = read_user_bytes(path).decode("utf-8", errors="replace")  # regular, bounded
    return parse_jinja_template(text, path)
