"""Reading a dataset for an estimate, one row at a time, without stopping at a bad row.

`.jsonl`: one JSON object per line (blank lines ignored). `.json`: an array of objects.
`.csv`: a header line, then one row per record. A row that is not valid JSON, not an object,
or has the wrong number of CSV fields is yielded as a `BadRow` naming its file and line, so
the estimate can report it and go on with the rest.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line in the file where the row starts (item number in a .json array)
    values: dict
    is_item: bool = False  # from a .json array: `line` is the item's 1-based index

    def where(self, path: Path) -> str:
        return f"{path} item {self.line}" if self.is_item else f"{path}:{self.line}"


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str  # what is wrong and what to do
    is_item: bool = False

    def where(self, path: Path) -> str:
        return f"{path} item {self.line}" if self.is_item else f"{path}:{self.line}"

    def describe(self, path: Path) -> str:
        return f"{self.where(path)}: {self.reason}"


class DatasetError(Exception):
    """The whole file cannot be read (missing, unknown format, not an array...)."""


def read_rows(path: Path) -> Iterator[Union[Row, BadRow]]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise DatasetError(f"{path}: unknown data format {suffix or '(no extension)'}; use .jsonl, .json or .csv")
    try:
        handle = path.open(encoding="utf-8-sig", newline="" if suffix == ".csv" else None)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the data file ({error.strerror}); check the path") from None
    with handle:
        try:
            if suffix == ".jsonl":
                yield from _jsonl(handle)
            elif suffix == ".json":
                yield from _json_array(path, handle.read())
            else:
                yield from _csv(handle, path)
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: the data file is not UTF-8 text; save it as UTF-8") from None


def _jsonl(handle) -> Iterator[Union[Row, BadRow]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as error:
            yield BadRow(number, f"invalid JSON ({error.msg} at column {error.colno}); fix or remove this row")
            continue
        if not isinstance(value, dict):
            yield BadRow(number, f"a row must be a JSON object of input values, got {type(value).__name__}")
            continue
        yield Row(number, value)


def _json_array(path: Path, text: str) -> Iterator[Union[Row, BadRow]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}:{error.lineno}: invalid JSON ({error.msg}); a .json dataset must be one "
                           "array of objects (or use .jsonl, where one bad row does not spoil the rest)") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}:1: a .json dataset must be an array of objects")
    # json.loads keeps no positions: rows are named by their 1-based index in the array.
    for index, value in enumerate(data, start=1):
        if isinstance(value, dict):
            yield Row(index, value, is_item=True)
        else:
            yield BadRow(index, f"must be a JSON object of input values, got {type(value).__name__}", is_item=True)


def _csv(handle, path: Path) -> Iterator[Union[Row, BadRow]]:
    from promptwise.engine.data import check_csv_header  # the batch reads the same files

    reader = csv.reader(handle)
    header = None
    for record in reader:
        line = reader.line_num
        if header is None:
            header = [name.strip() for name in record]
            check_csv_header(header, f"{path}:{line}", DatasetError)
            continue
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            yield BadRow(line, f"{len(record)} fields where the header has {len(header)}; fix the quoting or commas")
            continue
        yield Row(line, dict(zip(header, record)))
