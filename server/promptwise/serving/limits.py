"""Per-consumer rate limits (requests and tokens per minute) over a sliding one-minute window.

One worker keeps its window in memory (`RateLimiter`). With `--workers N` a consumer's requests
land on any worker, so the workers count in one shared window instead (`SharedRateLimiter`): a
SQLite file in WAL mode that `promptwise serve` creates for the server's lifetime, with a row per
(consumer, second) and a check-and-count in one `BEGIN IMMEDIATE` transaction, so two workers
never both admit the request that fills a limit. Only consumers with a limit touch the file
(about 0.1 ms per request); the counts are throw-away (no fsync: a crash loses at most the last
minute's tally, which a restart would reset anyway).

The file is used from the event loop, so it never waits for the other worker's lock: SQLite's
busy handler would sleep the whole loop (1, 2, 5 ms ... while the other worker, perhaps
descheduled, holds the lock; 0.3% of calls over 1 ms and up to 25 ms on a busy machine). A
check that finds the file locked raises `WindowBusy` and the server tries again a millisecond
later while the loop serves other requests; tokens that find it locked are kept and written by
the next transaction (or a retry a few milliseconds later).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from pathlib import Path

from promptwise.serving.settings import Limits

log = logging.getLogger("promptwise.serve")

WINDOW_SECONDS = 60.0
RETRY_SECONDS = 0.005  # tokens that found the shared file locked are tried again this much later


class WindowBusy(Exception):
    """The shared window is locked by another worker's check for a moment: try again shortly."""


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


def _wait_until_below(events, total: int, limit: int, now: float) -> float:
    """Seconds until `total` drops below `limit` as the (time, amount) `events`, oldest first,
    leave the window."""
    for at, amount in events:
        total -= amount
        if total < limit:
            return max(0.0, at + WINDOW_SECONDS - now)
    return 0.0


class RateLimiter:
    """The window of one worker process."""

    def __init__(self) -> None:
        self._requests: dict[str, _Window] = {}
        self._tokens: dict[str, _Window] = {}

    def admit(self, consumer: str, limits: Limits, now: float | None = None) -> float | None:
        """Count a request, or return the seconds to wait (Retry-After) when over a limit."""
        if limits.requests_per_minute is None and limits.tokens_per_minute is None:
            return None
        now = time.monotonic() if now is None else now
        requests = self._requests.setdefault(consumer, _Window())
        tokens = self._tokens.setdefault(consumer, _Window())
        requests.expire(now)
        tokens.expire(now)
        wait = 0.0
        if limits.requests_per_minute is not None and requests.total >= limits.requests_per_minute:
            wait = max(wait, _wait_until_below(requests.events, requests.total, limits.requests_per_minute, now))
        if limits.tokens_per_minute is not None and tokens.total >= limits.tokens_per_minute:
            wait = max(wait, _wait_until_below(tokens.events, tokens.total, limits.tokens_per_minute, now))
        if wait > 0:
            return wait
        requests.add(now, 1)
        return None

    def spent(self, consumer: str, tokens: int, limits: Limits, now: float | None = None) -> None:
        """Tokens a finished request used: they count against the consumer's next requests."""
        if limits.tokens_per_minute is not None and tokens > 0:
            self._tokens.setdefault(consumer, _Window()).add(time.monotonic() if now is None else now, tokens)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (
    consumer TEXT NOT NULL,
    second INTEGER NOT NULL,        -- unix time, whole seconds
    requests INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, second)
) WITHOUT ROWID;
"""


class SharedRateLimiter:
    """The window of all the workers of one server, in a SQLite file they share. Times are
    whole seconds of the wall clock (the same in every worker), so the window slides a second
    at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._db.execute("PRAGMA busy_timeout = 0")  # from here on: never wait for the lock (see above)
        self._pruned = 0
        self._unwritten: list[tuple[str, int, int]] = []  # (consumer, second, tokens) that found the file locked
        self._retry = None

    def admit(self, consumer: str, limits: Limits, now: float | None = None) -> float | None:
        if limits.requests_per_minute is None and limits.tokens_per_minute is None:
            return None
        now = time.time() if now is None else now
        second = int(now)
        oldest = second - int(WINDOW_SECONDS) + 1  # the 60 whole seconds ending with this one
        try:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _locked(error):
                    raise WindowBusy() from None
                raise
            try:
                self._write_unwritten()
                rows = self._db.execute("SELECT second, requests, tokens FROM counts WHERE consumer = ? AND second >= ? "
                                        "ORDER BY second", (consumer, oldest)).fetchall()
                wait = 0.0
                for limit, column in ((limits.requests_per_minute, 1), (limits.tokens_per_minute, 2)):
                    total = sum(row[column] for row in rows)
                    if limit is not None and total >= limit:
                        events = [(row[0], row[column]) for row in rows]  # a second's counts leave 60 s after it began
                        wait = max(wait, _wait_until_below(events, total, limit, now))
                if wait > 0:
                    self._db.execute("COMMIT")
                    return wait
                self._db.execute("INSERT INTO counts (consumer, second, requests) VALUES (?, ?, 1) "
                                 "ON CONFLICT (consumer, second) DO UPDATE SET requests = requests + 1",
                                 (consumer, second))
                if second - self._pruned >= WINDOW_SECONDS:  # once a minute per worker: drop what left the window
                    self._db.execute("DELETE FROM counts WHERE second < ?", (oldest,))
                    self._pruned = second
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:  # the shared file failed: admit rather than refuse everyone
            log.warning("promptwise serve: the shared rate-limit window %s failed (%s); request admitted",
                        self.path, error)
        return None

    def spent(self, consumer: str, tokens: int, limits: Limits, now: float | None = None) -> None:
        if limits.tokens_per_minute is None or tokens <= 0:
            return
        self._unwritten.append((consumer, int(time.time() if now is None else now), tokens))
        self.write_unwritten()

    def write_unwritten(self) -> None:
        """Add the tokens not yet in the file; when another worker holds the lock, try again
        RETRY_SECONDS later (on the running loop) rather than wait."""
        if not self._unwritten:
            return
        try:
            self._write_unwritten()
        except sqlite3.OperationalError as error:
            if not _locked(error):
                self._failed(error)
            elif self._retry is None:
                try:
                    self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._retry_unwritten)
                except RuntimeError:  # no loop (a test's direct call): the next check writes them
                    pass
        except sqlite3.Error as error:
            self._failed(error)

    def _retry_unwritten(self) -> None:
        self._retry = None
        self.write_unwritten()

    def _write_unwritten(self) -> None:
        if self._unwritten:
            self._db.executemany("INSERT INTO counts (consumer, second, tokens) VALUES (?, ?, ?) "
                                 "ON CONFLICT (consumer, second) DO UPDATE SET tokens = tokens + excluded.tokens",
                                 self._unwritten)
            self._unwritten.clear()

    def _failed(self, error: sqlite3.Error) -> None:
        tokens = sum(row[2] for row in self._unwritten)
        self._unwritten.clear()
        log.warning("promptwise serve: the shared rate-limit window %s failed (%s); %d tokens not counted",
                    self.path, error, tokens)

    def close(self) -> None:
        self._db.close()


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def limiter_for(workers: int, shared_path: Path | None) -> RateLimiter | SharedRateLimiter:
    """The limiter of a worker: shared between the workers when there are several."""
    if workers > 1 and shared_path is not None:
        return SharedRateLimiter(shared_path)
    return RateLimiter()
