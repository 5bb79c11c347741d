"""Diagnostics: the analysis's problems, published on open and change and answered to pulls.

Scheduling (per document): the first change after a quiet spell is analysed at once, and
changes that arrive while an analysis is due or running are folded into one more analysis no
sooner than `diagnostics_delay_ms` after the previous one started. So a single edit gets its
diagnostics as fast as the analysis runs, and fast typing costs at most one analysis per
delay. The analysis runs in the server's executor, never on the event loop; a result for a
version the editor has already moved past is dropped (the next analysis is already due).

Cross-file: analysing a template or tool file also re-analyses the flows that use it
(`promptwise.analysis.dependents`), since the flow's problems (a variable the template now
needs, a parameter the tool no longer takes) depend on it.

Push or pull: a client that can pull diagnostics (LSP 3.17 `textDocument/diagnostic`) and
can be told to pull again (`workspace.diagnostics.refreshSupport`) gets them only by pulling,
with a `workspace/diagnostic/refresh` when another file's analysis changed them. Every other
client gets `textDocument/publishDiagnostics`, including one that pulls but cannot be asked
to re-pull (Neovim 0.11): it would keep showing a flow's problems from before its template
changed. Such a client's pulls are answered with an empty report, since sending both would
show every problem twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from lsprotocol import types

from promptwise.analysis.problem import Problem, Severity
from promptwise.lsp import uris
from promptwise.lsp.positions import to_client_range
from promptwise.lsp.server import PromptwiseServer, group_by_uri

logger = logging.getLogger("promptwise.lsp.diagnostics")

SOURCE = "promptwise"

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFORMATION: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


def to_diagnostic(problem: Problem, lines: list[str], encoding: str) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_client_range(lines, problem.range, encoding),
        severity=_SEVERITY.get(problem.severity, types.DiagnosticSeverity.Error),
        code=problem.code,
        source=SOURCE,
        message=problem.message,
    )


def diagnostics_for(ls: PromptwiseServer, uri: str) -> list[types.Diagnostic]:
    problems = ls.problems.for_target(uri)
    if not problems:
        return []
    lines = ls.lines_of(uris.uri_to_path(uri))
    return [to_diagnostic(problem, lines, ls.encoding) for problem in problems]


# ---- running the analysis ------------------------------------------------------------


DATASET_SUFFIXES = (".jsonl", ".csv", ".json")
EVAL_FILE_NAMES = ("eval.yaml", "eval.yml")


def run_analysis(path: Path, text: str | None, overlay: dict[Path, str]) -> list[Problem]:
    """Runs in the executor. Never raises: a failing analysis is logged and reports nothing.

    Flows, prompts, templates and tools go to the analysis; an `eval.yaml` to the evaluation
    file checks; a dataset gets the rows the latest evaluation scored under threshold."""
    try:
        name = path.name.lower()
        if name in EVAL_FILE_NAMES:
            from promptwise.evaluation.editor import check_eval_file

            return list(check_eval_file(path, text))
        if name.endswith(DATASET_SUFFIXES):
            if uris.is_unsaved(path):
                return []
            from promptwise.evaluation.editor import dataset_diagnostics

            return list(dataset_diagnostics(path))
        from promptwise.analysis import analyze

        return list(analyze(path, text=text, overlay=overlay))
    except Exception:
        logger.exception("analysis of %s failed", path)
        return []


def run_analysis_with_model(path: Path, text: str, overlay: dict[Path, str]) -> tuple[list[Problem], object]:
    """`run_analysis` of an open document, plus the document model it parsed (taken from
    the reader's cache, so not parsed twice), which hover and completion then answer from."""
    problems = run_analysis(path, text, overlay)
    try:
        from promptwise.documents import load_document

        return problems, load_document(path, text)
    except Exception:
        logger.exception("reading %s into a document model failed", path)
        return problems, None


def find_dependents(path: Path, overlay: dict[Path, str] | None = None) -> list[Path]:
    """Flows and prompty files that use `path` (a template, tool or data file): those whose
    last analysis read it, and those next to it that name it. Runs in the executor."""
    try:
        from promptwise.analysis import dependents

        return [uris.normalize(p) for p in dependents(path)]
    except Exception:
        logger.exception("finding the flows that use %s failed", path)
        return []


def release_file(path: Path) -> None:
    """Free what the analysis keeps of a file the editor closed (its last result, compiled
    templates and secret scan); a closed file is read from disk again when needed."""
    try:
        from promptwise.analysis.analyzer import release
        from promptwise.costing.estimate import forget_document

        release(path)
        forget_document(path)  # its cost estimates hold its rendered prompts
    except Exception:
        logger.exception("releasing %s failed", path)


def forget_file(path: Path) -> None:
    """Drop what the analysis remembers about a deleted file."""
    try:
        from promptwise.analysis import forget

        forget(path)
    except Exception:
        logger.exception("forgetting %s failed", path)


class DiagnosticsScheduler:
    """Runs, throttles and delivers the analysis of each document."""

    def __init__(self, ls: PromptwiseServer) -> None:
        self.ls = ls
        self._workers: dict[str, asyncio.Task] = {}
        self._last_start: dict[str, float] = {}
        # Documents whose files on disk changed while their analysis ran: their version is
        # the same, so the worker would not see it needs another pass (a folder deleted
        # and restored in quick succession kept the deleted folder's problems).
        self._again: set[str] = set()
        self.pull_mode = False
        self.refresh_supported = False

    def configure(self, params: types.InitializeParams) -> None:
        capabilities = params.capabilities
        text_document = capabilities.text_document if capabilities else None
        can_pull = bool(text_document and text_document.diagnostic is not None)
        workspace = capabilities.workspace if capabilities else None
        self.refresh_supported = bool(
            workspace and workspace.diagnostics and workspace.diagnostics.refresh_support
        )
        mode = self.ls.settings.diagnostics_mode
        if mode == "auto":
            self.pull_mode = can_pull and self.refresh_supported
        else:
            self.pull_mode = mode == "pull"

    @property
    def delay(self) -> float:
        return self.ls.settings.diagnostics_delay_ms / 1000

    def request(self, uri: str, disk_changed: bool = False) -> asyncio.Task:
        """Make sure `uri` gets analysed at its latest version (and, `disk_changed`, with
        the files on disk as they are now); returns the worker."""
        worker = self._workers.get(uri)
        if worker is not None and not worker.done():
            if disk_changed:
                self._again.add(uri)
            return worker  # it re-checks the version when it finishes
        worker = self.ls.spawn(self._work(uri), f"diagnostics {uri}")
        self._workers[uri] = worker
        return worker

    async def settled(self, uri: str) -> None:
        """Wait until `uri`'s analysis (if any is due) has finished."""
        worker = self._workers.get(uri)
        if worker is not None and not worker.done():
            await asyncio.shield(worker)

    async def _work(self, uri: str) -> None:
        while True:
            wait = self._last_start.get(uri, float("-inf")) + self.delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            document = self.ls.open_document(uri)
            if document is None:
                return  # closed meanwhile
            version = document.version
            self._last_start[uri] = time.monotonic()
            self._again.discard(uri)
            await self.analyse(uri, version, document.source)
            current = self.ls.open_document(uri)
            if current is None or (current.version == version and uri not in self._again):
                return

    async def analyse(self, uri: str, version: int | None, text: str | None) -> None:
        """Analyse one document (open: `text`; closed: from disk) and deliver the result."""
        path = uris.uri_to_path(uri)
        overlay = self.ls.overlay()
        started = time.perf_counter()
        if text is None:
            problems = await self.ls.run_cpu(run_analysis, path, text, overlay)
        else:
            problems, model = await self.ls.run_cpu(run_analysis_with_model, path, text, overlay)
            self.ls.remember_model(uri, version, model)
        logger.debug("analysed %s v%s: %d problems in %.1f ms", path.name, version, len(problems), (time.perf_counter() - started) * 1000)
        if text is not None and self.ls.version_of(uri) != version:
            return  # stale: the editor has moved on and another analysis is due
        changed = self.ls.problems.replace(uri, version, group_by_uri(problems))
        self.deliver(changed | ({uri} if text is not None else set()), pulled=uri)
        # Cross-file: the flows using this file may have gained or lost problems.
        dependents = [d for d in await self.ls.run_cpu(find_dependents, path, overlay) if d != path]
        if dependents:
            from promptwise.lsp.code_lens import refresh_code_lenses

            refresh_code_lenses(self.ls)  # their cost lenses read this file too
        for dependent in dependents:
            dependent_uri = uris.path_to_uri(dependent)
            if self.ls.open_document(dependent_uri) is not None:
                self.request(dependent_uri)
            else:
                await self.analyse_closed(dependent_uri)

    async def analyse_closed(self, uri: str) -> None:
        path = uris.uri_to_path(uri)
        problems = await self.ls.run_cpu(run_analysis, path, None, self.ls.overlay())
        changed = self.ls.problems.replace(uri, None, group_by_uri(problems))
        self.deliver(changed, pulled=None)

    def closed(self, uri: str) -> None:
        """A closed document's own analysis goes; what open flows say about it stays."""
        worker = self._workers.pop(uri, None)
        if worker is not None and not worker.done():
            worker.cancel()
        self._last_start.pop(uri, None)
        self._again.discard(uri)
        changed = self.ls.problems.forget(uri)
        self.deliver(changed | {uri}, pulled=None)

    def deliver(self, targets: set[str], pulled: str | None) -> None:
        if not targets:
            return
        if self.pull_mode:
            # The client pulls the document it asked about; others need a refresh.
            if (targets - {pulled}) and self.refresh_supported:
                self.ls.workspace_diagnostic_refresh(None)
            return
        for target in sorted(targets):
            self.ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=target,
                    diagnostics=diagnostics_for(self.ls, target),
                    version=self.ls.version_of(target),
                )
            )


