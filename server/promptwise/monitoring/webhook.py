"""Alert delivery to webhooks, off the caller's path.

One JSON body that both Slack incoming webhooks (`text`) and Microsoft Teams connectors
(MessageCard: `text` plus `summary`/`title`) accept. A bounded queue feeds one daemon
thread; `send` never blocks (a full queue drops and counts the alert), and each post is
retried with exponential back-off when the receiver is down or answers 429/5xx. The URL
comes from an environment variable and is never logged (only its host is).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

QUEUE_SIZE = 100
ATTEMPTS = 4
FIRST_DELAY_S = 0.5  # then 1 s, 2 s: a receiver that is down costs at most ~3.5 s of waiting
TIMEOUT_S = 5.0


def payload(title: str, lines: list[str]) -> dict:
    """Slack- and Teams-compatible JSON for firing alerts."""
    text = "\n".join(lines)
    return {"text": f"*{title}*\n{text}", "summary": title, "title": title,
            "@type": "MessageCard", "@context": "https://schema.org/extensions", "themeColor": "B00020"}


@dataclass
class Delivery:
    url_variable: str
    body: dict


class WebhookSender:
    """Posts queued deliveries from a background thread; see the module's docstring."""

    def __init__(self, *, attempts: int = ATTEMPTS, first_delay_s: float = FIRST_DELAY_S,
                 timeout_s: float = TIMEOUT_S, queue_size: int = QUEUE_SIZE):
        self.attempts, self.first_delay_s, self.timeout_s = attempts, first_delay_s, timeout_s
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.delivered = 0
        self.failed: list[str] = []  # what went wrong, without the URL's secret parts
        self._thread = threading.Thread(target=self._run, name="promptwise-alert-webhook", daemon=True)
        self._thread.start()

    def send(self, url_variable: str, body: dict) -> bool:
        """Queue a post; False (and counted) when the queue is full. Never blocks."""
        try:
            self._queue.put_nowait(Delivery(url_variable, body))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for queued posts to finish; True when they all did."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(delivery)
            except Exception as error:  # a bug here must not end the thread
                log.warning("alert webhook: %s", error)
                self.failed.append(str(error))
            finally:
                self._queue.task_done()

    def _deliver(self, delivery: Delivery) -> None:
        url = os.environ.get(delivery.url_variable, "").strip()
        if not url:
            self.failed.append(f"${{env:{delivery.url_variable}}} is not set; the alert was not posted")
            return
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if parts.scheme not in ("http", "https"):
            self.failed.append(f"${{env:{delivery.url_variable}}} is not an http(s) URL; the alert was not posted")
            return
        data = json.dumps(delivery.body).encode("utf-8")
        delay = self.first_delay_s
        problem = ""
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=data, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (http/https only)
                    response.read()
                self.delivered += 1
                return
            except urllib.error.HTTPError as error:
                problem = f"HTTP {error.code}"
                if error.code not in (408, 429) and error.code < 500:
                    break  # the receiver refuses this body: retrying will not help
            except (urllib.error.URLError, OSError, ValueError) as error:
                problem = type(getattr(error, "reason", error)).__name__
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        message = f"webhook at {host} (${{env:{delivery.url_variable}}}) failed: {problem}"
        log.warning("alert %s", message)
        self.failed.append(message)
