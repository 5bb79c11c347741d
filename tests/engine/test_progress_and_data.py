"""The progress line and the data readers."""

from __future__ import annotations

import io

import pytest

from promptwise.engine.batch import BatchProgress
from promptwise.engine.data import map_row, read_rows
from promptwise.engine.errors import FlowError
from promptwise.engine.progress import ProgressBar, describe


def progress(done: int, total: int = 200, **changes) -> BatchProgress:
    values = dict(run="r", total=total, done=done, failed=2, tokens=41_234, cost=0.01234, elapsed=5.0,
                  rows_per_second=20.0, eta_seconds=(total - done) / 20.0, retries=3, cache_hits=0, in_flight=16)
    values.update(changes)
    return BatchProgress(**values)


def test_progress_line_shows_done_failed_rate_tokens_cost_eta():
    line = describe(progress(100))
    assert line.startswith("[############------------] 100/200")
    for part in ("2 failed", "20.0 rows/s", "41k tokens", "$0.012", "3 retries", "ETA 5s"):
        assert part in line
    assert "in 5s" in describe(progress(200))
    assert "$0.000042" in describe(progress(100, cost=0.0000421))  # never $0.0000 for a cost that is not zero


def test_non_terminal_output_prints_every_tenth():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for done in range(1, 201):
        bar(progress(done))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("[########################] 200/200")


@pytest.mark.parametrize("name, text, expected", [
    ("d.jsonl", '{"a": 1}\n\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
    ("d.csv", "a,b\n1,\"x, y\"\n", [{"a": "1", "b": "x, y"}]),
    ("d.tsv", "a\tb\n1\t2\n", [{"a": "1", "b": "2"}]),
    ("d.json", '[{"a": 1}]', [{"a": 1}]),
])
def test_data_formats(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    assert read_rows(tmp_path / name) == expected


@pytest.mark.parametrize("name, text, message", [
    ("d.jsonl", '{"a": 1}\n[1]\n', r"d.jsonl:2: expected a JSON object"),
    ("d.csv", "a\n1,2\n", r"d.csv:2: 2 cells, more than the 1 header columns"),
    ("d.json", '{"a": 1}', r"must hold a list of objects"),
    ("missing.jsonl", None, r"data file not found"),
])
def test_bad_data_is_explained(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(FlowError, match=message):
        read_rows(tmp_path / name)


def test_mapping_literal_data_and_default_names():
    row = {"q": "hello", "ctx": "c"}
    mapped = map_row(0, row, {"question": "${data.q}", "lang": "en"}, ["question", "lang", "ctx"], None)
    assert mapped == {"question": "hello", "lang": "en", "ctx": "c"}
    with pytest.raises(FlowError, match="pass it with --run NAME"):
        map_row(0, row, {"question": "${run.outputs.answer}"}, ["question"], None)


def test_read_data_keeps_bad_rows_with_their_file_line(tmp_path):
    from promptwise.engine.data import read_data, row_label

    (tmp_path / "d.csv").write_text('q,a\n"two\nlines",x\n\nonly-one-cell\nfine,y\n')
    rows = read_data(tmp_path / "d.csv")
    assert [(r.index, r.file_line, r.values) for r in rows] == [
        (0, 2, {"q": "two\nlines", "a": "x"}), (1, 5, None), (2, 6, {"q": "fine", "a": "y"})]
    assert rows[1].error == "d.csv line 5: 1 cells, fewer than the 2 header columns; quote cells that contain the " \
                            "delimiter"
    assert row_label(tmp_path / "d.csv", rows[2]) == "d.csv line 6"
    assert row_label(None, 4) == "row 5"
