"""The span store on a disk that is full (SQLite's own limit, `PRAGMA max_page_count`, answers
SQLITE_FULL exactly as a full disk does): one error that says what happened and what to do,
spans dropped and counted without a write attempt per batch, nothing raised to the code that
ends spans, and recording resumed once the disk takes writes again. A real `promptwise serve`
over a file-size limit: tests/serving/test_serve_full_disk.py."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import TracerProvider

from promptwise import span_attributes as A
from promptwise.tracing import processor as processor_module
from promptwise.tracing.processor import StoreSpanProcessor
from promptwise.tracing.store import SpanStore

CONTENT = "x" * 3000  # a prompt-sized attribute: a page or so per span


def _end_spans(tracer, count: int) -> None:
    for number in range(count):
        with tracer.start_as_current_span(f"node {number}") as span:
            span.set_attribute(A.NODE_INPUTS, CONTENT)


def test_a_full_disk_stops_recording_with_one_error_and_resumes(tmp_path, caplog, monkeypatch):
    store = SpanStore(tmp_path / "traces.sqlite")
    pages = store._connection.execute("PRAGMA page_count").fetchone()[0]
    store._connection.execute(f"PRAGMA max_page_count = {pages + 40}")  # room for a few batches only
    attempts = []
    write = store.write
    monkeypatch.setattr(store, "write", lambda records: attempts.append(1) or write(records))
    processor = StoreSpanProcessor(store)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    caplog.set_level(logging.WARNING, logger="promptwise.tracing")

    for _ in range(8):  # eight batches: the first few fit, then the disk is full
        _end_spans(tracer, 10)
        assert processor.force_flush(10_000)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "refuses writes" in errors[0].getMessage()
    assert "span recording stopped" in errors[0].getMessage() and "Free space" in errors[0].getMessage()
    assert not [record for record in caplog.records if record.levelno == logging.WARNING]
    assert 0 < processor.written < 80 and processor.dropped == 80 - processor.written
    tried = len(attempts)
    _end_spans(tracer, 10)
    assert processor.force_flush(10_000)
    assert len(attempts) == tried  # not tried again within disk_full.RETRY_S: dropped and counted
    assert processor.dropped == 90 - processor.written

    store._connection.execute("PRAGMA max_page_count = 1000000")  # space freed
    processor._disk.refused_until = 0.0  # the retry time has come
    written = processor.written
    _end_spans(tracer, 10)
    assert processor.force_flush(10_000)
    assert processor.written == written + 10
    assert any("recording resumed" in record.getMessage() for record in caplog.records)
    assert store.counter(processor_module.DROPPED_COUNTER) == processor.dropped  # the drops were counted
    provider.shutdown()
