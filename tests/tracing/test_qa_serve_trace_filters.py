"""`promptwise traces list` time filters in the forms the help promises (ages, dates, times with
Z or an offset, in any local time zone) and the `--format json` shape scripts rely on."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from promptwise.cli import main
from promptwise.tracing.store import store_path
from test_tracing_end_to_end import FLOW

DAY_NS = 86_400 * 10**9

LIST_KEYS = {"trace_id", "name", "kind", "status", "error_type", "duration_ms", "flow", "flow_path", "content_hash",
             "version", "consumer", "run_id", "row_index", "service", "start", "start_ns", "totals"}
TOTALS_KEYS = {"spans", "llm_calls", "cache_hits", "input_tokens", "output_tokens", "cost_usd"}
SPAN_KEYS = {"span_id", "parent_id", "name", "kind", "status", "error_type", "error_message", "start_ns", "offset_ms",
             "duration_ms", "model", "input_tokens", "output_tokens", "cost_usd", "cache_hit", "attempts", "content",
             "attributes", "events", "children", "subtree"}


@pytest.fixture
def old_and_new(traced_workspace, capsys, monkeypatch):
    """Two runs' traces: `new` now, `old` moved three days back in the store."""
    root = traced_workspace(FLOW)
    monkeypatch.chdir(root)
    for name in ("old", "new"):
        assert main(["run", "capitals", "--inputs", "question=capital of France", "--name", name]) == 0
    capsys.readouterr()
    with sqlite3.connect(store_path(root)) as db:
        [trace_id] = db.execute("SELECT trace_id FROM traces WHERE run_id = 'old'").fetchone()
        db.execute("UPDATE traces SET start_ns = start_ns - ?, end_ns = end_ns - ? WHERE trace_id = ?",
                   (3 * DAY_NS, 3 * DAY_NS, trace_id))
        db.execute("UPDATE spans SET start_ns = start_ns - ?, end_ns = end_ns - ? WHERE trace_id = ?",
                   (3 * DAY_NS, 3 * DAY_NS, trace_id))
    return root


def _runs(capsys, *args: str) -> list[str]:
    assert main(["traces", "list", *args, "--format", "json"]) == 0, capsys.readouterr().err
    return [trace["run_id"] for trace in json.loads(capsys.readouterr().out)]


def test_since_and_until_take_ages_dates_and_times_with_a_zone(old_and_new, capsys, monkeypatch):
    assert _runs(capsys, "--since", "2d") == ["new"]
    assert _runs(capsys, "--until", "2d") == ["old"]
    assert _runs(capsys, "--since", "1w") == ["new", "old"]
    between = datetime.now(timezone.utc) - timedelta(days=1)  # after the old trace, before the new one
    for written in (between.strftime("%Y-%m-%dT%H:%MZ"),
                    between.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(timespec="minutes"),
                    between.astimezone(timezone(timedelta(hours=-8))).isoformat(timespec="seconds")):
        assert _runs(capsys, "--since", written) == ["new"], written
        assert _runs(capsys, "--until", written) == ["old"], written
    # a time without a zone is this machine's local time, whatever zone that is
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        local = between.astimezone(timezone(timedelta(hours=9))).strftime("%Y-%m-%dT%H:%M")
        assert _runs(capsys, "--since", local) == ["new"]
        assert _runs(capsys, "--since", local[:10]) == ["new"]  # a date: its local midnight, after the old trace
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert main(["traces", "list", "--since", "2d", "--until", "3d"]) == 2
    assert "--since" in capsys.readouterr().err


def test_the_json_shapes_scripts_read_are_stable(old_and_new, capsys):
    assert main(["traces", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [set(trace) for trace in listed] == [LIST_KEYS, LIST_KEYS]
    assert all(set(trace["totals"]) == TOTALS_KEYS for trace in listed)
    assert main(["traces", "show", listed[0]["trace_id"], "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == LIST_KEYS | {"spans"}
    [root_span] = shown["spans"]
    assert set(root_span) == SPAN_KEYS and all(set(child) == SPAN_KEYS for child in root_span["children"])
    assert main(["traces", "list", "--flow", "no-such-flow", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing matching is an empty list, not text
