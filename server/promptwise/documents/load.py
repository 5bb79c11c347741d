"""`load_document(path, text=None)`: the one way to read any file Promptwise understands.

The kind is chosen by file name: `flow.dag.yaml` -> FlowDag, `flow.flex.yaml` -> FlexFlow,
`*.prompty` -> Prompty, `*.jinja2`/`*.j2` -> JinjaTemplate, `*.py` -> PythonToolFile; another
`*.yaml` is sniffed (`nodes:` -> FlowDag, `entry:` -> FlexFlow). A file that cannot be read
(missing, a directory, binary, too large) gives an `UnreadableDocument` carrying a PW100
problem instead of raising. Results are cached by (path, mtime, size) when read from disk
and by (path, text) when the editor passes its text, so re-analysis on every keystroke
does not re-parse unchanged neighbours.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from promptwise.common.problems import Problem, Severity
from promptwise.documents.files import UnreadableFile, check_path, read_user_bytes
from promptwise.documents.flex_flow import FlexFlow, parse_flex_flow
from promptwise.documents.flow_dag import FlowDag, parse_flow_dag
from promptwise.documents.jinja_template import JinjaTemplate, parse_jinja_template
from promptwise.documents.prompty import Prompty, parse_prompty
from promptwise.documents.python_tool import PythonToolFile, parse_python_tool
from promptwise.documents.source import Range

MAX_FILE_BYTES = 2 * 1024 * 1024  # flows and prompts are small; bigger is a mistake or data
FLOW_DAG_NAMES = ("flow.dag.yaml", "flow.dag.yml")
FLEX_FLOW_NAMES = ("flow.flex.yaml", "flow.flex.yml")
TEMPLATE_SUFFIXES = (".jinja2", ".j2", ".jinja")
_TOP_LEVEL_NODES = re.compile(r"^nodes\s*:", re.MULTILINE)
_TOP_LEVEL_ENTRY = re.compile(r"^entry\s*:", re.MULTILINE)


@dataclass
class UnreadableDocument:
    """A file we could not read as text; `problems` says why."""

    kind = "unreadable"
    path: Path
    problems: list[Problem] = field(default_factory=list)


Document = Union[FlowDag, FlexFlow, Prompty, JinjaTemplate, PythonToolFile, UnreadableDocument]

# (source, path) -> (version, document). One entry per file and source ("text" from the
# editor, "file" from disk): keeping every version typed would let the cache grow by a
# whole parse tree per keystroke, and Python's garbage collector then pays for all of them.
_CACHE: "OrderedDict[tuple, tuple[object, Document | None]]" = OrderedDict()
_CACHE_SIZE = 512
# The language server analyzes from worker threads; OrderedDict reordering is not atomic.
_CACHE_LOCK = threading.Lock()


def document_kind(path: Path, text: str | None = None) -> str | None:
    """'flow_dag' | 'flex_flow' | 'prompty' | 'jinja' | 'python' | None, from the name
    (and, for other YAML files, a glance at the text)."""
    name = path.name.lower()
    if name in FLOW_DAG_NAMES:
        return "flow_dag"
    if name in FLEX_FLOW_NAMES:
        return "flex_flow"
    suffix = path.suffix.lower()
    if suffix == ".prompty":
        return "prompty"
    if suffix in TEMPLATE_SUFFIXES:
        return "jinja"
    if suffix == ".py":
        return "python"
    if suffix in (".yaml", ".yml") and text is not None:
        if _TOP_LEVEL_NODES.search(text):
            return "flow_dag"
        if _TOP_LEVEL_ENTRY.search(text):
            return "flex_flow"
    return None


def _unreadable(path: Path, message: str) -> UnreadableDocument:
    return UnreadableDocument(
        path, [Problem(path, Range.empty(0, 0), Severity.ERROR, "PW100", message)]
    )


def read_text(path: Path) -> tuple[str | None, Problem | None]:
    """A file's text, or None and a PW100 problem saying why it cannot be checked.
    Invalid UTF-8 is decoded with replacement characters plus a problem at the first bad byte."""
    try:
        check_path(path)
        if path.is_dir():
            return None, _unreadable(path, "this is a folder, not a file; pass a file or let "
                                     "`promptwise check` search the folder").problems[0]
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, _unreadable(
                path,
                f"file is too large to check ({size / 1_048_576:.1f} MB, limit "
                f"{MAX_FILE_BYTES // 1_048_576} MB); keep data out of flow and prompt files",
            ).problems[0]
        raw = read_user_bytes(path, MAX_FILE_BYTES)  # regular files only: not /dev/zero, a FIFO
    except UnreadableFile as error:
        return None, _unreadable(path, f"not read: {error}").problems[0]
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return None, _unreadable(path, f"cannot read the file ({reason}); check that it exists "
                                 "and is readable").problems[0]
    return decode(path, raw)


def decode(path: Path, raw: bytes) -> tuple[str | None, Problem | None]:
    if b"\x00" in raw[:8192]:
        return None, _unreadable(
            path, "this is a binary file, not text; point the flow at a text file"
        ).problems[0]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        good = raw[: error.start].decode("utf-8", errors="replace")
        line = good.count("\n")
        column = len(good) - (good.rfind("\n") + 1)
        problem = Problem(
            path,
            Range.of(line, column, line, column + 1),
            Severity.ERROR,
            "PW100",
            "the file is not valid UTF-8 (byte "
            f"0x{raw[error.start]:02x}); save it with UTF-8 encoding",
        )
        return raw.decode("utf-8", errors="replace"), problem


def _parse(kind: str, path: Path, text: str) -> Document:
    if kind == "flow_dag":
        if _TOP_LEVEL_ENTRY.search(text) and not _TOP_LEVEL_NODES.search(text):
            return parse_flex_flow(text, path)  # Prompt flow reads a flow.dag.yaml with `entry:` as a flex flow
        return parse_flow_dag(text, path)
    if kind == "flex_flow":
        return parse_flex_flow(text, path)
    if kind == "prompty":
        return parse_prompty(text, path)
    if kind == "jinja":
        return parse_jinja_template(text, path)
    return parse_python_tool(text, path)


def _remember(key: tuple, document: Document | None) -> Document | None:
    with _CACHE_LOCK:
        _CACHE[key[:2]] = (key[2:], document)
        _CACHE.move_to_end(key[:2])
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return document


_MISSING = object()


def _cached(key: tuple):
    """The document cached for `key` = (source, path, *version), if that version."""
    with _CACHE_LOCK:
        entry = _CACHE.get(key[:2])
        if entry is None or entry[0] != key[2:]:
            return _MISSING
        _CACHE.move_to_end(key[:2])
        return entry[1]


def load_document(path: Path | str, text: str | None = None) -> Document | None:
    """Read and parse one file (or `text`, the editor's unsaved copy of it).

    Returns None for files of no kind we know. Never raises.
    """
    path = Path(path)
    if text is not None:
        if len(text) > MAX_FILE_BYTES:
            return _unreadable(path, "file is too large to check; keep data out of flow and prompt files")
        if text.startswith("\ufeff"):
            text = text[1:]
        key = ("text", str(path), hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        cached = _cached(key)
        if cached is not _MISSING:
            return cached
        kind = document_kind(path, text)
        return _remember(key, _parse(kind, path, text) if kind else None)
    try:
        stat = os.stat(path)
        key = ("file", str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError):  # ValueError: a NUL in the path (read_text says so)
        key = None
    if key is not None:
        cached = _cached(key)
        if cached is not _MISSING:
            return cached
    kind = document_kind(path)
    if kind is None and path.suffix.lower() not in (".yaml", ".yml"):
        return None
    file_text, problem = read_text(path)
    if file_text is None:
        document: Document | None = _unreadable(path, problem.message) if problem else None
        if problem is not None:
            document.problems = [problem]
        return document  # not cached: the file may appear or shrink at any moment
    kind = kind or document_kind(path, file_text)
    if kind is None:
        return _remember(key, None) if key else None
    document = _parse(kind, path, file_text)
    if problem is not None:
        _attach(document, problem)
    return _remember(key, document) if key else document


def _attach(document: Document, problem: Problem) -> None:
    """Add a read problem (invalid UTF-8) to a parsed document."""
    problems = getattr(document, "problems", None)
    if isinstance(problems, list):
        problems.insert(0, problem)
    else:
        # JinjaTemplate / PythonToolFile have no problem list of their own; keep the
        # problem where the analysis looks for read problems
        try:
            document.read_problems = [problem]  # type: ignore[union-attr]
        except AttributeError:
            pass


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
