"""Alert rules evaluated periodically inside `promptwise serve`, off the request path.

A daemon thread wakes every `interval_s`, checks the workspace's `alerts:` over the span
store with its own connection, logs each alert when it starts firing and when it clears, and
hands firing alerts to the webhook sender's bounded queue (never waiting on it). Rules that
cannot be read are logged once and the loop stays off: serving never stops for monitoring.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger("promptwise.monitoring")

INTERVAL_S = 60.0


class AlertLoop:
    def __init__(self, workspace_root: Path, settings: dict, source: Path | None, *, interval_s: float = INTERVAL_S):
        self.root = Path(workspace_root)
        self.settings, self.source = settings, source
        self.interval_s = interval_s
        self.firing: set[str] = set()
        self.checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender = None

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

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s if self.checks else min(5.0, self.interval_s)):
            try:
                self.check_once()
            except Exception as error:  # noqa: BLE001 - a damaged store, a bug: logged, the loop goes on
                log.warning("promptwise serve: checking alerts failed: %s", error)

    def check_once(self) -> list:
        from promptwise.config import STATE_DIR
        from promptwise.monitoring.alerts import drift_scorer, evaluate
        from promptwise.monitoring.source import open_traces
        from promptwise.monitoring.webhook import WebhookSender, payload

        connection = open_traces(self.root)
        try:
            results = evaluate(connection, self.rules, state_dir=self.root / STATE_DIR,
                               drift_score=drift_scorer(connection, self.root, lambda text: log.warning("alert %s", text)))
        finally:
            if connection is not None:
                connection.close()
        self.checks += 1
        for result in results:
            name = result.rule.name
            if result.firing and name not in self.firing:
                self.firing.add(name)
                log.warning("alert %s", result.message())
                hook = result.rule.webhook or self.default_hook
                if hook:
                    self._sender = self._sender or WebhookSender()
                    self._sender.send(hook, payload(f"Promptwise alert: {name}", [result.message()]))
            elif not result.firing and name in self.firing:
                self.firing.discard(name)
                log.warning("alert %s cleared: %s", name, result.message())
        return results
