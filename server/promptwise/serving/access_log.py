"""The access log's writer: requests append their record to a buffer, a thread writes them.

A write to stderr can block: a pipe whose reader is busy (the editor's extension host, `| tee`,
a container's log driver) stops the writer once its buffer is full. Written on the request path,
that stalled the event loop and every request in flight with it. Here a request only appends
its record to a deque; a thread wakes every `INTERVAL` and writes what has gathered, in the
order it was appended. (A `QueueHandler` woke its thread for every line: in a profile of a
served flow at 200 requests/s the queue's lock and wake-up took 4% of the worker's CPU; the
deque's append is below a microsecond and the thread wakes 20 times a second.)

Bounded: when the writer has fallen `CAPACITY` lines behind (stderr not read at all), further
lines are dropped and counted, and the count is logged once the writer catches up, rather than
the server's memory growing without end. `stop()` (the server's shutdown, after in-flight
requests have finished) writes every line still buffered before it returns: nothing is lost at a
SIGTERM drain. Before `start()` and after `stop()` lines are written directly.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque

CAPACITY = 100_000  # lines (~30 MB) the writer may fall behind before lines are dropped
INTERVAL = 0.05  # seconds between the writer's rounds

log = logging.getLogger("promptwise.serve")


class QueuedLog(logging.Handler):
    """Records for `target`, written by a background thread in the order they came."""

    def __init__(self, target: logging.Handler, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.target = target
        self.capacity = capacity
        self.dropped = 0
        self._reported = 0
        self._records: deque[logging.LogRecord] = deque()
        self._running = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._write_forever, name="promptwise-access-log", daemon=True)
            self._running = True
            self._thread.start()
            atexit.register(self.stop)  # a worker that exits without its lifespan's shutdown

    def stop(self) -> None:
        """Write every buffered line, then write directly from now on."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._running = False  # from here on lines go straight to the target
        self._stopping.set()
        thread.join()
        atexit.unregister(self.stop)
        self._write_buffered()  # a line appended while the thread made its last round

    def emit(self, record: logging.LogRecord) -> None:
        if not self._running:
            self.target.handle(record)
        elif len(self._records) >= self.capacity:
            self.dropped += 1
        else:
            if record.args:  # merged now, while the values are what they were (the access log gives none)
                record.msg, record.args = record.getMessage(), None
            self._records.append(record)

    def _write_forever(self) -> None:
        while not self._stopping.wait(INTERVAL):
            self._write_buffered()
        self._write_buffered()

    def _write_buffered(self) -> None:
        records = self._records
        while records:
            self.target.handle(records.popleft())
        if self.dropped > self._reported:  # caught up: say what was lost
            log.warning("promptwise serve: %d access log lines were dropped: stderr was not being read "
                        "(the writer fell %d lines behind)", self.dropped - self._reported, self.capacity)
            self._reported = self.dropped


def queued(logger: logging.Logger) -> list[QueuedLog]:
    """The logger's queued handlers (started and stopped with the server's lifespan)."""
    return [handler for handler in logger.handlers if isinstance(handler, QueuedLog)]
