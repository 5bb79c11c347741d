"""The span store's writer in a process of its own, for `promptwise serve`.

Why: in a served worker the store's writer thread (tracing/processor.py) shares the GIL with the
event loop. Each time the loop wakes (a request arrives, a model answers) while the writer turns
spans into rows (secret redaction, the PII scan, JSON, SQLite), the loop waits for the GIL: up to
the 5 ms switch interval per wake-up, and for the whole of one long C call (the PII scan of a
batch's content is one regex pass over tens of KB). Measured (benchmarks/span_writer_tail.py): the
loop's wake-up lateness at p99 went from ~4 ms untraced to ~20 ms with the writer thread, which
is what made the traced serving tail ~6x the untraced one. In a process of its own the writer's
work is shared out by the OS scheduler, which lets a waking event loop run at once, and never
holds the loop's GIL.

Parent side (`ProcessSpanProcessor`): `on_end` appends the span to a bounded buffer, as the
thread processor does. A feeder thread turns each span into a plain tuple (ids, times, status,
attributes, events: what `to_record` reads) every FEED_INTERVAL_S and sends them, pickled, over
the child's stdin; the registered secrets go with them whenever they change, so the child
redacts exactly what this process would. A reader thread takes the child's answers (its written
and dropped counts, flush acknowledgements). Child side (`main`): a StoreSpanProcessor (the same
redaction, PII policy, batching, retention, full-disk handling and drop counting as in-process)
fed with those spans. SIGINT and SIGTERM are ignored there: the child ends when its parent says
stop or its stdin closes, after writing what it holds, so a drain never loses spans to a signal
sent to the whole process group.

If the child cannot start or dies, the parent says so once and writes in-process from then on
(the spans the child held and had not written are counted as dropped). With `tracing.encrypt`
the child derives the same keys from the setting's `${env:...}` references in the environment it
inherited (the keyring's AES objects do not pickle); given a keyring without that setting, the
writer stays in-process.
"""

from __future__ import annotations

import collections
import gc
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import StatusCode
from opentelemetry.trace.status import Status

from promptwise import redaction
from promptwise.tracing.processor import WRITER_PROCESS_VARIABLE, StoreSpanProcessor, SpanProcessor
from promptwise.tracing.store import SpanStore

log = logging.getLogger(__name__)

FEED_INTERVAL_S = 0.05  # spans reach the child this often: small messages, short GIL holds for the pickling
CHUNK = 64  # spans per message (one pickling holds the GIL ~0.1 ms for a served request's 8 spans x 8)
PROFILE_VARIABLE = "PROMPTWISE_WRITER_PROFILE"  # a file prefix: the child's writer thread under cProfile
STATUS_INTERVAL_S = 1.0  # the child reports its written/dropped counts at most this often (and at each flush)
_HEADER = struct.Struct(">I")


# --- the wire: length-prefixed pickles over the child's stdin / stdout --------------------------
def _frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def _send(stream, message: Any) -> None:
    stream.write(_frame(message))


def _receive(stream) -> Any:
    """The next message; EOFError when the other side closed the pipe."""
    header = _read_exactly(stream, _HEADER.size)
    return pickle.loads(_read_exactly(stream, _HEADER.unpack(header)[0]))


