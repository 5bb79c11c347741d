"""Column mapping: `${data.x}`, `${run.outputs.y}`, `${run.latency_ms}` ... resolved per row.

A mapping value is either a whole reference (`${run.outputs.category}`, which keeps the
value's type: a list of documents stays a list), a string with references inside it
(`"Q: ${data.question}"`, always text), or a literal passed as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

REFERENCE = re.compile(r"\$\{([^{}]*)\}")

# What `${run.X}` may name besides outputs/inputs: the row's recorded figures.
RUN_FIGURES = ("latency_ms", "tokens", "prompt_tokens", "completion_tokens", "cost", "status", "error", "line")


class MappingError(Exception):
    """A reference that cannot be read (wrong syntax, unknown source)."""


class MissingValue(Exception):
    """A row lacks the value a reference names; the message says which and what exists."""


@dataclass(frozen=True)
class Reference:
    text: str  # as written, without ${ }
    source: str  # data | run.outputs | run.inputs | run
    path: tuple[str, ...]  # keys after the source

    @property
    def column(self) -> str | None:
        """The top-level data column or run output it reads (None for `${data}` / run figures)."""
        return self.path[0] if self.path else None


def parse_reference(text: str) -> Reference:
    parts = [p.strip() for p in text.strip().split(".")]
    if not parts or any(not p for p in parts):
        raise MappingError(f"`${{{text}}}` is not a reference; write ${{data.COLUMN}} or ${{run.outputs.NAME}}")
    head = parts[0]
    if head == "data":
        return Reference(text, "data", tuple(parts[1:]))
    if head == "run":
        if len(parts) >= 2 and parts[1] in ("outputs", "inputs"):
            return Reference(text, f"run.{parts[1]}", tuple(parts[2:]))
        if len(parts) == 2 and parts[1] in RUN_FIGURES:
            return Reference(text, "run", (parts[1],))
        raise MappingError(
            f"`${{{text}}}`: a run reference is ${{run.outputs.NAME}}, ${{run.inputs.NAME}} or one of "
            + ", ".join(f"${{run.{f}}}" for f in RUN_FIGURES))
    raise MappingError(f"`${{{text}}}` reads from `{head}`; references start with `data.` or `run.` "
                       f"(e.g. ${{data.expected}} or ${{run.outputs.answer}})")


def references_in(value: Any) -> list[Reference]:
    """Every reference in a mapping value (strings, and strings nested in lists/dicts)."""
    found: list[Reference] = []
    if isinstance(value, str):
        found.extend(parse_reference(m.group(1)) for m in REFERENCE.finditer(value))
    elif isinstance(value, list):
        for item in value:
            found.extend(references_in(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(references_in(item))
    return found


def _walk(value: Any, keys: tuple[str, ...], what: str) -> Any:
    for depth, key in enumerate(keys):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            where = ".".join((what, *keys[:depth + 1]))
            available = ", ".join(sorted(map(str, value))) if isinstance(value, dict) else type(value).__name__
            raise MissingValue(f"no `{where}` in this row (it has: {available or 'nothing'})")
    return value


def resolve_reference(reference: Reference, context: dict) -> Any:
    """`context` is {"data": row dict, "run": {"outputs", "inputs", figures...}}."""
    if reference.source == "data":
        return _walk(context.get("data") or {}, reference.path, "data")
    run = context.get("run")
    if run is None:
        raise MissingValue(f"`${{{reference.text}}}` needs a run, and this evaluation has none")
    if reference.source == "run":
        return run.get(reference.path[0])
    key = reference.source.split(".")[1]
    container = run.get(key)
    if container is None:
        raise MissingValue(f"the run has no {key} for this row" + (f" ({run['error']})" if run.get("error") else ""))
    return _walk(container, reference.path, reference.source)


def resolve_value(value: Any, context: dict) -> Any:
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return resolve_reference(parse_reference(whole.group(1)), context)
        if "${" in value:
            def substitute(match: re.Match) -> str:
                resolved = resolve_reference(parse_reference(match.group(1)), context)
                return "" if resolved is None else str(resolved)

            return REFERENCE.sub(substitute, value)
        return value
    if isinstance(value, list):
        return [resolve_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: resolve_value(item, context) for key, item in value.items()}
    return value
