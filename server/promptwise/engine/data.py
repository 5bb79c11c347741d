"""Batch input data (JSONL, CSV, JSON list) and column mapping.

Column mapping values: `${data.COLUMN}` (a column of the data file), `${run.outputs.NAME}` /
`${run.inputs.NAME}` (the same line of an earlier run, for chaining runs), or a literal.
Flow inputs without a mapping take the data column of the same name, as in Prompt flow.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from promptwise.engine.errors import FlowError

_MAPPING = re.compile(r"^\$\{(data|run\.outputs|run\.inputs)\.([^}]+)\}$")
MAX_CSV_FIELD = 64 * 1024 * 1024


def read_rows(path: Path) -> list[dict]:
    """The rows of a data file; a malformed line is an error naming the file and line."""
    if not path.is_file():
        raise FlowError(f"{path}: data file not found; pass an existing .jsonl or .csv file with --data")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FlowError(f"{path}: cannot read the data file ({error}); save it as UTF-8") from None
    if suffix == ".csv" or suffix == ".tsv":
        csv.field_size_limit(MAX_CSV_FIELD)
        dialect = "excel-tab" if suffix == ".tsv" else "excel"
        reader = csv.DictReader(text.splitlines(), dialect=dialect)
        rows = []
        for row in reader:
            if None in row:
                raise FlowError(f"{path}:{reader.line_num}: more cells than header columns; quote cells that "
                                f"contain commas")
            rows.append(dict(row))
        return rows
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FlowError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise FlowError(f"{path}: a .json data file must hold a list of objects; or use JSONL")
        return data
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise FlowError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno}); each line of a "
                            f".jsonl file must be one JSON object") from None
        if not isinstance(row, dict):
            raise FlowError(f"{path}:{number}: expected a JSON object per line, got {type(row).__name__}")
        rows.append(row)
    return rows


def parse_mapping(items: list[str] | dict | None) -> dict[str, str]:
    """`name=${data.col}` strings (CLI) or a mapping, checked."""
    if not items:
        return {}
    pairs = items.items() if isinstance(items, dict) else (_split(item) for item in items)
    mapping = {}
    for name, value in pairs:
        mapping[str(name)] = value
    return mapping


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise FlowError(f"--column-mapping {item!r}: write NAME=${{data.COLUMN}}")
    return name.strip(), value.strip()


def uses_run(mapping: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and v.startswith("${run.") for v in mapping.values())


def map_row(line: int, row: dict, mapping: dict[str, Any], input_names: list[str],
            run_rows: dict[int, tuple[dict, dict]] | None) -> dict:
    """One line's flow inputs from its data row (and the source run's row of the same line)."""
    inputs: dict[str, Any] = {}
    for name, value in mapping.items():
        match = _MAPPING.match(value) if isinstance(value, str) else None
        if match is None:
            inputs[name] = value  # a literal
            continue
        source, key = match.groups()
        if source == "data":
            if key not in row:
                raise FlowError(f"line {line}: column {key!r} (mapped to input `{name}`) is not in the data; "
                                f"columns: {', '.join(map(str, row)) or 'none'}")
            inputs[name] = row[key]
        else:
            if run_rows is None:
                raise FlowError(f"--column-mapping {name}={value} reads an earlier run; pass it with --run NAME")
            if line not in run_rows:
                raise FlowError(f"line {line}: the source run has no completed result for this line")
            run_inputs, run_outputs = run_rows[line]
            values = run_outputs if source == "run.outputs" else run_inputs
            if key not in values:
                raise FlowError(f"line {line}: the source run has no {source.split('.')[1][:-1]} {key!r}; "
                                f"it has {', '.join(values) or 'none'}")
            inputs[name] = values[key]
    for name in input_names:
        if name not in inputs and name in row:
            inputs[name] = row[name]
    return inputs