def _read_exactly(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def plain_span(span) -> tuple:
    """What `to_record` reads of a finished span (the SDK's or a LocalSpan), as plain values that
    pickle: ids, parent, name, times, status, attributes, events, service name."""
    context, parent, status, resource = span.context, span.parent, span.status, span.resource
    attributes = span.attributes  # a LocalSpan's dict; the SDK's span: a read-only view of BoundedAttributes
    if type(attributes) is not dict:
        attributes = dict(attributes._dict) if type(attributes) is BoundedAttributes else dict(attributes or {})
    events = span.events
    return (context.trace_id, context.span_id, parent.span_id if parent is not None else None,
            parent is not None and parent.is_remote, span.name, span.start_time, span.end_time,
            status.status_code.value, status.description, attributes or {},
            [(event.name, event.timestamp, dict(event.attributes or {})) for event in events] if events else None,
            resource.attributes.get("service.name") if resource is not None else None)


class _NotPicklable(Exception):
    """A message to the child held a value that does not pickle (nothing was written)."""


class _Ids:
    __slots__ = ("trace_id", "span_id", "is_remote")

    def __init__(self, trace_id: int, span_id: int, is_remote: bool = False) -> None:
        self.trace_id, self.span_id, self.is_remote = trace_id, span_id, is_remote


class _Event:
    __slots__ = ("name", "timestamp", "attributes")

    def __init__(self, name: str, timestamp: int, attributes: dict) -> None:
        self.name, self.timestamp, self.attributes = name, timestamp, attributes


class _Resource:
    __slots__ = ("attributes",)

    def __init__(self, service: str | None) -> None:
        self.attributes = {"service.name": service} if service else {}


class PlainSpan:
    """A finished span rebuilt in the writer process from `plain_span`'s tuple: the fields
    `to_record` reads."""

    __slots__ = ("context", "parent", "name", "start_time", "end_time", "status", "attributes", "events", "resource")

    def __init__(self, fields: tuple) -> None:
        (trace_id, span_id, parent_id, parent_remote, self.name, self.start_time, self.end_time, code, description,
         self.attributes, events, service) = fields
        self.context = _Ids(trace_id, span_id)
        self.parent = _Ids(trace_id, parent_id, parent_remote) if parent_id is not None else None
        self.status = Status(StatusCode(code), description) if description else _STATUSES[code]
        self.events = [_Event(*event) for event in events] if events else []
        self.resource = _Resource(service)


_STATUSES = {code.value: Status(code) for code in StatusCode}


# --- the parent's side ---------------------------------------------------------------------------
class ProcessSpanProcessor(SpanProcessor):
    """A span processor whose spans are written by a child process (see the module's doc);
    the same contract as StoreSpanProcessor: `on_end` never blocks, a full buffer drops and
    counts, `force_flush` returns once every span ended before it is in the store."""

    def __init__(self, store: SpanStore, *, queue_size: int = 10_000, retention_days: float | None = None,
                 capture_content: bool = True, pii=None, encrypt=None):
        self.store = store
        self._encrypt = encrypt  # `tracing.encrypt` (env references, no key): the child builds its own keyring
        self.queue_size = queue_size
        self._settings = dict(queue_size=queue_size, retention_days=retention_days, capture_content=capture_content,
                              pii=pii)
        self._buffer: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._state = threading.Condition()  # guards the counts below; notified on each answer from the child
        self._dropped = 0  # here: the buffer was full, or a span did not pickle
        self._unpicklable = 0
        self._forwarded_drops = 0  # of those, told to the child (which adds them to the store's counter)
        self._child_written = self._child_dropped = 0  # as the child last reported them
        self._sent = 0  # spans handed to the child
        self._flush_asked = self._flush_sent = self._flush_done = 0  # flush tokens
        self._secrets_sent: object = None  # redaction's ordered forms when the secrets were last sent
        self._closed = self._stopping = False
        self._inline: StoreSpanProcessor | None = None  # the in-process writer, once the child is gone
        self._child = self._start_child(store.keyring)
        if self._child is None:
            self._fall_back(None)
            return
        self._feeder = threading.Thread(target=self._feed, name="promptwise-span-feeder", daemon=True)
        self._reader = threading.Thread(target=self._read, name="promptwise-span-acks", daemon=True)
        self._feeder.start()
        self._reader.start()

    def _start_child(self, keyring) -> subprocess.Popen | None:
        sealing = keyring is not None and keyring.sealing
        if sealing and self._encrypt is None:
            return None  # the AES keys do not pickle and the child has no setting to derive them: in-process
        opening = {"path": str(self.store.path), "encrypt": self._encrypt if sealing else None, **self._settings}
        try:
            first = _frame(("open", opening))  # before the child starts: settings that do not pickle start none
            child = None
            child = subprocess.Popen([sys.executable, "-m", "promptwise.tracing.writer"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0,
                                     env={**os.environ, WRITER_PROCESS_VARIABLE: "1"})
            child.stdin.write(first)
        except Exception as error:  # noqa: BLE001 - no child: the spans are written in this process
            if child is not None:
                child.kill()
            log.warning("tracing: the span writer process did not start (%s: %s); spans are written in this "
                        "process", type(error).__name__, error)
            return None
        return child

    # --- SpanProcessor ---------------------------------------------------------------
    def on_start(self, span, parent_context=None) -> None:
        return None

    def on_end(self, span) -> None:
        if self._closed:
            return
        inline = self._inline
        if inline is not None:
            inline.on_end(span)
            return
        if len(self._buffer) >= self.queue_size:
            with self._state:
                self._dropped += 1
                first = self._dropped == 1
            if first:
                log.warning("tracing: the span store cannot keep up (%d spans waiting); further spans are dropped "
                            "and counted", self.queue_size)
            return
        self._buffer.append(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        if self._inline is None:
            with self._state:
                self._flush_asked += 1
                token = self._flush_asked
                self._wake.set()
                while self._flush_done < token and self._inline is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._state.wait(min(left, 0.05))
                if self._inline is None:
                    return True
        return self._inline.force_flush(max(0, int((deadline - time.monotonic()) * 1000)))

    def shutdown(self, timeout_millis: int = 5_000) -> None:
        """Write what is waiting (up to the timeout), then stop the child (it ends after writing
        what it holds)."""
        if self._closed:
            return
        deadline = time.monotonic() + timeout_millis / 1000
        self.force_flush(timeout_millis)
        self._closed = self._stopping = True
        self._wake.set()
        if self._inline is not None:
            self._inline.shutdown(max(0, int((deadline - time.monotonic()) * 1000)))
            return
        self._feeder.join(timeout=max(0.1, deadline - time.monotonic()))
        try:
            self._child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("tracing: the span writer process is still writing; it goes on after this process ends")
        self.store.close()

    # --- figures ---------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        inline = self._inline.dropped if self._inline is not None else 0
        return self._dropped + self._child_dropped + inline

    @property
    def written(self) -> int:
        return self._child_written + (self._inline.written if self._inline is not None else 0)

    @property
    def in_child(self) -> bool:
        """Whether a child process writes the spans (False once it is gone, or when it never started)."""
        return self._inline is None

    # --- the feeder and the reader threads ------------------------------------------------
    def _feed(self) -> None:
        stream = self._child.stdin
        chunk: list[tuple] = []  # the spans being sent
        try:
            while True:
                self._wake.wait(FEED_INTERVAL_S)
                self._wake.clear()
                stopping = self._stopping  # once set, no span is added (on_end sees _closed, set before it)
                with self._state:
                    flush = self._flush_asked  # every span ended before this flush was asked is in the buffer
                self._send_secrets(stream)
                buffer = self._buffer
                while buffer:
                    chunk = []
                    while buffer and len(chunk) < CHUNK:
                        span = buffer.popleft()
                        try:
                            chunk.append(plain_span(span))
                        except Exception as error:  # noqa: BLE001 - not a span as the SDK makes them
                            self._refuse(error)
                    try:
                        self._send(stream, "spans", chunk)
                    except _NotPicklable:  # a value that does not pickle: that span alone is dropped
                        chunk = self._picklable(chunk)
                        self._send(stream, "spans", chunk)
                    self._sent += len(chunk)
                    chunk = []
                if flush > self._flush_sent:
                    self._send(stream, "flush", flush)
                    self._flush_sent = flush
                if stopping:
                    self._send(stream, "stop", None)
                    stream.close()
                    return
        except Exception as error:  # noqa: BLE001 - the child is gone (a broken pipe), or a bug here: never silent
            self._fall_back(error, [PlainSpan(fields) for fields in chunk])

    def _send(self, stream, kind: str, payload: Any) -> None:
        """One message to the child, with the drops counted here since the last one (the child
        adds them to the store's counter). _NotPicklable, with nothing written, when the payload
        does not pickle; a write's error (the child is gone) as it is."""
        drops = self._dropped - self._forwarded_drops
        try:
            frame = _frame((kind, payload, drops))
        except Exception as error:  # noqa: BLE001 - pickle raises TypeError, AttributeError, PicklingError...
            raise _NotPicklable() from error
        stream.write(frame)
        self._forwarded_drops += drops

    def _picklable(self, chunk: list[tuple]) -> list[tuple]:
        """The spans of `chunk` that pickle; the others dropped, counted and said once."""
        kept = []
        for fields in chunk:
            try:
                pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
                kept.append(fields)
            except Exception as error:  # noqa: BLE001
                self._refuse(error)
        return kept

    def _refuse(self, error: Exception) -> None:
        """A span that cannot be handed to the child: dropped and counted, said once."""
        with self._state:
            self._dropped += 1
            first = not self._unpicklable
            self._unpicklable += 1
        if first:
            log.warning("tracing: a span could not be handed to the writer process (%s: %s); such spans are "
                        "dropped and counted", type(error).__name__, error)

    def _send_secrets(self, stream) -> None:
        """The registered secrets, when they changed since the last time (redaction swaps its
        ordered forms on every change): the child redacts what this process would."""
        ordered = redaction._ordered
        if ordered is self._secrets_sent:
            return
        with redaction._lock:
            ordered, secrets = redaction._ordered, tuple(redaction._secrets)
        self._send(stream, "secrets", secrets)
        self._secrets_sent = ordered

    def _read(self) -> None:
        stream = self._child.stdout
        try:
            while True:
                kind, written, dropped, token = _receive(stream)
                with self._state:
                    self._child_written, self._child_dropped = written, dropped
                    if kind == "flushed":
                        self._flush_done = max(self._flush_done, token)
                    self._state.notify_all()
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            pass
        if not self._stopping:
            self._fall_back(EOFError("the span writer process ended"))

    def _fall_back(self, error: BaseException | None, unsent: list | None = None) -> None:
        """Write in this process from now on (the child never started, or is gone); `unsent`:
        spans the feeder took from the buffer but could not send."""
        with self._state:
            if self._inline is not None:
                for span in unsent or ():
                    self._inline.on_end(span)
                return
            inline = StoreSpanProcessor(self.store, **self._settings)
            if error is not None:
                child = self._child
                if child.poll() is None:  # alive (the feeder failed): it writes what it holds once its input closes
                    lost = 0
                    try:
                        child.stdin.close()
                    except OSError:
                        pass
                else:  # what it had not reported written or dropped (its last report is up to a second old)
                    lost = max(0, self._sent - self._child_written - self._child_dropped)
                    inline._drop(lost, full_queue=False)
                log.warning("tracing: the span writer process stopped (%s: %s); spans are written in this process "
                            "from now on (up to %d it held were not written)", type(error).__name__, error, lost)
            for span in unsent or ():
                inline.on_end(span)
            self._inline = inline
            self._state.notify_all()
        while self._buffer:  # spans not yet sent go to the in-process writer, in order
            try:
                inline.on_end(self._buffer.popleft())
            except IndexError:
                break


# --- the child's side -----------------------------------------------------------------------------
def _background_scheduling() -> None:
    """Linux: SCHED_BATCH, the policy for CPU work nobody waits on. The writer keeps its fair share
    of the CPU (its queue never starves), but waking up it never preempts a running event loop.
    Left as it is under a real-time policy (a benchmark's SCHED_RR): there it competes as its
    parent does."""
    if hasattr(os, "SCHED_BATCH") and os.sched_getscheduler(0) == os.SCHED_OTHER:
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass


# The writer process's SQLite page cache: 4 MB, not the 16 MB an in-process writer takes. The
# cache fills to its size on any store and each worker has a writer; serving log-triage it held
# a 1-worker writer at 50 MB RSS, 38 MB with 2 MB. Writing to a 439 MB store cost the same CPU
# with 4 or 16 MB (0.34 / 0.35 ms per request, medians of 4 alternating rounds).
CACHE_MB = 4
YOUNG_GC_THRESHOLD = 10_000  # net allocations between young collections (Python: 700), as a served worker's


def _settle_heap() -> None:
    """Once the store is open: what start-up made moved out of the collector's sight, and the
    young generation collected every 10,000 allocations instead of 700, as serving/app.py
    `_settle_heap` does for the worker. Turning spans into rows allocates a few hundred small
    containers per span, all freed by reference counting: with Python's thresholds the
    collector cost ~0.05-0.13 ms of CPU per served request here, ~0.01 after (log-triage's
    spans turned into rows and written in one process, the two settings alternating)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # 0: automatic collection turned off by the operator, left so
        gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), middle, old)


def main() -> int:
    """The writer process: spans from stdin into the store, answers on stdout."""
    for name in ("SIGINT", "SIGTERM"):  # the parent decides when to stop: a drain must not lose spans
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    _background_scheduling()
    inbox, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        kind, opening = _receive(inbox)
    except EOFError:
        return 0
    encrypt = opening.pop("encrypt", None)
    keyring = None
    if encrypt is not None:  # the same keys, derived here from the environment this process inherited
        from promptwise.store.encryption import keyring_from_settings

        keyring = keyring_from_settings(encrypt, strict=True)
    processor = StoreSpanProcessor(SpanStore(opening.pop("path"), keyring=keyring), cache_mb=CACHE_MB, **opening)
    _settle_heap()
    forwarded = 0  # drops the parent counted and told us (in processor.dropped, not ours to report)
    secrets: set[str] = set()
    last_status = 0.0
    reported = (0, 0)

    def answer(kind: str, token: int = 0) -> None:
        nonlocal last_status, reported
        reported = (processor.written, processor.dropped - forwarded)
        _send(answers, (kind, *reported, token))
        answers.flush()
        last_status = time.monotonic()

    try:
        while True:
            try:
                kind, payload, *rest = _receive(inbox)
            except EOFError:  # the parent is gone: write what we hold, then end
                break
            if rest and rest[0]:  # spans the parent dropped (and said so): for the store's counter
                processor._drop(rest[0], full_queue=False)
                forwarded += rest[0]
            if kind == "spans":
                for fields in payload:
                    processor.on_end(PlainSpan(fields))
            elif kind == "secrets":
                wanted = set(payload)
                for secret in secrets - wanted:
                    redaction.forget_secret(secret)
                for secret in wanted - secrets:
                    redaction.register_secret(secret)
                secrets = wanted
            elif kind == "flush":
                processor.force_flush()
                answer("flushed", payload)
                continue
            elif kind == "stop":
                break
            if time.monotonic() - last_status >= STATUS_INTERVAL_S and \
                    (processor.written, processor.dropped - forwarded) != reported:
                answer("status")
    finally:
        processor.shutdown(timeout_millis=60_000)
        try:
            answer("stopped")
        except OSError:
            pass
    return 0


def _profiled_main() -> int:
    """`main` with the store processor's writer thread (where the work is: the main thread
    mostly waits on the pipe) under cProfile when PROFILE_VARIABLE names a file prefix; the
    stats go to PREFIX.PID when the thread ends. Where the writer's CPU goes on a real serve run."""
    prefix = os.environ.get(PROFILE_VARIABLE)
    if not prefix:
        return main()
    import cProfile

    work = StoreSpanProcessor._work

    def profiled_work(processor) -> None:
        profiler = cProfile.Profile(time.thread_time)  # CPU, not wall: waits and preemption left out
        try:
            profiler.runcall(work, processor)
        finally:
            profiler.dump_stats(f"{prefix}.{os.getpid()}")

    StoreSpanProcessor._work = profiled_work
    return main()


if __name__ == "__main__":
    sys.exit(_profiled_main())
