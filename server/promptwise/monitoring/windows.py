"""Durations as users write them in `--since` and alert windows: 90s, 15m, 1h, 1d, 1w."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: object) -> float | None:
    """Seconds for `15m`, `1h`, `1d`... (zero included); None when `text` is no such duration."""
    match = _DURATION.match(str(text)) if isinstance(text, (str, int)) and not isinstance(text, bool) else None
    if match is None:
        return None
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def parse_duration(text: object) -> float | None:
    """Seconds for `15m`, `1h`, `1d`...; None when `text` is not such a duration (or is zero)."""
    seconds = duration_seconds(text)
    return seconds if seconds else None
