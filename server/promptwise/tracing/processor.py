"""A span processor that writes finished spans into the local span store, off the request path.

`on_end` only appends the span to a bounded queue (never blocks: when the queue is full the
span is dropped and counted); one background thread turns spans into records, redacts any
registered secret, and writes them in batches, one transaction per batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from promptwise import span_attributes as attrs
from promptwise.redaction import redact, redact_value
from promptwise.tracing.store import SpanRecord, SpanStore

log = logging.getLogger(__name__)

BATCH_SIZE = 512
FLUSH_INTERVAL_S = 0.5
RETENTION_CHECK_S = 3600.0
DROPPED_COUNTER = "dropped_spans"
_STOP = object()


class StoreSpanProcessor(SpanProcessor):
    def __init__(self, store: SpanStore, *, queue_size: int = 10_000, retention_days: float | None = None,
                 capture_content: bool = True):
        self.store = store
        self.capture_content = capture_content
        self.retention_days = retention_days
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._dropped = 0  # since start; also added to the store's `dropped_spans` counter
        self._unsaved_drops = 0
        self._written = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # spans queued or being written
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="promptwise-span-store", daemon=True)
        self._thread.start()

    # --- SpanProcessor ---------------------------------------------------------------
    def on_start(self, span, parent_context=None) -> None:  # nothing to do before the end
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._closed:
            return
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(span)
        except queue.Full:
            with self._lock:
                self._pending -= 1
                self._dropped += 1
                self._unsaved_drops += 1
                first = self._dropped == 1
            if first:
                log.warning("tracing: the span store queue is full (%d spans); further spans are dropped and "
                            "counted", self._queue.maxsize)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def shutdown(self, timeout_millis: int = 5_000) -> None:
        """Write what is queued (up to the timeout), then stop the writer thread."""
        if self._closed:
            return
        self.force_flush(timeout_millis)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=1.0)
        if self._thread.is_alive():
            log.warning("tracing: the span store writer did not stop in time; %d spans not written", self._pending)
        else:
            self.store.close()

    # --- figures ---------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def written(self) -> int:
        return self._written

    # --- the background writer -------------------------------------------------------
    def _work(self) -> None:
        next_purge = time.monotonic()  # the first batch of the session purges old traces
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=FLUSH_INTERVAL_S)
            except queue.Empty:
                first = None
            batch = [] if first is None or first is _STOP else [first]
            stopping = first is _STOP
            while len(batch) < BATCH_SIZE and not stopping:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
            if batch:
                self._write(batch)
            if self.retention_days and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + RETENTION_CHECK_S
                self._purge()

    def _write(self, batch: list[ReadableSpan]) -> None:
        try:
            records = [to_record(span, capture_content=self.capture_content) for span in batch]
            self._written += self.store.write(records)
            with self._lock:
                drops, self._unsaved_drops = self._unsaved_drops, 0
            if drops:
                self.store.add_counter(DROPPED_COUNTER, drops)
        except Exception as error:  # a full disk or a damaged file: count, say so once, keep serving
            with self._lock:
                self._dropped += len(batch)
            log.warning("tracing: could not store %d spans in %s (%s: %s)", len(batch), self.store.path,
                        type(error).__name__, redact(str(error)))
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _purge(self) -> None:
        try:
            deleted = self.store.delete_older_than(self.retention_days)
            if deleted:
                log.info("tracing: deleted %d traces older than %g days", deleted, self.retention_days)
        except Exception as error:
            log.warning("tracing: could not delete old traces (%s: %s)", type(error).__name__, error)


def to_record(span: ReadableSpan, *, capture_content: bool = True) -> SpanRecord:
    """The store's record of a finished SDK span: ids as hex, secrets redacted, content
    attributes dropped when capture is off (whatever the instrumentation set)."""
    context = span.context
    parent = span.parent
    attributes = _attributes(span.attributes, capture_content)
    status = span.status
    code = {StatusCode.OK: "ok", StatusCode.ERROR: "error"}.get(status.status_code, "unset")
    events = [{"name": event.name, "time_ns": event.timestamp,
               "attributes": _attributes(event.attributes, capture_content)} for event in span.events]
    resource = span.resource.attributes if span.resource is not None else {}
    return SpanRecord(
        trace_id=format_trace_id(context.trace_id), span_id=format_span_id(context.span_id),
        parent_id=format_span_id(parent.span_id) if parent is not None else None,
        name=redact(span.name), start_ns=span.start_time or 0, end_ns=span.end_time or span.start_time or 0,
        status=code, error_message=redact(status.description) if status.description else None,
        attributes=attributes, events=events, is_root=parent is None or parent.is_remote,
        service=str(resource.get("service.name")) if resource.get("service.name") else None,
    )


def _attributes(raw: Any, capture_content: bool) -> dict[str, Any]:
    if not raw:
        return {}
    result = {}
    for key, value in raw.items():
        if not capture_content and key in attrs.CONTENT_ATTRIBUTES:
            continue
        if isinstance(value, str):
            value = redact(value)
        elif isinstance(value, tuple):
            value = redact_value(list(value))
        result[key] = value
    return result
