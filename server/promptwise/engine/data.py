"""Batch input data (JSONL, CSV, JSON list) and column mapping.

Column mapping values: `${data.COLUMN}` (a column of the data file), `${run.outputs.NAME}` /
`${run.inputs.NAME}` (the same line of an earlier run, for chaining runs), or a literal.
Flow inputs without a mapping take the data column of the same name, as in Prompt flow.

Row numbers: a row's `index` is 0-based (what the run store keeps as `line`, and Prompt flow's
`line_number`); messages shown to people name the 1-based line of the data file instead
(`data.jsonl line 7`), which is where the row is when you open the file.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TextIO

from promptwise.engine.errors import FlowError

_MAPPING = re.compile(r"^\$\{(data|run\.outputs|run\.inputs)\.([^}]+)\}$")
MAX_CSV_FIELD = 64 * 1024 * 1024


@dataclass
class DataRow:
    """One row of a data file: its values, or why it could not be read (a row that fails alone)."""

    index: int  # 0-based position among the rows (the stored `line`)
    file_line: int | None  # 1-based line in the data file where the row starts (None: not from a file)
    values: dict | None
    error: str | None = None  # set when the row is malformed; the batch records it as failed


def row_label(source: Path | str | None, row: DataRow | int, file_line: int | None = None) -> str:
    """How messages name a row: `data.jsonl line 7` (the file's line, 1-based), else `row 3`."""
    if isinstance(row, DataRow):
        index, file_line = row.index, row.file_line
    else:
        index = row
    if source is not None and file_line is not None:
        return f"{Path(source).name} line {file_line}"
    return f"row {index + 1}"


def check_data_file(path: Path) -> None:
    """FlowError unless `path` is an existing file (checked before connections, so the first
    error a user sees about a mistyped --data is about the data)."""
    if path.is_dir():
        raise FlowError(f"{path}: is a folder; pass a data file (.jsonl, .csv or .json) with --data")
    if not path.is_file():
        raise FlowError(f"{path}: data file not found; pass an existing .jsonl or .csv file with --data")


def read_data(path: Path) -> list[DataRow]:
    """Every row of a data file in a list (for small files: evaluation, the editor). Batch runs
    stream the file with `iter_data` instead."""
    return list(iter_data(path))


def iter_data(path: Path) -> Iterator[DataRow]:
    """The rows of a data file one at a time, read as they are needed, so a file of any length
    runs in bounded memory; a malformed row is yielded with its error, so one bad line does not
    stop a run. A file that cannot be read at all is a FlowError (raised when it is met, so a
    caller that must know before starting reads the file once first: `survey_data`).

    A `.json` file is one JSON document and is read whole; JSONL and CSV stream."""
    check_data_file(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        yield from _read_json_list(path)
        return
    try:
        with path.open(encoding="utf-8-sig", newline="" if suffix in (".csv", ".tsv") else None) as handle:
            if suffix in (".csv", ".tsv"):
                yield from _iter_csv(path, handle, "excel-tab" if suffix == ".tsv" else "excel")
            else:
                yield from _iter_jsonl(path, handle)
    except (OSError, UnicodeDecodeError) as error:
        raise FlowError(f"{path}: cannot read the data file ({error}); save it as UTF-8") from None


def _read_json_list(path: Path) -> list[DataRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FlowError(f"{path}: cannot read the data file ({error}); save it as UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlowError(f"{path}:{error.lineno}: invalid JSON ({error.msg}); fix the file, or use JSONL "
                        f"(one object per line)") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise FlowError(f"{path}: a .json data file must hold a list of objects; or use JSONL")
    return [DataRow(index, None, item) for index, item in enumerate(data)]


def _iter_jsonl(path: Path, handle: TextIO) -> Iterator[DataRow]:
    index = 0
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield DataRow(index, number, None, f"{path.name} line {number}: invalid JSON: {error.msg} at "
                                               f"column {error.colno}; each line must be one JSON object")
        else:
            if isinstance(value, dict):
                yield DataRow(index, number, value)
            else:
                yield DataRow(index, number, None, f"{path.name} line {number}: expected a JSON object, got "
                                                   f"{type(value).__name__}")
        index += 1


def _iter_csv(path: Path, handle: TextIO, dialect: str) -> Iterator[DataRow]:
    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(handle, dialect=dialect)  # the file is opened with newline="": quoted newlines stay
    header: list[str] | None = None
    previous_end = 0
    index = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num  # a quoted cell may span lines
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if header is None:
                header = cells
                check_csv_header(header, f"{path}:{reader.line_num}", FlowError)
                continue
            if len(cells) != len(header):
                what = "more" if len(cells) > len(header) else "fewer"
                yield DataRow(index, start, None, f"{path.name} line {start}: {len(cells)} cells, {what} than "
                                                  f"the {len(header)} header columns; quote cells that "
                                                  f"contain the delimiter")
            else:
                yield DataRow(index, start, dict(zip(header, cells)))
            index += 1
    except csv.Error as error:
        raise FlowError(f"{path}:{reader.line_num}: unreadable CSV ({error}); fix the quoting") from None


# Column names kept by `survey_data`: a file whose rows bring more distinct keys than this is
# not a table, and keeping every name would make the survey's memory grow with the file.
MAX_SURVEY_COLUMNS = 10_000


@dataclass
class DataSurvey:
    """What a batch must know before its first call, from one streaming pass over the file."""

    rows: int  # rows, malformed ones included (each gets a result)
    readable: int  # rows that parsed (of those parsed: see survey_data's `settled`)
    columns: list[str]  # every column some readable row has, in first-seen order (ditto)


def survey_data(path: Path, settled: Callable[[list[str]], bool] | None = None) -> DataSurvey:
    """Count the rows of a data file and collect its columns, reading it once without keeping it:
    a file that cannot be read fails here, before any call, and the count gives the progress
    total and the check that a resumed run still has the same data.

    `settled(columns)`: True once the columns seen so far decide every check made with them
    (`columns_settle_checks`). From there on a JSONL file's rows are counted, not parsed: the
    batch parses each row when it runs it, and parsing every row twice made the survey ~15x
    slower than counting lines (2 s before the first call for 1M rows). `columns` and
    `readable` then cover the rows read up to that point."""
    if settled is not None and path.suffix.lower() not in (".json", ".csv", ".tsv"):
        return _survey_jsonl(path, settled)
    rows = readable = 0
    columns: dict[str, None] = {}
    for row in iter_data(path):
        rows += 1
        if row.values is not None:
            readable += 1
            if len(columns) < MAX_SURVEY_COLUMNS:
                for key in row.values:
                    columns.setdefault(str(key), None)
    return DataSurvey(rows, readable, list(columns))


def _survey_jsonl(path: Path, settled: Callable[[list[str]], bool]) -> DataSurvey:
    """survey_data of a JSONL file: rows parsed until `settled`, then only counted. A row is
    a line that is not blank, as `_iter_jsonl` counts them."""
    check_data_file(path)
    rows = readable = 0
    columns: dict[str, None] = {}
    parsing = True
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line in handle:
                if not line.strip():
                    continue
                rows += 1
                if not parsing:
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a malformed row: it fails alone when the batch reaches it
                if isinstance(value, dict):
                    readable += 1
                    known = len(columns)
                    for key in value:
                        if len(columns) < MAX_SURVEY_COLUMNS:
                            columns.setdefault(str(key), None)
                    if readable == 1 or len(columns) > known:
                        parsing = not settled(list(columns))
    except (OSError, UnicodeDecodeError) as error:
        raise FlowError(f"{path}: cannot read the data file ({error}); save it as UTF-8") from None
    return DataSurvey(rows, readable, list(columns))


def columns_settle_checks(mapping: dict[str, Any], columns: list[str], input_specs: dict[str, Any]) -> bool:
    """True when more columns could change neither `check_columns` nor `defaulted_input_warnings`:
    every flow input is mapped or a column, and every column a mapping reads is there. (Each of
    their errors and warnings needs an input without a column, or a mapped column missing.)"""
    present = set(columns)
    return all(name in mapping or name in present for name in input_specs) and _mapped_columns(mapping) <= present


def check_csv_header(header: list[str], where: str, error: type[Exception]) -> None:
    """Two columns of one name would silently keep only the last cell of each row; one column
    whose name holds `;` or a tab is a file written with another delimiter."""
    if len(header) == 1:
        delimiter = next((d for d in (";", "\t", "|") if d in header[0]), None)
        if delimiter is not None:
            shown = "a tab" if delimiter == "\t" else f"'{delimiter}'"
            raise error(f"{where}: the header is one column `{header[0]}`: the file looks separated by {shown}, "
                        "but a .csv file is read with commas; save it with commas (or tabs as .tsv)")
    seen: set[str] = set()
    repeated = [name for name in header if name in seen or seen.add(name)]
    if repeated:
        names = ", ".join(f"`{name}`" for name in dict.fromkeys(repeated))
        raise error(f"{where}: the CSV header names the column {names} more than once, so a row would keep only "
                    "its last cell; give each column its own name")


def read_rows(path: Path) -> list[dict]:
    """The rows of a data file, strictly: the first malformed row is an error naming file and line."""
    rows = []
    for row in read_data(path):
        if row.error is not None:
            detail = row.error.split(": ", 1)[1] if ": " in row.error else row.error
            raise FlowError(f"{path}:{row.file_line}: {detail}")
        rows.append(row.values)
    return rows


def parse_mapping(items: list[str] | dict | None) -> dict[str, str]:
    """`name=${data.col}` strings (CLI) or a mapping, checked."""
    if not items:
        return {}
    pairs = items.items() if isinstance(items, dict) else (_split(item) for item in items)
    mapping = {}
    for name, value in pairs:
        if isinstance(value, str) and value.startswith("${") and not _MAPPING.match(value):
            # Used as a literal, `${data.colum` would be every row's value: surely a typo.
            raise FlowError(f"--column-mapping {name}={value}: not a reference Promptwise knows; write "
                            "${data.COLUMN}, ${run.outputs.NAME} or ${run.inputs.NAME} (or a literal value)")
        mapping[str(name)] = value
    return mapping


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise FlowError(f"--column-mapping {item!r}: write NAME=${{data.COLUMN}}")
    return name.strip(), value.strip()


def uses_run(mapping: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and v.startswith("${run.") for v in mapping.values())


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` when a choice is close to `word`, else an empty string."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        lowered = {str(c).lower(): str(c) for c in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f"; did you mean `{close[0]}`?" if close else ""


def _names(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values) or "none"


def check_columns(mapping: dict[str, Any], columns: list[str], input_specs: dict[str, Any],
                  accepts_any_input: bool, data_name: str) -> None:
    """Before any call: every mapping names a flow input and a column the data has, and no flow
    input is left to its default while a column with a near-identical name sits unused.

    `columns` are the columns the data has (over all rows); `data_name` names the data in messages.
    """
    inputs = list(input_specs)
    for name, value in mapping.items():
        if name not in input_specs and not accepts_any_input:
            raise FlowError(f"--column-mapping {name}={value}: the flow has no input `{name}`{did_you_mean(name, inputs)} "
                            f"(inputs: {_names(inputs)})")
        match = _MAPPING.match(value) if isinstance(value, str) else None
        if match is not None and match.group(1) == "data" and match.group(2) not in columns:
            column = match.group(2)
            raise FlowError(f"--column-mapping {name}={value}: {data_name} has no column `{column}`"
                            f"{did_you_mean(column, columns)} (columns: {_names(columns)})")
    unused = [c for c in columns if c not in input_specs and c not in _mapped_columns(mapping)]
    for name, spec in input_specs.items():
        if name in mapping or name in columns:
            continue
        hint = did_you_mean(name, unused)
        if hint:
            column = hint.split("`")[1]
            raise FlowError(f"{data_name} has no column `{name}` for the flow input `{name}`{hint} (columns: "
                            f"{_names(columns)}); rename the column, or map it with --column-mapping "
                            f"{name}=${{data.{column}}}")
        if not getattr(spec, "has_default", False):
            raise FlowError(f"flow input `{name}` has no value: {data_name} has no column `{name}` (columns: "
                            f"{_names(columns)}) and the input has no default; add the column or map one with "
                            f"--column-mapping {name}=${{data.COLUMN}}")
    if input_specs and columns and not mapping and not any(c in input_specs for c in columns):
        # Every input has a default, so each row would run on the defaults alone: the data is
        # surely not what was meant (another flow's file, a renamed header, a wrong delimiter).
        raise FlowError(f"{data_name}: none of its columns ({_names(columns)}) is an input of the flow "
                        f"({_names(inputs)}), so every row would run on the defaults; rename the columns, or map "
                        f"them with --column-mapping INPUT=${{data.COLUMN}}")


def defaulted_input_warnings(mapping: dict[str, Any], columns: list[str], input_specs: dict[str, Any],
                             data_name: str) -> list[str]:
    """Flow inputs that will take their default on every row while a data column is left unused
    (`query` beside an input `question`): likely a misnamed column, worth a word before any call.
    check_columns has refused the near-identical names already; these are the rest."""
    unused = [c for c in columns if c not in input_specs and c not in _mapped_columns(mapping)]
    defaulted = [name for name in input_specs if name not in mapping and name not in columns]
    if not unused or not defaulted:
        return []
    warnings = []
    for name in defaulted:
        # the closest unused column, else the only one: the mapping to suggest
        guess = (difflib.get_close_matches(name, unused, n=1, cutoff=0.3) or (unused if len(unused) == 1 else [None]))[0]
        hint = (f"; did you mean --column-mapping {name}=${{data.{guess}}}?" if guess else
                f"; map one with --column-mapping {name}=${{data.COLUMN}}")
        warnings.append(f"{data_name} has no column `{name}`, so the flow input `{name}` takes its default on every "
                        f"row; columns that feed no input: {_names(unused)}{hint}")
    return warnings


def _mapped_columns(mapping: dict[str, Any]) -> set[str]:
    found = set()
    for value in mapping.values():
        match = _MAPPING.match(value) if isinstance(value, str) else None
        if match is not None and match.group(1) == "data":
            found.add(match.group(2))
    return found


def map_row(line: int, row: dict, mapping: dict[str, Any], input_names: list[str],
            run_rows: dict[int, tuple[dict, dict]] | None) -> dict:
    """One line's flow inputs from its data row (and the source run's row of the same line).

    Errors do not name the row: the caller prefixes `data.jsonl line N: ` once."""
    inputs: dict[str, Any] = {}
    for name, value in mapping.items():
        match = _MAPPING.match(value) if isinstance(value, str) else None
        if match is None:
            inputs[name] = value  # a literal
            continue
        source, key = match.groups()
        if source == "data":
            if key not in row:
                raise FlowError(f"column {key!r} (mapped to input `{name}`) is missing in this row; "
                                f"it has: {', '.join(map(str, row)) or 'none'}")
            inputs[name] = row[key]
        else:
            if run_rows is None:
                raise FlowError(f"--column-mapping {name}={value} reads an earlier run; pass it with --run NAME")
            if line not in run_rows:
                raise FlowError("the source run has no completed result for this row")
            run_inputs, run_outputs = run_rows[line]
            values = run_outputs if source == "run.outputs" else run_inputs
            if key not in values:
                raise FlowError(f"the source run has no {source.split('.')[1][:-1]} {key!r}; "
                                f"it has {', '.join(values) or 'none'}")
            inputs[name] = values[key]
    for name in input_names:
        if name not in inputs and name in row:
            inputs[name] = row[name]
    return inputs
