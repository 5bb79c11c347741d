"""The Jinja2 environment every user template renders in: sandboxed, and bounded in work.

A template comes from a file someone else may have written (a cloned repository), and the
analysis renders it merely because the file was opened. So:

- it renders in Jinja2's `SandboxedEnvironment`, as Prompt flow does (promptflow-core 1.17.2
  and later: `SandboxedEnvironment(trim_blocks=..., keep_trailing_newline=...)`), so
  `cycler.__init__.__globals__.os` and friends are refused instead of running commands;
- its work is bounded: every loop step and every call counts against a step budget, the
  output and every string or list the template builds are capped in size, and the operators
  and filters that can build huge values from small text (`'a' * 10**9`, `10**10**10`,
  `'%999999999d'`, `center(10**9)`, `s ~ s` doubling in a loop) are checked before they run.

The analysis renders with `ANALYSIS_LIMITS`; runs are more generous (`RUN_LIMITS`) but still
bounded. Loops and concatenations are counted by rewriting the parsed template (each
`{% for %}` iterates through a counting filter, each `~` joins through a checking one),
because Jinja calls no environment hook for them.
"""

from __future__ import annotations

import contextvars
import math
import re
import string
import types
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer


@dataclass(frozen=True)
class RenderLimits:
    """How much work one render may do: loop steps plus calls, and characters (or items) in
    the output and in any value the template builds."""

    steps: int
    size: int
    name: str  # said in the error: "the analysis" / "a run"


ANALYSIS_LIMITS = RenderLimits(steps=200_000, size=10_000_000, name="the analysis")
RUN_LIMITS = RenderLimits(steps=20_000_000, size=100_000_000, name="a run")

# A power may not build an integer of more bits than this (about 300,000 digits).
_MAX_INT_BITS = 1_000_000


class RenderLimitError(Exception):
    """A template exceeded its render bound; the message says which and what to do."""


class _Budget:
    __slots__ = ("limits", "steps")

    def __init__(self, limits: RenderLimits):
        self.limits = limits
        self.steps = 0

    def step(self, weight: int) -> None:
        self.steps += weight
        if self.steps > self.limits.steps:
            raise RenderLimitError(
                f"the template does more work than {self.limits.steps:,} loop steps "
                f"(a call counts as {_CALL_STEPS}), "
                f"the bound for {self.limits.name}; make its loops smaller"
            )


# The budget of the render running in this thread (or task); None outside a render, e.g. when
# Jinja folds constants while compiling: then sizes are checked against the analysis bound.
_CURRENT: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("promptwise_render_budget", default=None)


def _limits() -> RenderLimits:
    budget = _CURRENT.get()
    return budget.limits if budget is not None else ANALYSIS_LIMITS


# A call (a macro, a method, a global such as `range`) costs as much as this many loop steps:
# a macro call takes some 20 times as long as a loop step.
_CALL_STEPS = 20


def _step(weight: int = 1) -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.step(weight)


