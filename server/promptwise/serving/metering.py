"""Per-consumer token and cost metering for chargeback, stored in `.promptwise/metering.sqlite`.

Requests add to in-memory totals per (minute, consumer, flow version); a background flush
writes them every few seconds (and once more at shutdown) as upserts, so the request path never
waits on the disk. Several workers write the same file safely (WAL, increments in one
transaction each).

    SELECT consumer, SUM(total_tokens), SUM(cost_usd) FROM usage GROUP BY consumer;
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from promptwise.store.disk_full import DiskGate

log = logging.getLogger(__name__)

FLUSH_SECONDS = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    minute INTEGER NOT NULL,        -- unix time of the minute's start (UTC)
    consumer TEXT NOT NULL,
    version TEXT NOT NULL,          -- the flow's content hash
    requests INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    priced_requests INTEGER NOT NULL DEFAULT 0,   -- requests whose cost was known
    PRIMARY KEY (minute, consumer, version)
);
"""

_UPSERT = """
INSERT INTO usage (minute, consumer, version, requests, errors, prompt_tokens, completion_tokens, total_tokens,
                   cost_usd, priced_requests)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, consumer, version) DO UPDATE SET
    requests = requests + excluded.requests, errors = errors + excluded.errors,
    prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    completion_tokens = completion_tokens + excluded.completion_tokens,
    total_tokens = total_tokens + excluded.total_tokens, cost_usd = cost_usd + excluded.cost_usd,
    priced_requests = priced_requests + excluded.priced_requests
"""


@dataclass
class _Totals:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    priced: int = 0


class Meter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: dict[tuple[int, str, str], _Totals] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task | None = None
        # A full disk: one error, the totals kept in memory and written at the first try a minute later.
        self._disk = DiskGate(log, "metering", path, "usage is kept in memory and written once the disk takes it")
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def record(self, consumer: str, version: str, *, prompt_tokens: int, completion_tokens: int,
               cost: float | None, error: bool) -> None:
        minute = int(time.time() // 60 * 60)
        with self._lock:
            totals = self._pending.setdefault((minute, consumer, version), _Totals())
            totals.requests += 1
            totals.errors += int(error)
            totals.prompt_tokens += prompt_tokens
            totals.completion_tokens += completion_tokens
            if cost is not None:
                totals.cost += cost
                totals.priced += 1

    def flush(self) -> None:
        if not self._disk.open():
            return
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        rows = [(minute, consumer, version, t.requests, t.errors, t.prompt_tokens, t.completion_tokens,
                 t.prompt_tokens + t.completion_tokens, t.cost, t.priced)
                for (minute, consumer, version), t in pending.items()]
        try:
            with self._connect() as db:
                db.executemany(_UPSERT, rows)
            self._disk.succeeded()
        except sqlite3.Error as error:  # keep serving; put the totals back for the next flush
            if not self._disk.failed(error):
                log.warning("metering: could not write %s (%s); will retry", self.path, error)
            with self._lock:
                for key, t in pending.items():
                    merged = self._pending.setdefault(key, _Totals())
                    merged.requests += t.requests
                    merged.errors += t.errors
                    merged.prompt_tokens += t.prompt_tokens
                    merged.completion_tokens += t.completion_tokens
                    merged.cost += t.cost
                    merged.priced += t.priced

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await asyncio.to_thread(self.flush)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await asyncio.to_thread(self.flush)


def metered_usage(path: Path, *, since_s: float | None = None, until_s: float | None = None,
                  consumer: str | None = None, per_day: bool = False) -> list[dict]:
    """What `promptwise monitor --metering` shows: the stored usage summed per consumer and flow
    version (and UTC day), minutes that start in [since, until). Read-only: a running server
    goes on writing. The metering is kept whether requests are traced or not, and is never
    pruned by the traces' retention: it is the chargeback record."""
    conditions = (("minute >= ?", None if since_s is None else since_s // 60 * 60), ("minute < ?", until_s),
                  ("consumer = ?", consumer))
    where = " AND ".join(["1", *(clause for clause, value in conditions if value is not None)])
    params = [value for _, value in conditions if value is not None]
    day = "strftime('%Y-%m-%d', minute, 'unixepoch')" if per_day else "NULL"
    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)) as db:
        rows = db.execute(
            f"SELECT {day} AS day, consumer, version, SUM(requests), SUM(errors), SUM(prompt_tokens), "
            f"SUM(completion_tokens), SUM(cost_usd), SUM(priced_requests), MIN(minute), MAX(minute) FROM usage "
            f"WHERE {where} GROUP BY day, consumer, version ORDER BY day, consumer, SUM(cost_usd) DESC, version",
            params).fetchall()
    return [{"day": r[0], "consumer": r[1], "version": r[2], "requests": r[3], "errors": r[4],
             "input_tokens": r[5], "output_tokens": r[6],
             "cost_usd": r[7] if r[8] or not (r[5] or r[6]) else None,  # tokens, none of a known price
             "priced_requests": r[8], "first_minute": r[9], "last_minute": r[10]} for r in rows]


def usage_by_consumer(path: Path) -> dict[str, dict]:
    """Totals per consumer (for tests and reports)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT consumer, SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens), "
                          "SUM(total_tokens), SUM(cost_usd) FROM usage GROUP BY consumer").fetchall()
    return {r[0]: {"requests": r[1], "errors": r[2], "prompt_tokens": r[3], "completion_tokens": r[4],
                   "total_tokens": r[5], "cost_usd": r[6]} for r in rows}
