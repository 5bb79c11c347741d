"""How long a model endpoint asks its callers to wait, from the headers of its 429 (or 503).

Endpoints say it in several ways, tried in this order:
- `retry-after-ms` (Azure OpenAI, OpenAI): milliseconds;
- `Retry-After` (RFC 9110): seconds, or an HTTP date;
- `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` (OpenAI: durations such as `1s`,
  `6m0s`, `20ms`; some gateways send plain seconds): when each limit resets. The limit whose
  `x-ratelimit-remaining-*` is 0 is the one that was hit; when no header says which, the later
  reset is the safe answer.
The engine's retries wait this long (engine/providers.py), and `promptwise serve` passes the
wait on to its own callers in the Retry-After of its 503 (serving/app.py).
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def upstream_wait(headers, *, resets: bool = True) -> float | None:
    """Seconds to wait (>= 0) from a response's headers (any mapping with case-insensitive
    `get`, as httpx's and aiohttp's headers are), or None when they name no wait. `resets`:
    whether x-ratelimit-reset-* count (a 429's; on other answers they are no wait asked for)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is None:
            seconds = _http_date(value)
        if seconds is not None:
            return seconds
    return _reset_wait(headers) if resets else None


def _reset_wait(headers) -> float | None:
    resets = {}
    for limit in ("requests", "tokens"):
        value = headers.get(f"x-ratelimit-reset-{limit}")
        seconds = _duration(value) if value is not None else None
        if seconds is not None:
            resets[limit] = seconds
    if not resets:
        return None
    exhausted = [seconds for limit, seconds in resets.items()
                 if _number(headers.get(f"x-ratelimit-remaining-{limit}") or "") == 0]
    return max(exhausted or resets.values())


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


def _http_date(text: str) -> float | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _duration(text: str) -> float | None:
    """`6m0s`, `1.5s`, `20ms`, `1h2m` (OpenAI's form) or plain seconds, as seconds."""
    text = text.strip().lower()
    plain = _number(text)
    if plain is not None:
        return plain
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
