"""Alert rules evaluated periodically inside `promptwise serve`, off the request path.

A daemon thread wakes every `interval_s` (promptwise.yaml `alerts_interval`, default 60s),
checks the workspace's `alerts:` over the span store with its own connection, logs each alert
when it starts firing and when it clears, and hands firing alerts to the webhook sender's
bounded queue (never waiting on it). Rules that cannot be read are logged once and the loop
stays off: serving never stops for monitoring.

With `--workers N` every worker runs this loop, but only one checks and posts: a lease row in
.promptwise/alerts.sqlite (taken and renewed in a `BEGIN IMMEDIATE` transaction, so two
workers never both hold it) names the checker until it stops renewing; the set of firing
alerts lives in the same file, so a worker that takes over does not post them again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger("promptwise.monitoring")

INTERVAL_S = 60.0
STATE_FILE = "alerts.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,          -- pid and a random id of the checking loop
    expires REAL NOT NULL          -- epoch seconds; after it any loop may take the lease
);
CREATE TABLE IF NOT EXISTS alert_firing (
    rule TEXT PRIMARY KEY,         -- a rule that fired and was posted, until it clears
    since REAL NOT NULL
);
"""


class AlertState:
    """.promptwise/alerts.sqlite: which loop checks the alerts among the server's worker processes
    (the lease), and which alerts fired and were posted (shared with `monitor --check`)."""

    def __init__(self, path: Path, ttl_s: float) -> None:
        self.path = Path(path)
        self.ttl_s = ttl_s
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        connection.executescript(_SCHEMA)
        return connection

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live loop holds it."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the read and the write are atomic
            row = connection.execute("SELECT holder, expires FROM alert_lease WHERE id = 1").fetchone()
            now = time.time()
            mine = row is None or row[0] == self.holder or row[1] < now
            if mine:
                connection.execute("INSERT OR REPLACE INTO alert_lease VALUES (1, ?, ?)", (self.holder, now + self.ttl_s))
            connection.execute("COMMIT")
            return mine
        finally:
            connection.close()

    def release(self) -> None:
        connection = self._connect()
        try:
            connection.execute("DELETE FROM alert_lease WHERE holder = ?", (self.holder,))
        finally:
            connection.close()

    def firing(self) -> set[str]:
        connection = self._connect()
        try:
            return {row[0] for row in connection.execute("SELECT rule FROM alert_firing")}
        finally:
            connection.close()

    def update(self, started: list[str], cleared: list[str]) -> None:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT OR REPLACE INTO alert_firing VALUES (?, ?)",
                                   [(name, time.time()) for name in started])
            connection.executemany("DELETE FROM alert_firing WHERE rule = ?", [(name,) for name in cleared])
            connection.execute("COMMIT")
        finally:
            connection.close()


class AlertLoop:
    def __init__(self, workspace_root: Path, settings: dict, source: Path | None, *,
                 interval_s: float | None = None):
        from promptwise.config import STATE_DIR

        self.root = Path(workspace_root)
        self.settings, self.source = settings, source
        self.interval_s = interval_s if interval_s is not None else _interval(settings)
        # A checker that misses two checks in a row (stopped, hung) hands over to another worker.
        self.lease = AlertState(self.root / STATE_DIR / STATE_FILE, ttl_s=self.interval_s * 2 + 5)
        self.firing: set[str] = set()
        self.checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender = None
        self._warned: set[str] = set()

    def start(self) -> bool:
        """Start the loop when the workspace has rules; False (logged) when it has none or they are bad."""
        from promptwise.monitoring.alerts import AlertRuleError, read_rules

        try:
            self.rules, self.default_hook = read_rules(self.settings, self.source)
        except AlertRuleError as error:
            log.error("promptwise serve: alert rules are not checked: %s", error)
            return False
        if not self.rules:
            return False
        self._thread = threading.Thread(target=self._run, name="promptwise-alerts", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            try:
                self.lease.release()  # another worker (or the next server) takes over at once
            except sqlite3.Error:
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s if self.checks else min(5.0, self.interval_s)):
            try:
                if self.lease.acquire():
                    self.check_once()
            except Exception as error:  # noqa: BLE001 - a damaged store, a bug: logged, the loop goes on
                log.warning("promptwise serve: checking alerts failed: %s", error)

    def _warn_once(self, text: str) -> None:
        """A rule's drift that cannot be computed (no baseline...) is said once, not every check."""
        if text not in self._warned:
            self._warned.add(text)
            log.warning("alert %s", text)

    def check_once(self) -> list:
        from promptwise.config import STATE_DIR
        from promptwise.monitoring.alerts import drift_scorer, evaluate
        from promptwise.monitoring.source import open_traces
        from promptwise.monitoring.webhook import WebhookSender, payload

        connection = open_traces(self.root)
        try:
            results = evaluate(connection, self.rules, state_dir=self.root / STATE_DIR,
                               drift_score=drift_scorer(connection, self.root, self._warn_once))
        finally:
            if connection is not None:
                connection.close()
        self.checks += 1
        self.firing = self.lease.firing()  # what this or an earlier checker already posted
        started, cleared = [], []
        for result in results:
            name = result.rule.name
            if result.firing and name not in self.firing:
                started.append(name)
                log.warning("alert %s", result.message())
                hook = result.rule.webhook or self.default_hook
                if hook:
                    self._sender = self._sender or WebhookSender()
                    self._sender.send(hook, payload(f"Promptwise alert: {name}", [result.message()]))
            elif not result.firing and name in self.firing:
                cleared.append(name)
                log.warning("alert %s cleared: %s", name, result.message())
        self.lease.update(started, cleared)
        self.firing = (self.firing | set(started)) - set(cleared)
        return results


def _interval(settings: dict) -> float:
    """`alerts_interval` of promptwise.yaml (a duration, e.g. 30s or 5m); 60 s by default."""
    from promptwise.monitoring.windows import parse_duration

    value = settings.get("alerts_interval")
    if value is None:
        return INTERVAL_S
    seconds = parse_duration(value)
    if seconds is None:
        log.error("promptwise serve: `alerts_interval: %s` is not a duration (e.g. 30s, 5m); checking every %.0f s",
                  value, INTERVAL_S)
        return INTERVAL_S
    return seconds
