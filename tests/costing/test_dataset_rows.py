"""Dataset rows for estimates: good rows read, bad rows named by file and line, never fatal."""

from __future__ import annotations

import pytest

from promptwise.costing.dataset_rows import BadRow, DatasetError, Row, read_rows


def rows_of(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path, list(read_rows(path))


def test_jsonl_lines_are_numbered_from_one(tmp_path):
    path, rows = rows_of(tmp_path, "d.jsonl", '{"a": 1}\n\n{"a": \n"text"\n{"a": "ü"}\n')
    assert rows == [Row(1, {"a": 1}), BadRow(3, "invalid JSON (Expecting value at column 7); fix or remove this row"),
                    BadRow(4, "a row must be a JSON object of input values, got str"), Row(5, {"a": "ü"})]
    assert rows[1].describe(path) == f"{path}:3: invalid JSON (Expecting value at column 7); fix or remove this row"


def test_csv_with_quoted_newlines_keeps_line_numbers(tmp_path):
    path, rows = rows_of(tmp_path, "d.csv", 'q,a\n"multi\nline",1\n\nonly-one-field\nx,2\n')
    assert rows == [Row(3, {"q": "multi\nline", "a": "1"}),
                    BadRow(5, "1 fields where the header has 2; fix the quoting or commas"),
                    Row(6, {"q": "x", "a": "2"})]


def test_json_array_items_are_named_by_index(tmp_path):
    path, rows = rows_of(tmp_path, "d.json", '[{"a": 1}, 3]')
    assert rows[0] == Row(1, {"a": 1}, is_item=True)
    assert rows[1].describe(path) == f"{path} item 2: must be a JSON object of input values, got int"


@pytest.mark.parametrize("name, content, message", [
    ("d.json", '{"a": 1}', "d.json:1: a .json dataset must be an array of objects"),
    ("d.json", '[{"a": 1},\n oops]', "d.json:2: invalid JSON"),
    ("d.jsonl", b'{"a": "\xff"}\n', "the data file is not UTF-8 text"),
    ("d.parquet", "x", "unknown data format .parquet"),
])
def test_unreadable_files_are_one_clear_error(tmp_path, name, content, message):
    with pytest.raises(DatasetError, match=message.replace(".", r"\.").replace("(", r"\(")):
        rows_of(tmp_path, name, content)
