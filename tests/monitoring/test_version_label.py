"""One spelling of a version (documents/version_label.py): the server's x-promptwise-version header,
`promptwise monitor`'s rows, its rollups, online scores and every --version filter agree, so a
served request without a rollout and a batch row of the same content are one version."""

from __future__ import annotations

import json
import sqlite3
import time

from promptwise import span_attributes as A
from promptwise.cli import main
from promptwise.documents.version_label import label_sql, version_label, version_match_sql
from promptwise.evaluation.safety import PiiEvaluator
from promptwise.monitoring import aggregates, rollups
from promptwise.monitoring.aggregates import Selection, figures
from promptwise.monitoring.online_eval import Finished, OnlineEvaluation, scores_by_version
from promptwise.monitoring.source import open_traces
from promptwise.serving.routing import label

FULL = "sha256:" + "3f2a91c0ffee" + "ab" * 26  # a flow's content hash
HEADER = label(FULL)  # what the server sends in x-promptwise-version when no rollout names a version


def _same_content(spans: list) -> list:
    for span in spans:
        if A.FLOW_CONTENT_HASH in span.attributes:
            span.attributes[A.FLOW_CONTENT_HASH] = FULL
    return spans


def test_the_label_is_the_headers_spelling():
    assert HEADER == "sha256:3f2a91c0ffee" == version_label(None, FULL) == version_label(FULL)
    assert version_label("chat:v3", FULL) == "chat:v3" and version_label(None, None) is None
    # SQLite's label (monitor's group key) agrees with Python's (the server's header).
    memory = sqlite3.connect(":memory:")
    for version, content_hash in ((None, None), ("", ""), ("chat:v3", FULL), (None, FULL), (FULL, None),
                                  ("", FULL), (None, "c0ffee"), ("SHA256:ab", None)):
        got = memory.execute(f"SELECT {label_sql('?1', '?2')}", (version, content_hash)).fetchone()[0]
        assert got == version_label(version, content_hash), (version, content_hash)
    memory.close()
    # What a user may type: the label, the full hash, a shorter prefix, bare hex digits, an id.
    assert version_match_sql("v", HEADER) == ("v = ?", [HEADER])
    assert version_match_sql("v", FULL) == ("v = ?", [HEADER])
    assert version_match_sql("v", "3F2A91") == ("substr(v, 1, 13) = ?", ["sha256:3f2a91"])
    assert version_match_sql("v", "chat:v3") == ("v = ?", ["chat:v3"])


def test_a_served_request_and_a_batch_row_of_the_same_content_are_one_row(request_spans, workspace, capsys):
    root, write = workspace
    served = _same_content(request_spans(version=FULL, age_s=30))  # the trace keeps the full hash
    batch = _same_content(request_spans(run_id="batch-1", age_s=20))  # no version: the content hash
    other = request_spans(version="chat:v2", age_s=10)
    write([served, batch, other])
    connection = open_traces(root)
    rows = {group.key: group.requests for group in figures(connection, Selection(), exact=True)}
    assert rows == {HEADER: 2, "chat:v2": 1}
    for typed in (HEADER, FULL, "sha256:3f2a91", "3f2a91c0"):
        found = figures(connection, Selection(version=typed), exact=True)
        assert [(g.key, g.requests) for g in found] == [(HEADER, 2)], typed
    connection.close()
    assert main(["monitor", "--version", HEADER, "--format", "json", "--workspace", str(root)]) in (0, None)
    document = json.loads(capsys.readouterr().out)
    assert [(g["key"], g["requests"]) for g in document["groups"]] == [(HEADER, 2)]


def test_rollups_keyed_by_the_old_spelling_are_rebuilt_once(request_spans, workspace, monkeypatch):
    monkeypatch.setattr(aggregates, "EXACT_BELOW", 1)  # read settled hours from the rollups
    root, write = workspace
    now = time.time_ns()
    write([_same_content(request_spans(run_id="b", age_s=hours * 3600, now_ns=now)) for hours in (3, 4, 5)])
    connection = open_traces(root)
    figures(connection, Selection(), now_ns=now)
    # A store whose rollups an older monitor built: versions as substr(content_hash, 1, 12).
    connection.execute("UPDATE monitor_rollups SET version = substr(version, 1, 12)")
    connection.execute("DELETE FROM meta WHERE key = 'monitor.rollups_format'")
    connection.commit()
    found = figures(connection, Selection(version=HEADER), now_ns=now)
    assert [(g.key, g.requests, g.percentile_error > 0) for g in found] == [(HEADER, 3, True)]
    assert [v for (v,) in connection.execute("SELECT DISTINCT version FROM monitor_rollups")] == [HEADER]
    assert connection.execute("SELECT value FROM meta WHERE key = 'monitor.rollups_format'").fetchone()[0] \
        == rollups.FORMAT
    connection.close()


def test_online_scores_group_and_filter_by_the_label(tmp_path):
    path = tmp_path / "traces.sqlite"
    online = OnlineEvaluation(path, [PiiEvaluator("pii")], sample_rate=1.0)
    online.start()
    for n, version in enumerate((FULL, FULL, "chat:v2")):
        online.offer(Finished({"q": "x"}, {"a": "fine"}, f"{n:032x}", version, None, time.time_ns()))
    assert online.wait_idle(30)
    online.stop()
    connection = sqlite3.connect(path)
    try:
        assert [(g["version"], g["rows"]) for g in scores_by_version(connection)] == [("chat:v2", 1), (HEADER, 2)]
        assert [(g["version"], g["rows"]) for g in scores_by_version(connection, version="3f2a91")] == [(HEADER, 2)]
    finally:
        connection.close()



def test_a_hash_prefix_names_one_version_or_says_which_it_could_be(request_spans, workspace, capsys):
    root, write = workspace
    twin = "sha256:" + "3f2a91" + "dd" * 29  # shares the first 6 digits with FULL
    write([_same_content(request_spans(version=FULL, age_s=30)), request_spans(version=twin, age_s=20)])
    assert main(["monitor", "--version", "3f2a91c", "--format", "json", "--workspace", str(root)]) in (0, None)
    assert [g["key"] for g in json.loads(capsys.readouterr().out)["groups"]] == [HEADER]
    assert main(["monitor", "--version", "sha256:3f2a91", "--workspace", str(root)]) == 2
    err = capsys.readouterr().err
    assert "several versions" in err and HEADER in err and "sha256:3f2a91dddddd" in err
    # traces list names a served request's version as the header does, not by its full hash.
    assert main(["traces", "list", "--workspace", str(root)]) in (0, None)
    out = capsys.readouterr().out
    assert f"version {HEADER} " in out and FULL not in out