def scheduler(ls: PromptwiseServer) -> DiagnosticsScheduler:
    existing = ls.extensions.get("diagnostics")
    if existing is None:
        existing = ls.extensions["diagnostics"] = DiagnosticsScheduler(ls)
    return existing


# ---- handlers (wired in setup.py) --------------------------------------------------------


async def did_open(ls: PromptwiseServer, params: types.DidOpenTextDocumentParams) -> None:
    uris.remember_language(params.text_document.uri, params.text_document.language_id)
    ls.forget_model(params.text_document.uri)
    scheduler(ls).request(params.text_document.uri)


async def did_change(ls: PromptwiseServer, params: types.DidChangeTextDocumentParams) -> None:
    scheduler(ls).request(params.text_document.uri)


async def did_save(ls: PromptwiseServer, params: types.DidSaveTextDocumentParams) -> None:
    # Closed flows that use this file read it from disk: re-check them now it is saved.
    scheduler(ls).request(params.text_document.uri)


async def did_close(ls: PromptwiseServer, params: types.DidCloseTextDocumentParams) -> None:
    """The file's text is the disk's again (closing without saving drops the edits, and an
    unsaved new file is gone): the flows that use it are re-checked against that."""
    uri = params.text_document.uri
    ls.forget_model(uri)
    scheduler(ls).closed(uri)
    path = uris.uri_to_path(uri)
    await ls.run_cpu(release_file, path)
    if not uris.is_unsaved(path):
        await _recheck_dependents(ls, path, ls.overlay(), skip_self=True)


