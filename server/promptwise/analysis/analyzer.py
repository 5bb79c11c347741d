"""The analysis entry points: `analyze` one file, `check_paths` over folders, the
`register_checker` hook, and `dependents` for cross-file re-checks.

Checkers run in a fixed order: our own (schema, graph, sources), then the template, tool,
prompty and secret checks (H8's modules), then checkers other areas registered (e.g.
costing's PW7xx). A checker that raises does not take the analysis down: its error becomes
a PW000 warning and is logged.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from promptwise.analysis.context import AnalysisContext, normalize
from promptwise.analysis.graph import check_flow_graph
from promptwise.analysis.problem import Problem, Severity
from promptwise.analysis.schema import (
    FLEX_FLOW,
    FLOW_DAG,
    PROMPTY_PROMPTFLOW,
    PROMPTY_SPEC,
    check_document_schema,
)
from promptwise.analysis.settings import check_settings_file, is_settings_file
from promptwise.analysis.outside_paths import check_paths_leaving_project
from promptwise.analysis.sources import check_flex_sources, check_flow_sources, check_prompty_files
from promptwise.analysis.values import check_input_values
from promptwise.documents.flex_flow import FlexFlow
from promptwise.documents.flow_dag import FlowDag
from promptwise.documents.load import FLEX_FLOW_NAMES, FLOW_DAG_NAMES, Document, document_kind, load_document
from promptwise.documents.prompty import SHAPE_PROMPTY, Prompty
from promptwise.documents.source import Range

log = logging.getLogger(__name__)

# Folders never searched: environments, dependencies, VCS data, our own state.
SKIP_DIRS = frozenset(
    {".venv", "venv", "env", ".env", "node_modules", ".git", ".hg", ".svn", "__pycache__",
     ".promptwise", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages"}
)  # fmt: skip
# H8's checkers: each module exposes `check(document, context) -> list[Problem]`.
COMPANION_MODULES = (
    "promptwise.analysis.templates",
    "promptwise.analysis.tools",
    "promptwise.analysis.prompty_checks",
    "promptwise.analysis.secrets",
    "promptwise.analysis.settings",
    "promptwise.costing.checker",
)

Checker = Callable[..., list[Problem]]


@dataclass
class _Registered:
    function: Checker
    wants_context: bool


_REGISTERED: list[_Registered] = []
_COMPANIONS: list[tuple[str, Checker]] | None = None
# normalized flow path -> files its last analysis consulted
_DEPENDENCIES: dict[Path, set[Path]] = {}
# normalized path -> (document object, dependency fingerprint, problems)
_RESULTS: dict[Path, tuple[object, tuple, list[Problem]]] = {}
_LOCK = threading.Lock()


def register_checker(function: Checker) -> Checker:
    """Add a checker run on every analyzed document: `fn(document)` or
    `fn(document, context)` returning a list of Problems. Usable as a decorator."""
    try:
        parameters = inspect.signature(function).parameters
        wants_context = len(parameters) >= 2
    except (TypeError, ValueError):
        wants_context = False
    with _LOCK:
        if not any(r.function is function for r in _REGISTERED):
            _REGISTERED.append(_Registered(function, wants_context))
        _RESULTS.clear()
    return function


def unregister_checker(function: Checker) -> None:
    with _LOCK:
        _REGISTERED[:] = [r for r in _REGISTERED if r.function is not function]
        _RESULTS.clear()


def _companions() -> list[tuple[str, Checker]]:
    global _COMPANIONS
    if _COMPANIONS is None:
        found = []
        for name in COMPANION_MODULES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as error:
                if error.name == name:
                    continue  # not written yet
                log.exception("cannot import checker module %s", name)
                continue
            except Exception:  # a broken module must not stop the analysis
                log.exception("cannot import checker module %s", name)
                continue
            check = getattr(module, "check", None)
            if callable(check):
                found.append((name.rsplit(".", 1)[-1], check))
        _COMPANIONS = found
    return _COMPANIONS


def _internal_error(path: Path, name: str, error: BaseException) -> Problem:
    log.exception("checker %s failed on %s", name, path)
    return Problem(
        path,
        Range.empty(0, 0),
        Severity.WARNING,
        "PW000",
        f"internal error in the {name} check ({type(error).__name__}: {error}); other checks "
        "still ran — please report this with the file",
    )


def _run(name: str, path: Path, call: Callable[[], Iterable[Problem]]) -> list[Problem]:
    try:
        return list(call() or [])
    except RecursionError as error:
        return [_internal_error(path, name, error)]
    except Exception as error:
        return [_internal_error(path, name, error)]


def read_problems(document: Document) -> list[Problem]:
    """Problems found while reading and parsing (PW100-PW102 ...)."""
    problems = getattr(document, "problems", None)
    if isinstance(problems, list):
        return list(problems)
    return list(getattr(document, "read_problems", []) or [])


def _own_checks(document: Document, context: AnalysisContext) -> list[Problem]:
    path = document.path
    if isinstance(document, FlowDag):
        problems = []
        if document.root is not None:
            problems += _run("schema", path, lambda: check_document_schema(document.root, FLOW_DAG, path, document.text))
        problems += _run("values", path, lambda: check_input_values(document.inputs, path))
        problems += _run("graph", path, lambda: check_flow_graph(document, context))
        problems += _run("sources", path, lambda: check_flow_sources(document, context))
        problems += _run("paths", path, lambda: check_paths_leaving_project(document, context))
        return problems
    if isinstance(document, FlexFlow):
        problems = []
        if document.root is not None:
            problems += _run("schema", path, lambda: check_document_schema(document.root, FLEX_FLOW, path, document.text))
        problems += _run(
            "values",
            path,
            lambda: check_input_values(document.inputs, path)
            + check_input_values(document.init, path, "init parameter"),
        )
        problems += _run("sources", path, lambda: check_flex_sources(document, context))
        problems += _run("paths", path, lambda: check_paths_leaving_project(document, context))
        return problems
    if isinstance(document, Prompty):
        problems = []
        if document.root is not None:
            rule = PROMPTY_SPEC if document.shape == SHAPE_PROMPTY else PROMPTY_PROMPTFLOW
            problems += _run("schema", path, lambda: check_document_schema(document.root, rule, path, document.text))
        problems += _run("files", path, lambda: check_prompty_files(document, context))
        problems += _run("paths", path, lambda: check_paths_leaving_project(document, context))
        return problems
    return []


def _fingerprint(dependencies: Iterable[Path], overlay: dict[Path, str]) -> tuple:
    """How the files a previous analysis consulted look now (editor text or disk)."""
    parts = []
    for dependency in sorted(dependencies):
        text = overlay.get(dependency)
        if text is not None:
            parts.append((dependency, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()))
            continue
        try:
            stat = os.stat(dependency)
            parts.append((dependency, stat.st_mtime_ns, stat.st_size))
        except (OSError, ValueError):  # ValueError: a NUL in a path a document names
            parts.append((dependency, None))
    return tuple(parts)


def _settings_files(path: Path) -> set[Path]:
    """Workspace settings that may change what checkers report (models, connections):
    `promptwise.yaml` and `pyproject.toml` from the file's folder up to the workspace root.
    Kept as dependencies, so editing them invalidates cached results."""
    found: set[Path] = set()
    for depth, folder in enumerate(path.parents):
        if depth >= 12:
            break
        found.add(folder / "promptwise.yaml")
        found.add(folder / "pyproject.toml")
        if (folder / "promptwise.yaml").is_file() or (folder / ".git").exists() or (folder / ".promptwise").is_dir():
            break
    return found


def _sort_key(problem: Problem):
    return (str(problem.path), problem.range.start, problem.range.end, problem.code, problem.message)


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    seen = set()
    unique = []
    for problem in problems:
        key = (normalize(problem.path), problem.range, problem.code, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    unique.sort(key=_sort_key)
    return unique


# YAML syntax errors (the reader's PW101 family). Only they are reported while one exists.
SYNTAX_CODES = frozenset({"PW101"})


def analyze(path: Path | str, text: str | None = None, overlay: dict | None = None) -> list[Problem]:
    """All problems of one file (flow.dag.yaml, flow.flex.yaml, .prompty, or a template or
    tool file on its own). `text`: the editor's copy of this file; `overlay`: unsaved copies
    of other files (path -> text). Never raises."""
    path = Path(path)
    context = AnalysisContext.create(path, overlay)
    key = normalize(path)
    if text is None:
        text = context.overlay.get(key)
    if is_settings_file(path):  # promptwise.yaml / [tool.promptwise]: settings, not a document
        return _dedupe(_run("settings", path, lambda: check_settings_file(path, text)))
    try:
        document = load_document(path, text)
    except Exception as error:  # load_document never raises by design; belt and braces
        return [_internal_error(path, "reader", error)]
    if document is None:
        return []
    cached = _RESULTS.get(key)
    if cached is not None and cached[0] is document:
        previous = set(_DEPENDENCIES.get(key, ()))
        if cached[1] == _fingerprint(previous, context.overlay):
            return list(cached[2])
    problems = read_problems(document)
    syntax_errors = [problem for problem in problems if problem.code in SYNTAX_CODES]
    if syntax_errors:
        # The YAML reader stops at the error, so the document holds only what came before it:
        # checking references or unused inputs would blame every node after the break.
        # The syntax error alone says what to fix; the rest is checked once the file parses.
        return _remember(key, document, context, _dedupe(syntax_errors))
    if isinstance(document, FlowDag) and not document.is_python:
        return _remember(key, document, context, _dedupe(problems + [_not_python(document)]))
    problems += _own_checks(document, context)
    for name, check in _companions():
        problems += _run(name, path, lambda check=check: check(document, context))
    for registered in list(_REGISTERED):
        name = getattr(registered.function, "__name__", "registered")
        if registered.wants_context:
            problems += _run(name, path, lambda r=registered: r.function(document, context))
        else:
            problems += _run(name, path, lambda r=registered: r.function(document))
    return _remember(key, document, context, _dedupe(problems))


def _not_python(flow: FlowDag) -> Problem:
    """A C# (or other non-Python) flow: Prompt flow runs it with another executor; its nodes
    name compiled tools we cannot read, so nothing else is checked rather than guessed."""
    entry = flow.root.entry("language") if flow.root is not None else None
    range_ = entry.key.range if entry is not None else Range.empty(0, 0)
    return Problem(flow.path, range_, Severity.INFORMATION, "PW108",
                   f"a {flow.language} flow: Promptwise checks and runs Python flows only, so this flow is "
                   f"neither checked nor run here (Prompt flow runs it with its {flow.language} executor)")


def _remember(key: str, document, context: AnalysisContext, result: list[Problem]) -> list[Problem]:
    """Cache `result` for this version of the document and of the files it read."""
    dependencies = set(context.dependencies) | _settings_files(key)
    dependencies.discard(key)
    fingerprint = _fingerprint(dependencies, context.overlay)
    with _LOCK:  # the language server analyzes from several threads
        _DEPENDENCIES[key] = dependencies
        previous = _RESULTS.get(key)
        _RESULTS[key] = (document, fingerprint, result)
        while len(_RESULTS) > 1024:
            _RESULTS.pop(next(iter(_RESULTS)))
    if previous is not None and previous[0] is not document:
        _release_version(previous[0], document)  # the version typed before this one
    return list(result)


def _texts(document: object | None) -> set[str]:
    """The texts of a document that rendering compiles: the file, a prompty's body."""
    return {t for t in (getattr(document, "text", None), getattr(document, "body", None)) if isinstance(t, str)}


