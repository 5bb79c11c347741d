"""The batch's survey of a JSONL file parses rows only until their columns settle the column
checks, then counts the rest: the same row count (blank lines skipped, malformed rows counted),
and the checks decide as a full parse would."""

from __future__ import annotations

import json

import pytest

from promptwise.engine.batch import run_batch
from promptwise.engine.data import columns_settle_checks, survey_data
from promptwise.engine.errors import FlowError

from engine_flows import ONE_LLM_NODE_FLOW


def test_settled_survey_counts_every_row_but_parses_only_until_settled(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"question": "a"}\n\n{"question": "b", "extra": 1}\nnot json\n   \n[1]\n{"question": "c"}\n')
    full = survey_data(path)
    asked = []

    def settled(columns):
        asked.append(list(columns))
        return "question" in columns

    quick = survey_data(path, settled)
    assert full.rows == quick.rows == 5  # blank lines are no rows; malformed ones are
    assert (full.readable, full.columns) == (3, ["question", "extra"])
    assert (quick.readable, quick.columns) == (1, ["question"]) and asked == [["question"]]
    never = survey_data(path, lambda columns: False)  # never settled: a full parse
    assert (never.rows, never.readable, never.columns) == (5, 3, ["question", "extra"])


def test_columns_settle_only_when_no_check_could_still_fail():
    inputs = {"question": object(), "tone": object()}
    assert columns_settle_checks({}, ["question", "tone"], inputs)
    assert columns_settle_checks({"tone": "${data.style}"}, ["question", "style"], inputs)
    assert not columns_settle_checks({}, ["question"], inputs)  # `tone` may be a later column
    assert not columns_settle_checks({"tone": "${data.style}"}, ["question", "tone"], inputs)
    assert columns_settle_checks({"tone": "formal"}, ["question"], inputs)  # a literal needs no column


async def test_a_column_first_seen_late_is_found_as_a_full_parse_finds_it(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    data = root / "data.jsonl"
    rows = [{"id": i} for i in range(50)] + [{"id": 50, "text": "late"}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    # `text` exists only in the last row: the mapping is valid, rows without it fail alone
    result = await run_batch(root / "flow", data, column_mapping=["question=${data.text}"], use_cache=False)
    assert (result.rows, result.completed) == (51, 1)
    with pytest.raises(FlowError, match="has no column `nope`"):
        await run_batch(root / "flow", data, column_mapping=["question=${data.nope}"])


async def test_progress_total_counts_rows_past_the_settled_point(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" + ("\n" if i % 7 == 0 else "")
                            for i in range(30)) + "{broken\n")
    totals = []
    result = await run_batch(root / "flow", data, use_cache=False, on_progress=lambda p: totals.append(p.total))
    assert (result.rows, result.completed, result.failed) == (31, 30, 1)
    assert set(totals) == {31}