async def _recheck_dependents(
    ls: PromptwiseServer, path: Path, overlay: dict[Path, str], skip_self: bool = False
) -> None:
    """Re-analyse the flows that use `path`: open ones at their next turn, closed ones that
    have diagnostics shown now."""
    diagnostics = scheduler(ls)
    for dependent in await ls.run_cpu(find_dependents, path, overlay):
        if skip_self and dependent == path:
            continue
        dependent_uri = uris.path_to_uri(dependent)
        if ls.open_document(dependent_uri) is not None:
            diagnostics.request(dependent_uri, disk_changed=True)
        elif dependent_uri in ls.problems.sources():
            await diagnostics.analyse_closed(dependent_uri)


async def did_change_watched_files(ls: PromptwiseServer, params: types.DidChangeWatchedFilesParams) -> None:
    """A file changed on disk (another tool, a git checkout): re-check what depends on it."""
    diagnostics = scheduler(ls)
    overlay = ls.overlay()
    folder_changed = False
    for change in params.changes:
        path = uris.uri_to_path(change.uri)
        if not path.suffix:
            # Most likely a folder: deleted, created or renamed, it comes as one event for
            # the folder, not one per file in it, and any open flow may use a file in there.
            folder_changed = folder_changed or change.type != types.FileChangeType.Changed
            continue
        ls.forget_model(change.uri)
        if ls.open_document(change.uri) is not None:
            continue  # the editor's copy wins; didChange covers it
        if change.type == types.FileChangeType.Deleted:
            diagnostics.deliver(ls.problems.forget(change.uri), pulled=None)
            await ls.run_cpu(forget_file, path)
        await _recheck_dependents(ls, path, overlay)
    if folder_changed:
        for uri in ls.open_uris():
            diagnostics.request(uri, disk_changed=True)


# The result id of the empty reports a pushed-to client gets when it pulls anyway.
PUSHED_RESULT_ID = "pushed"


async def pull(ls: PromptwiseServer, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
    uri = params.text_document.uri
    diagnostics = scheduler(ls)
    if not diagnostics.pull_mode:
        # This client's diagnostics come by push (it cannot be told to re-pull when another
        # file changes them); answering here too would show each problem twice.
        if params.previous_result_id == PUSHED_RESULT_ID:
            return types.UnchangedDocumentDiagnosticReport(result_id=PUSHED_RESULT_ID)
        return types.FullDocumentDiagnosticReport(items=[], result_id=PUSHED_RESULT_ID)
    if ls.open_document(uri) is not None:
        if ls.problems.analysed_version(uri) != ls.version_of(uri):
            diagnostics.request(uri)
        await diagnostics.settled(uri)
    elif ls.problems.analysed_version(uri) is False:
        await diagnostics.analyse_closed(uri)
    result_id = f"{ls.problems.generation(uri)}"
    if params.previous_result_id == result_id:
        return types.UnchangedDocumentDiagnosticReport(result_id=result_id)
    return types.FullDocumentDiagnosticReport(items=diagnostics_for(ls, uri), result_id=result_id)
