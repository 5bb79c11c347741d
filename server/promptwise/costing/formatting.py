"""Figures written for people (tokens, dollars, milliseconds), shared by lenses, hovers and the CLI.

Kept apart from the cost model (calls.py imports the catalog, pydantic and Jinja2) so that a
command that only prints figures, `promptwise runs list` or `--help`, does not load them.
"""

from __future__ import annotations

import math


def format_tokens(count: float) -> str:
    return f"{round(count):,}"


def format_usd(amount: float | None, *, signed: bool = False) -> str:
    """Dollars readably: two decimals from $0.10 up, two significant digits below (never
    `$0.0000` for a cost that is not zero). `signed` writes a + before a positive amount (deltas)."""
    if amount is None:
        return "unpriced"
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    amount = abs(amount)
    if amount == 0:
        return "$0.00"
    if amount >= 0.1:
        return f"{sign}${amount:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(amount)))
    return f"{sign}${amount:.{digits}f}"


def format_ms(ms: float | None) -> str:
    """A duration in milliseconds: `4.2 ms`, `342 ms`, `12,480 ms`; `-` when unknown."""
    if ms is None:
        return "-"
    return f"{ms:.1f} ms" if abs(ms) < 10 else f"{ms:,.0f} ms"