def _too_big(what: str, size: int | float) -> None:
    limits = _limits()
    if size > limits.size:
        raise RenderLimitError(
            f"the template builds {what} of more than {limits.size:,} characters or items, "
            f"the bound for {limits.name}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ints(what: str, values: Iterable[Any]) -> None:
    """An integer argument that sets a width or a count is at most the size bound."""
    for value in values:
        if _is_int(value):
            _too_big(what, value)


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(template: str, arguments: Any) -> None:
    """`'%999999999d' % 1`, `'%*d' % (10**9, 1)`: widths and precisions within the bound."""
    star = False
    for match in _PRINTF_SPEC.finditer(template):
        for number in match.groups():
            if number == "*":
                star = True
            elif number:
                _too_big("a formatted value", len(number) > 12 and math.inf or int(number))
    if star:
        _check_ints("a formatted value", arguments if isinstance(arguments, tuple) else (arguments,))


def _check_format_string(template: str, args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """`'{:>999999999}'.format(x)` and nested widths `'{:{}}'.format(x, 10**9)`."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # malformed: str.format itself will refuse it
    for _literal, _field, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            _check_ints("a formatted value", list(args) + list(kwargs.values()))
        for number in re.findall(r"\d+", spec):
            _too_big("a formatted value", len(number) > 12 and math.inf or int(number))


def _check_binop(operator: str, left: Any, right: Any) -> None:
    sized = (str, list, tuple)
    if operator == "*":
        if isinstance(left, sized) and _is_int(right):
            _too_big("a repeated value", len(left) * max(right, 0))
        elif isinstance(right, sized) and _is_int(left):
            _too_big("a repeated value", len(right) * max(left, 0))
        elif _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
            _too_big("a number", math.inf)
    elif operator == "**":
        if _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > _MAX_INT_BITS:
                _too_big("a number", math.inf)
    elif operator == "+":
        if isinstance(left, sized) and isinstance(right, sized):
            _too_big("a joined value", len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)


# str methods whose integer arguments are widths or counts (`'x'.ljust(10**9)`).
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_method_call(method: Any, args: tuple, kwargs: dict[str, Any]) -> None:
    owner = getattr(method, "__self__", None)
    if not isinstance(method, types.BuiltinMethodType) or not isinstance(owner, str):
        return
    name = method.__name__
    if name in _WIDTH_METHODS:
        _check_ints("a padded value", list(args) + list(kwargs.values()))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_replace(owner, args[0], args[1])
    elif name == "join" and args and isinstance(args[0], (list, tuple)):
        _too_big("a joined value", len(owner) * len(args[0]) + sum(len(str(item)) for item in args[0][:1000]))


def _check_replace(text: str, old: str, new: str) -> None:
    if len(new) > len(old):
        count = text.count(old) if old else len(text) + 1
        _too_big("a replaced value", len(text) + count * (len(new) - len(old)))


def _counted(iterable: Any) -> Iterator[Any]:
    """What every `{% for %}` iterates: the same items, one budget step each."""
    for item in iterable:
        _step()
        yield item


def _concat(parts: list[Any]) -> str:
    """`a ~ b`: Jinja's own `str_join`, with the result's size checked first."""
    texts = [str(part) for part in parts]
    _too_big("a joined value", sum(len(text) for text in texts))
    return "".join(texts)


def _bounded_filter(name: str, original: Any) -> Any:
    """A built-in filter whose arguments can make a small value huge, checked first."""
    passes_first = hasattr(original, "jinja_pass_arg")  # pass_context / eval_context / environment

    def check(*all_args: Any, **kwargs: Any) -> Any:
        first = all_args[:1] if passes_first else ()
        value, *args = all_args[len(first):]
        if name == "format" and isinstance(value, str):
            _check_printf(value, kwargs or tuple(args))
        elif name == "replace" and len(args) >= 2:
            _check_replace(str(value), str(args[0]), str(args[1]))
        elif name == "join":  # the separator repeats once per item
            value = value if isinstance(value, str) else list(value)
            separator = args[0] if args else kwargs.get("d", "")
            _too_big("a joined value", len(str(separator)) * len(value))
        else:  # the width, count or indent is the first argument, or given by name
            _check_ints(f"a value (filter {name})", args[:1] + list(kwargs.values()))
        return original(*first, value, *args, **kwargs)

    if passes_first:
        check.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return check


_BOUNDED_FILTERS = ("center", "indent", "batch", "slice", "wordwrap", "format", "tojson", "replace", "join")


class _CountLoopsAndJoins(NodeTransformer):
    """Rewrites a parsed template so that loops and `~` go through `_counted` / `_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, COUNTED_FILTER, [], [], None, None, lineno=node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(list(node.nodes), lineno=node.lineno)
        return nodes.Filter(items, CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


COUNTED_FILTER = "promptwise_counted"
CONCAT_FILTER = "promptwise_concat"


class BoundedSandbox(SandboxedEnvironment):
    """`SandboxedEnvironment` whose calls and operators count against the render budget."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in _BOUNDED_FILTERS:
            if name in self.filters:
                self.filters[name] = _bounded_filter(name, self.filters[name])
        self.filters[COUNTED_FILTER] = _counted
        self.filters[CONCAT_FILTER] = _concat
        lipsum = self.globals["lipsum"]
        self.globals["lipsum"] = lambda n=5, *args, **kwargs: lipsum(min(int(n), 100), *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _step(_CALL_STEPS)
        _check_method_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format_map" and args and isinstance(args[0], dict):
                _check_format_string(template, (), args[0])
            else:
                _check_format_string(template, args, kwargs)
            return wrapper(*args, **kwargs)

        return checked

    def compile_bounded(self, source: str) -> jinja2.Template:
        """`from_string`, with loops and `~` rewritten to count (see module docstring).

        Raises jinja2.TemplateSyntaxError for template errors, and RenderLimitError when the
        template is nested too deeply to compile (Python refuses more than 20 nested loops,
        and deep parentheses exhaust the parser's recursion)."""
        try:
            tree = self.parse(source)
            tree = _CountLoopsAndJoins().visit(tree)
            tree.set_environment(self)
            code = self.compile(tree)
        except jinja2.TemplateSyntaxError:
            raise
        except (RecursionError, MemoryError, SyntaxError) as error:
            raise RenderLimitError(
                "the template is nested too deeply to compile "
                f"({type(error).__name__}); flatten its loops, blocks or parentheses"
            ) from None
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        # A plain dict instead of Jinja's ChainMap over the environment's globals (fixed once the
        # environment is built): every render copies the globals into its context, and copying
        # the ChainMap was half of rendering a short prompt (24 -> 12 us per render, measured).
        template.globals = dict(template.globals)
        return template


def render_bounded(template: jinja2.Template, variables: dict[str, Any], limits: RenderLimits) -> str:
    """Render with a fresh budget, stopping as soon as the output passes the size bound."""
    token = _CURRENT.set(_Budget(limits))
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > limits.size:
                raise RenderLimitError(
                    f"the rendered prompt is longer than {limits.size:,} characters, "
                    f"the bound for {limits.name}"
                )
            parts.append(chunk)
        return "".join(parts)
    finally:
        _CURRENT.reset(token)
