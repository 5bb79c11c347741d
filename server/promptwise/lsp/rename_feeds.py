"""What feeds a flow input from outside the flow, renamed with it.

A batch or evaluation feeds flow input `x` from the data column `x` (rows are matched to
inputs by name), unless `eval.yaml`'s `column_mapping` maps `x` to another column. So when
`x` becomes `y`:

- each dataset next to the flow (the `data:` file of its `eval.yaml`, and the `.jsonl` /
  `.csv` files in the flow folder; for a prompty, `<name>.data.jsonl`) that has a column `x`
  gets it renamed to `y`, and
  `${data.x}` in that folder's `eval.yaml` becomes `${data.y}`;
- `${run.inputs.x}` in `eval.yaml` becomes `${run.inputs.y}`, and a `column_mapping` key `x`
  becomes `y` (the column it names keeps feeding the input, so the data is left alone);
- a dataset that cannot be rewritten safely (too large to edit, not valid JSON, already
  has a column `y`) is left as it is, with a warning that says what to do by hand.

Pure text work: `feed_edits` takes a reader (path -> text or None) and returns the edits
per file (ranges in the file's own lines) and the warnings.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from promptwise.documents.source import Range

EVAL_FILES = ("eval.yaml", "eval.yml")  # as the evaluation finds them
DATA_SUFFIXES = (".jsonl", ".csv")
# Larger datasets are not rewritten through the editor (one edit per row would make a
# response of tens of megabytes): the user is told to rename the column with a tool.
MAX_DATASET_BYTES = 2 * 1024 * 1024


@dataclass
class FeedEdits:
    edits: dict[Path, list[tuple[Range, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, path: Path, range_: Range, text: str) -> None:
        self.edits.setdefault(path, []).append((range_, text))


def _eval_references(text: str, source: str, name: str) -> list[Range]:
    """Ranges of `name` in `${source.name...}` references of an eval.yaml text."""
    pattern = re.compile(r"\$\{\s*" + re.escape(source) + r"\s*\.\s*(" + re.escape(name) + r")(?=\s*[.}])")
    found = []
    for number, line in enumerate(text.split("\n")):
        if line.lstrip().startswith("#"):
            continue
        for match in pattern.finditer(line):
            found.append(Range.of(number, match.start(1), number, match.end(1)))
    return found


def _mapping_key(text: str, name: str) -> Range | None:
    """The key `name` directly under a top-level `column_mapping:` (block style)."""
    lines = text.split("\n")
    inside = False
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "\t")):
            inside = line.split(":", 1)[0].strip() == "column_mapping"
            continue
        if inside:
            match = re.match(r"^(\s+)(['\"]?)(" + re.escape(name) + r")\2\s*:", line)
            if match:
                return Range.of(number, match.start(3), number, match.end(3))
    return None


def _eval_data(text: str) -> str | None:
    """The top-level `data:` file name, read from its line (plain or quoted, comment after)."""
    for line in text.split("\n"):
        if line.startswith("data:"):
            value = line[len("data:") :].split(" #", 1)[0].strip().strip("'\"").strip()
            return value or None
    return None


def _json_top_keys(line: str) -> list[tuple[str, int, int]]:
    """(key, start, end) of each key of the object on a JSONL line, string token included."""
    keys: list[tuple[str, int, int]] = []
    depth = 0
    index = 0
    length = len(line)
    while index < length:
        char = line[index]
        if char == '"':
            end = index + 1
            while end < length and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            end += 1
            if depth == 1:
                rest = line[end:].lstrip()
                if rest.startswith(":"):
                    keys.append((json.loads(line[index:end]), index, end))
            index = end
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        index += 1
    return keys


def _key_spans(line: str, name: str, token: str) -> list[tuple[int, int]]:
    """Where the top-level key `name` is written on a JSONL line whose object has it. When its
    usual spelling (`token`) occurs once, that is it (the quick path); otherwise the line is
    scanned."""
    first = line.find(token)
    if first >= 0 and line.find(token, first + 1) < 0 and line[first + len(token) :].lstrip().startswith(":"):
        return [(first, first + len(token))]
    return [(start, end) for key, start, end in _json_top_keys(line) if key == name]


def _jsonl_edits(path: Path, text: str, old: str, new: str, result: FeedEdits) -> None:
    pending: list[tuple[Range, str]] = []
    token, replacement = json.dumps(old, ensure_ascii=False), json.dumps(new, ensure_ascii=False)
    for number, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            result.warnings.append(f"{path.name} line {number + 1} is not valid JSON, so column `{old}` was not "
                                   f"renamed there; rename it to `{new}` by hand")
            return
        if not isinstance(row, dict) or old not in row:
            continue
        if new in row:
            result.warnings.append(f"{path.name} already has a column `{new}` (line {number + 1}); column `{old}` "
                                   "was left as it is: merge them by hand")
            return
        for start, end in _key_spans(line, old, token):
            pending.append((Range.of(number, start, number, end), replacement))
    for range_, replacement in pending:
        result.add(path, range_, replacement)


def _csv_edits(path: Path, text: str, old: str, new: str, result: FeedEdits) -> None:
    header = text.split("\n", 1)[0].rstrip("\r")
    try:
        dialect = csv.Sniffer().sniff(header, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    cells = next(csv.reader([header], dialect), [])
    if old not in cells:
        return
    if new in cells:
        result.warnings.append(f"{path.name} already has a column `{new}`; column `{old}` was left as it is: "
                               "merge them by hand")
        return
    renamed = [new if cell == old else cell for cell in cells]
    buffer = io.StringIO()
    csv.writer(buffer, dialect, lineterminator="").writerow(renamed)
    result.add(path, Range.of(0, 0, 0, len(header)), buffer.getvalue())


def _datasets(flow_path: Path) -> list[Path]:
    """The datasets beside a flow: every JSONL/CSV file of a flow's own folder; for a prompty
    (which shares its folder with others) only `<name>.data.jsonl` / `.csv`."""
    folder = flow_path.parent
    if flow_path.suffix.lower() == ".prompty":
        candidates = [folder / f"{flow_path.stem}.data{suffix}" for suffix in DATA_SUFFIXES]
        return [p for p in candidates if p.is_file()]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def feed_edits(flow_path: Path, old: str, new: str, read: Callable[[Path], str | None]) -> FeedEdits:
    """The edits that keep the datasets and eval.yaml beside a flow or prompty feeding its
    input `old` as `new`."""
    result = FeedEdits()
    folder = flow_path.parent
    eval_path = next((folder / name for name in EVAL_FILES if (folder / name).is_file()), folder / EVAL_FILES[0])
    eval_text = read(eval_path) if eval_path.is_file() else None
    mapped = False
    eval_data: Path | None = None
    datasets = _datasets(flow_path)
    if eval_text is not None:
        for range_ in _eval_references(eval_text, "run.inputs", old):
            result.add(eval_path, range_, new)
        key = _mapping_key(eval_text, old)
        if key is not None:  # the mapped column keeps feeding the input under its new name
            result.add(eval_path, key, new)
            mapped = True
        data = _eval_data(eval_text)
        if data:
            eval_data = (folder / data).resolve()
            if eval_data not in [p.resolve() for p in datasets] and eval_data.is_file():
                datasets.append(eval_data)
    if mapped:
        return result
    for dataset in datasets:
        try:
            too_large = dataset.stat().st_size > MAX_DATASET_BYTES
        except OSError:
            too_large = False
        text = None if too_large else read(dataset)
        if text is None:
            result.warnings.append(f"{dataset.name} could not be read or is too large to edit here; if it has a "
                                   f"column `{old}`, rename it to `{new}` so that it still feeds the input")
            continue
        if dataset.suffix.lower() == ".csv":
            _csv_edits(dataset, text, old, new, result)
        else:
            _jsonl_edits(dataset, text, old, new, result)
    # `${data.old}` names the column of eval.yaml's own data file: renamed with it
    if eval_data is not None and eval_text is not None and any(p.resolve() == eval_data for p in result.edits):
        for range_ in _eval_references(eval_text, "data", old):
            result.add(eval_path, range_, new)
    return result
