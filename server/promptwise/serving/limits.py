"""Per-consumer rate limits (requests and tokens per minute) over a sliding one-minute window.

Each worker process keeps its own window; with `--workers N` every worker enforces 1/N of the
configured limit (rounded up), so the total a consumer gets stays close to what was set
without a shared store on the request path.
"""

from __future__ import annotations

import math
import time
from collections import deque

from promptwise.serving.settings import Limits

WINDOW_SECONDS = 60.0


class _Window:
    """(time, amount) events of the last minute and their running total."""

    __slots__ = ("events", "total")

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def expire(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - WINDOW_SECONDS:
            self.total -= self.events.popleft()[1]

    def add(self, now: float, amount: int) -> None:
        if amount > 0:
            self.events.append((now, amount))
            self.total += amount

    def wait_until_below(self, limit: int, now: float) -> float:
        """Seconds until the total drops below `limit` as old events leave the window."""
        total = self.total
        for at, amount in self.events:
            total -= amount
            if total < limit:
                return max(0.0, at + WINDOW_SECONDS - now)
        return 0.0


class RateLimiter:
    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}

    def _share(self, limit: int | None) -> int | None:
        return None if limit is None else max(1, math.ceil(limit / self.workers))

    def admit(self, consumer: str, limits: Limits, now: float | None = None) -> float | None:
        """Count a request, or return the seconds to wait (Retry-After) when over a limit."""
        now = time.monotonic() if now is None else now
        requests = self._requests.setdefault(consumer, _Window())
        tokens = self._tokens.setdefault(consumer, _Window())
        requests.expire(now)
        tokens.expire(now)
        wait = 0.0
        request_limit = self._share(limits.requests_per_minute)
        if request_limit is not None and requests.total >= request_limit:
            wait = max(wait, requests.wait_until_below(request_limit, now))
        token_limit = self._share(limits.tokens_per_minute)
        if token_limit is not None and tokens.total >= token_limit:
            wait = max(wait, tokens.wait_until_below(token_limit, now))
        if wait > 0:
            return wait
        requests.add(now, 1)
        return None

    def spent(self, consumer: str, tokens: int, now: float | None = None) -> None:
        """Tokens a finished request used: they count against the consumer's next requests."""
        self._tokens.setdefault(consumer, _Window()).add(time.monotonic() if now is None else now, tokens)
