"""The span store's writer in a child process (tracing/writer.py), as `promptwise serve` runs it:
everything ended is stored at a flush and at shutdown, secrets and personal data are handled
as in-process, a stalled writer never blocks the spans' thread (drops are counted and said), a
signal to the child loses nothing, and a dead child is replaced by the in-process writer."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.evaluation.pii_policy import PiiPolicy
from promptwise.redaction import register_secret
from promptwise.tracing.processor import DROPPED_COUNTER
from promptwise.tracing.store import SpanStore
from promptwise.tracing.writer import ProcessSpanProcessor

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="stops the child with POSIX signals")


def _tracer(processor):
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider.get_tracer("test")


def _spans(tracer, count: int, prefix: str = "span", **attributes) -> None:
    for index in range(count):
        with tracer.start_as_current_span(f"{prefix} {index}", attributes={A.SPAN_KIND: "function", **attributes}):
            pass


def _stored(path: Path) -> list[str]:
    store = SpanStore(path, readonly=True)
    try:
        return [row[0] for row in store._connection.execute("SELECT name FROM spans ORDER BY name")]
    finally:
        store.close()


@pytest.fixture
def processor(tmp_path):
    made = []

    def make(**options) -> ProcessSpanProcessor:
        made.append(ProcessSpanProcessor(SpanStore(tmp_path / "traces.sqlite"), **options))
        return made[-1]

    yield make
    for one in made:
        one.shutdown()


def test_shutdown_stores_every_span_and_ends_the_child(processor, tmp_path):
    writer = processor()
    assert writer.in_child
    _spans(_tracer(writer), 300)
    writer.shutdown()  # no flush before: the drain itself writes everything
    assert len(_stored(tmp_path / "traces.sqlite")) == 300
    assert writer._child.returncode == 0
    assert writer.written == 300 and writer.dropped == 0


def test_a_flush_makes_the_spans_readable_while_the_writer_goes_on(processor, tmp_path):
    writer = processor()
    tracer = _tracer(writer)
    _spans(tracer, 5, "early")
    assert writer.force_flush(10_000)
    assert _stored(tmp_path / "traces.sqlite") == [f"early {i}" for i in range(5)]
    _spans(tracer, 3, "late")
    assert writer.force_flush(10_000)
    assert len(_stored(tmp_path / "traces.sqlite")) == 8 and writer.written == 8


def test_secrets_registered_here_and_personal_data_are_masked_by_the_child(processor, tmp_path):
    writer = processor(pii=PiiPolicy())
    tracer = _tracer(writer)
    _spans(tracer, 1, "before")  # the child is running before the secret exists
    assert writer.force_flush(10_000)
    register_secret("sk-writer-process-secret-77")
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "write to ana.lopez@example.com"}]}]'
    _spans(tracer, 1, "call sk-writer-process-secret-77", **{A.GEN_AI_INPUT_MESSAGES: messages})
    writer.shutdown()
    data = b"".join(path.read_bytes() for path in tmp_path.glob("traces.sqlite*"))
    assert b"sk-writer-process-secret-77" not in data and b"ana.lopez@example.com" not in data
    assert "call *** 0" in _stored(tmp_path / "traces.sqlite")


@posix_only
def test_a_stalled_writer_never_blocks_the_spans_and_every_drop_is_counted(processor, tmp_path, caplog):
    writer = processor(queue_size=50)
    tracer = _tracer(writer)
    _spans(tracer, 1, "first")
    assert writer.force_flush(10_000)
    os.kill(writer._child.pid, signal.SIGSTOP)  # the writer takes nothing: the pipe, then the buffer, fill up
    try:
        with caplog.at_level(logging.WARNING, logger="promptwise.tracing.writer"):
            _spans(tracer, 3000, "stalled", **{"filler": "x" * 400})  # far more than the pipe and the buffer hold
        assert writer.dropped > 0  # here, at once: nothing waited for the stalled writer
        assert any("cannot keep up" in record.getMessage() for record in caplog.records)
    finally:
        os.kill(writer._child.pid, signal.SIGCONT)
    assert writer.force_flush(30_000)
    writer.shutdown()
    dropped = writer.dropped  # here, and in the child when its own queue (as long) was full
    assert len(_stored(tmp_path / "traces.sqlite")) + dropped == 3001  # every span is either stored or counted
    assert SpanStore(tmp_path / "traces.sqlite").counter(DROPPED_COUNTER) == dropped


@posix_only
def test_a_signal_to_the_child_loses_nothing(processor, tmp_path):
    writer = processor()
    tracer = _tracer(writer)
    _spans(tracer, 10, "before")
    assert writer.force_flush(10_000)
    os.kill(writer._child.pid, signal.SIGTERM)  # as a process group's stop: the child waits for its parent
    os.kill(writer._child.pid, signal.SIGINT)
    _spans(tracer, 10, "after")
    writer.shutdown()
    assert len(_stored(tmp_path / "traces.sqlite")) == 20 and writer.in_child


@posix_only
def test_a_dead_child_is_replaced_by_the_in_process_writer(processor, tmp_path, caplog):
    writer = processor()
    tracer = _tracer(writer)
    _spans(tracer, 4, "before")
    assert writer.force_flush(10_000)
    with caplog.at_level(logging.WARNING, logger="promptwise.tracing.writer"):
        os.kill(writer._child.pid, signal.SIGKILL)
        writer._child.wait(10)
        _spans(tracer, 6, "after")
        assert writer.force_flush(10_000)
    assert not writer.in_child
    assert any("writer process stopped" in record.getMessage() for record in caplog.records)
    writer.shutdown()
    assert len(_stored(tmp_path / "traces.sqlite")) == 10


def test_configure_for_serving_writes_through_the_child_and_flushes_at_shutdown(tmp_path):
    (tmp_path / ".git").mkdir()
    assert tracing.configure(tmp_path, service_name="promptwise-serve", writer_process=True)
    processor = tracing._store_processor
    assert isinstance(processor, ProcessSpanProcessor) and processor.in_child
    tracer = tracing.get_tracer("test")
    for index in range(7):
        with tracer.start_as_current_span(f"request {index}", attributes={A.SPAN_KIND: "request"}):
            pass
    tracing.shutdown()
    assert len(_stored(tmp_path / ".promptwise" / "traces.sqlite")) == 7
    assert processor._child.returncode == 0


def test_an_encrypted_store_is_sealed_by_the_child_from_the_setting_and_in_process_without_one(tmp_path,
                                                                                               monkeypatch):
    pytest.importorskip("cryptography")
    from promptwise.store.encryption import Keyring, key_from_reference
    from promptwise.tracing.settings import parse_settings

    monkeypatch.setenv("PW_TEST_STORE_KEY", "k" * 44)
    settings = parse_settings({"encrypt": {"key": "${env:PW_TEST_STORE_KEY}"}})
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "the sealed words"}]}]'
    for name, encrypt in (("child", settings.encrypt), ("here", None)):
        keyring = Keyring(key_from_reference("${env:PW_TEST_STORE_KEY}", "tracing.encrypt.key"))
        path = tmp_path / f"{name}.sqlite"
        writer = ProcessSpanProcessor(SpanStore(path, keyring=keyring), encrypt=encrypt)
        try:
            assert writer.in_child is (encrypt is not None)  # without the setting the AES keys stay here
            _spans(_tracer(writer), 2, **{A.GEN_AI_INPUT_MESSAGES: messages})
        finally:
            writer.shutdown()
        assert b"the sealed words" not in b"".join(part.read_bytes() for part in tmp_path.glob(f"{name}.sqlite*"))
        reader = SpanStore(path, keyring=keyring)
        [trace] = reader.list_traces(limit=1)
        [span] = reader.get_trace(trace["trace_id"])["spans"]
        assert span["attributes"][A.GEN_AI_INPUT_MESSAGES] == messages  # opened with the same key
        assert len(_stored(path)) == 2


def test_a_span_that_cannot_be_sent_is_dropped_counted_and_said_while_the_others_are_stored(processor, tmp_path,
                                                                                           caplog):
    writer = processor()
    tracer = _tracer(writer)
    with caplog.at_level(logging.WARNING, logger="promptwise.tracing.writer"):
        _spans(tracer, 2, "good")
        writer.on_end(object())  # no span at all (a foreign processor chain's mistake)
        _spans(tracer, 2, "also good")
        assert writer.force_flush(10_000)
    assert writer.in_child and writer.dropped == 1
    assert any("could not be handed to the writer process" in record.getMessage() for record in caplog.records)
    writer.shutdown()
    assert len(_stored(tmp_path / "traces.sqlite")) == 4
    assert SpanStore(tmp_path / "traces.sqlite").counter(DROPPED_COUNTER) == 1


PARENT = """
import sys, time
from pathlib import Path
from opentelemetry.sdk.trace import TracerProvider
from promptwise.tracing.store import SpanStore
from promptwise.tracing.writer import ProcessSpanProcessor
writer = ProcessSpanProcessor(SpanStore(Path(sys.argv[1])))
provider = TracerProvider()
provider.add_span_processor(writer)
tracer = provider.get_tracer("test")
for index in range(50):
    with tracer.start_as_current_span(f"span {index}"):
        pass
while writer._sent < 50:  # handed to the child, not yet known written
    time.sleep(0.01)
print(writer._child.pid, flush=True)
time.sleep(60)
"""


@posix_only
def test_a_worker_killed_outright_leaves_no_writer_behind_and_its_sent_spans_are_stored(tmp_path):
    import subprocess
    import time

    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "traces.sqlite")], stdout=subprocess.PIPE,
                              text=True)
    try:
        child = int(parent.stdout.readline())
        parent.kill()  # no shutdown, no flush: the child sees its input close
        parent.wait(10)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{child}").exists() and _state(child) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"  # ended (a zombie until init reaps it)
    finally:
        parent.kill()
    assert len(_stored(tmp_path / "traces.sqlite")) == 50


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"
