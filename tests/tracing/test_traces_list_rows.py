"""`promptwise traces list` over a batch: every row of the run has a trace, rows refused before
they ran (a malformed line, a missing required input) included, and the text's STATUS column
says what `--format json` says (the root span's OpenTelemetry status: unset | ok | error)."""

from __future__ import annotations

import asyncio
import json

import pytest

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.cli import main
from promptwise.engine.batch import run_batch
from promptwise.tracing.store import store_path

from test_tracing_end_to_end import FLOW, NO_RETRY_WAIT, spans_of, traces_of

ROWS = "".join([json.dumps({"question": "capital of France"}) + "\n",
                json.dumps({"question": "boom"}) + "\n",  # the traced tool raises: a failed run of the flow
                "{not json at all\n",  # refused: a malformed line
                json.dumps({"other": "zebra-marker"}) + "\n"])  # refused: the required input is missing


def _batch(root):
    assert tracing.configure(root)
    try:
        return asyncio.run(run_batch(root / "capitals", root / "rows.jsonl", use_cache=False, concurrency=1,
                                     retry=NO_RETRY_WAIT))
    finally:
        tracing.shutdown()


@pytest.mark.parametrize("capture", [True, False])
def test_refused_rows_are_traced_failed_and_text_agrees_with_json(traced_workspace, capsys, monkeypatch, capture):
    root = traced_workspace({**FLOW, "rows.jsonl": ROWS},
                            settings="" if capture else "tracing:\n  capture_content: false\n")
    monkeypatch.chdir(root)
    batch = _batch(root)

    rows = sorted(traces_of(root, run=batch.run), key=lambda t: t["row_index"])
    assert [t["row_index"] for t in rows] == [0, 1, 2, 3]  # was [0, 1]: refused rows left no trace
    assert [t["status"] for t in rows] == ["unset", "error", "error", "error"]
    assert [t["error_type"] for t in rows[2:]] == ["malformed_row", "invalid_input"]
    [refused] = spans_of(root, rows[3]["trace_id"])
    assert refused["kind"] == "flow" and refused["attributes"][A.RUN_ID] == batch.run
    assert "question" in refused["error_message"]  # what was wrong, as the run's row says
    if capture:
        assert json.loads(refused["attributes"][A.FLOW_INPUTS]) == {"other": "zebra-marker"}
    else:
        assert not set(refused["attributes"]) & A.CONTENT_ATTRIBUTES
        stored = b"".join(path.read_bytes() for path in store_path(root).parent.glob("traces.sqlite*"))
        assert b"zebra-marker" not in stored

    assert main(["traces", "list", "--run", batch.run, "--format", "json"]) == 0
    listed = {t["trace_id"][:12]: t["status"] for t in json.loads(capsys.readouterr().out)}
    assert main(["traces", "list", "--run", batch.run]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, body = lines[0], lines[1:]
    column = header.index("STATUS")
    shown = {line[:12]: line[column:].split()[0] for line in body}
    assert len(shown) == 4 and shown == listed  # one vocabulary: "unset", never "ok" for it
