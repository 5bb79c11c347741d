"""Option values that several commands read the same way."""

from __future__ import annotations


def parse_variants(pairs: list[str], example: str) -> dict[str, str]:
    """`--variant NODE=ID` options (repeatable) as {node: variant id}; a malformed one is a
    UserError that shows how to write it, with `example` (e.g. "summarize=variant_1")."""
    from promptwise.cli import UserError  # promptwise.cli imports the command modules

    variants = {}
    for pair in pairs:
        node, sep, variant = pair.partition("=")
        if not sep or not node or not variant:
            raise UserError(f"--variant {pair!r}: write it as NODE=VARIANT_ID, e.g. --variant {example}")
        variants[node] = variant
    return variants


def concurrency_or_default(value: int | None) -> int:
    """`--concurrency N` for commands that run a flow: the batch default when not given."""
    from promptwise.cli import UserError

    if value is None:
        from promptwise.engine.batch import DEFAULT_CONCURRENCY  # imports the engine: only when running

        return DEFAULT_CONCURRENCY
    if value < 1:
        raise UserError(f"--concurrency must be at least 1 (got {value})")
    return value