def _release_version(old: object, new: object | None = None) -> None:
    """Free the compiled templates of a document version no longer current (a large template
    typed in would otherwise leave one compiled copy per keystroke until evicted)."""
    from promptwise.documents.render import forget_compiled

    stale = _texts(old) - _texts(new)
    if stale:
        forget_compiled(stale)


def is_checkable_file(path: Path) -> bool:
    """Files `check_paths` picks up when searching a folder."""
    name = path.name.lower()
    return name in FLOW_DAG_NAMES or name in FLEX_FLOW_NAMES or name.endswith(".prompty")


def walk_files(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, in a stable order, skipping virtual environments,
    dependencies, VCS data and our own state."""
    for current, dirs, files in os.walk(folder, onerror=lambda error: None):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            yield Path(current) / name


def discover(paths: Iterable[Path | str]) -> tuple[list[Path], list[Problem]]:
    """Flow and prompty files under `paths` (files are taken as given), sorted, plus
    problems for paths that do not exist."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            known = document_kind(path) is not None or is_settings_file(path)
            if not known and path.suffix.lower() not in (".yaml", ".yml"):
                problems.append(
                    Problem(
                        path,
                        Range.empty(0, 0),
                        Severity.WARNING,
                        "PW100",
                        "not a kind of file promptwise checks (flow.dag.yaml, flow.flex.yaml, "
                        ".prompty, Jinja templates, Python tools); pass one of those or a folder",
                    )
                )
                continue
            found.append(path)
            continue
        if not path.is_dir():
            problems.append(
                Problem(
                    path,
                    Range.empty(0, 0),
                    Severity.ERROR,
                    "PW100",
                    "no such file or folder; check the path",
                )
            )
            continue
        found.extend(candidate for candidate in walk_files(path) if is_checkable_file(candidate))
    unique = list(dict.fromkeys(found))
    return unique, problems


def check_paths(paths: Iterable[Path | str]) -> list[Problem]:
    """Problems of every flow and prompty under `paths` (folders are searched, skipping
    virtual environments, node_modules and .git)."""
    files, problems = discover(paths)
    for path in files:
        problems += analyze(path)
    return _dedupe(problems)


def referenced_files(document: Document) -> set[Path]:
    """Files a document points at (templates, tools, entry modules, `${file:...}`, the
    environment's requirements file), normalized. Computed from the document alone,
    without running the analysis."""
    found: set[Path] = set()
    if isinstance(document, FlowDag):
        # many nodes share a few files: join and normalize each distinct path once
        named = {
            node.source.path
            for node in document.all_nodes()
            if node.source is not None and isinstance(node.source.path, str) and node.source.path
        }
        found.update(normalize(document.folder / name) for name in named)
    elif isinstance(document, FlexFlow):
        found.update(normalize(p) for p in document.module_candidates())
    if isinstance(document, (FlowDag, FlexFlow)) and isinstance(document.environment, dict):
        requirements = document.environment.get("python_requirements_txt")
        if isinstance(requirements, str) and requirements.strip():
            found.add(normalize(document.folder / requirements.strip()))
    if isinstance(document, (FlexFlow, Prompty)):
        for substitution in document.substitutions:
            if substitution.kind == "file" and substitution.name:
                found.add(normalize(document.folder / substitution.name))
    return found


def dependents(path: Path | str) -> list[Path]:
    """Flows and prompty files that use `path` (a template, tool or data file), so the
    editor can re-check them when it changes: those whose last analysis read it, plus flow
    files in the same folder and the one above that reference it."""
    key = normalize(path)
    with _LOCK:
        found = {flow for flow, dependencies in _DEPENDENCIES.items() if key in dependencies}
    for folder in (key.parent, key.parent.parent):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            candidate = folder / name
            if candidate in found or candidate == key or not is_checkable_file(candidate):
                continue
            document = load_document(candidate)
            if document is not None and key in referenced_files(document):
                found.add(candidate)
    return sorted(found)


def release(path: Path | str) -> None:
    """Free what the analysis keeps of a file the editor closed: its last result and document,
    the compiled templates and the secret scan of its text. What it learned about the files
    the file uses stays, so that editing one of those still re-checks it."""
    from promptwise.analysis import secrets

    key = normalize(path)
    with _LOCK:
        cached = _RESULTS.pop(key, None)
    if cached is not None:
        _release_version(cached[0])
    secrets.forget(key)


def forget(path: Path | str) -> None:
    """Drop all we remember about a file (deleted)."""
    release(path)
    with _LOCK:
        _DEPENDENCIES.pop(normalize(path), None)
