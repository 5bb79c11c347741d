"""Metering and online evaluation on a full disk behave as the trace store does (store/disk_full.py):
one error saying what stopped and what to do, no write attempt for a minute after it (metering
keeps its totals in memory, online evaluation counts the requests it did not score), and recording
resumed once the disk takes writes again. The full disk is SQLite's own: `PRAGMA max_page_count`
at the file's current size answers SQLITE_FULL exactly as a full disk does."""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest

from promptwise.evaluation.safety import PiiEvaluator
from promptwise.monitoring.online_eval import Finished, OnlineEvaluation
from promptwise.serving.metering import Meter, usage_by_consumer
from promptwise.store.disk_full import DiskGate, disk_refusal


def _capped(connect, attempts: list):
    """`connect` whose connections may not grow the file by a single page."""

    def capped(self):
        connection = connect(self)
        attempts.append(1)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")
        return connection

    return capped


def _errors_and_warnings(caplog) -> tuple[list[str], list[str]]:
    return ([r.getMessage() for r in caplog.records if r.levelno == logging.ERROR],
            [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING])


def test_metering_says_it_once_keeps_the_totals_and_writes_them_when_the_disk_takes_them(tmp_path, caplog,
                                                                                           monkeypatch):
    caplog.set_level(logging.WARNING)
    meter = Meter(tmp_path / "metering.sqlite")
    attempts: list = []
    connect = Meter._connect
    monkeypatch.setattr(Meter, "_connect", _capped(connect, attempts))
    for flush in range(5):
        for consumer in range(200):  # rows enough to need new pages
            meter.record(f"consumer-{consumer:03d}", "v1", prompt_tokens=10, completion_tokens=5, cost=0.01,
                         error=False)
        meter.flush()
    errors, warnings = _errors_and_warnings(caplog)
    assert len(errors) == 1 and "metering: the disk holding" in errors[0] and "refuses writes" in errors[0]
    assert "Free space" in errors[0] and warnings == []
    assert len(attempts) == 1  # later flushes within the minute did not try

    monkeypatch.setattr(Meter, "_connect", connect)  # space freed, and the minute has passed
    meter._disk.refused_until = 0.0
    meter.flush()
    assert any("recording resumed" in message for message in _errors_and_warnings(caplog)[1])
    usage = usage_by_consumer(tmp_path / "metering.sqlite")
    assert len(usage) == 200 and {row["requests"] for row in usage.values()} == {5}  # nothing lost


def test_online_evaluation_says_it_once_and_counts_what_it_did_not_score(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    attempts: list = []
    monkeypatch.setattr(OnlineEvaluation, "_connect", _capped(OnlineEvaluation._connect, attempts))
    online = OnlineEvaluation(tmp_path / "traces.sqlite", [PiiEvaluator("pii")], sample_rate=1.0, queue_size=1000,
                              concurrency=4)
    offered = 400
    for number in range(offered):
        online.offer(Finished({"q": "x"}, {"a": "y" * 200}, f"{number:032x}", "v1", "local", time.time_ns()))
    online.start()
    assert online.wait_idle(60)
    online.stop()
    errors, warnings = _errors_and_warnings(caplog)
    assert len(errors) == 1 and "online evaluation: the disk holding" in errors[0] and "scoring stopped" in errors[0]
    assert warnings == []
    assert online.unstored > 0 and online.scored + online.unstored == offered
    stored = sqlite3.connect(tmp_path / "traces.sqlite").execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert stored == online.scored


@pytest.mark.parametrize(("error", "refused"), [
    (sqlite3.OperationalError("database or disk is full"), False),  # no SQLite code: not recognised by text
    (OSError(28, "No space left on device"), True),
    (OSError(27, "File too large"), True),
    (OSError(13, "Permission denied"), False),
])
def test_what_counts_as_the_disk_refusing(error, refused):
    assert (disk_refusal(error) is error) is refused


def test_the_gate_retries_after_its_pause(caplog):
    gate = DiskGate(logging.getLogger("test"), "test", "/x.sqlite", "writes stopped", retry_s=0.0)
    assert gate.open()
    assert gate.failed(OSError(28, "No space left on device")) and gate.open()  # pause of 0 s: tried again
    assert not gate.failed(ValueError("not the disk"))
