"""The one place that wires the server: every `@server.feature` and `@server.command`.

Each registration hands off to a feature module. Every handler is wrapped by `guarded`, so
a feature that raises logs the error (to stderr) and answers with an empty result instead
of failing the request or taking other features down.

Only what `initialize` itself needs is imported before it is answered (the server object,
text sync, announcements, diagnostics' scheduler). Every other feature is registered by name
and imported on its first request (`_later`); right after `initialized`, a background thread
imports them all (`warm_up`), so a first hover or completion does not pay for it either.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from typing import Any, Awaitable, Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from promptwise.lsp import announce, diagnostics, text_sync
from promptwise.lsp.server import PromptwiseServer, Settings

logger = logging.getLogger("promptwise.lsp")

# Files whose changes on disk matter: flows, prompts, templates, tools, datasets, settings.
WATCHED_GLOBS = ("**/*.{yaml,yml,prompty,jinja2,j2,py,jsonl,csv}",)


def guarded(name: str, default: Any = None) -> Callable:
    """Wrap a feature handler so that its failure is logged and answered with `default`
    (for notifications the answer is dropped; what matters is that nothing propagates)."""

    def wrap(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def run(ls: PromptwiseServer, *args: Any) -> Any:
            try:
                return await handler(ls, *args)
            except asyncio.CancelledError:
                raise
            except JsonRpcException as error:  # meant for the user (e.g. an invalid new name)
                logger.info("%s refused: %s", name, error)
                raise
            except Exception:
                logger.exception("%s failed", name)
                return default

        return run

    return wrap


def _later(module: str, name: str) -> Callable[..., Awaitable[Any]]:
    """The async handler `name` of `promptwise.lsp.<module>`, imported when first called.

    Its signature, `(ls, *args)`, is what pygls needs: it passes the server first, a feature's
    params or a command's arguments after (a command's arguments stay as the client sent them,
    which is what our command handlers take)."""

    async def handler(ls: PromptwiseServer, *args: Any) -> Any:
        return await getattr(importlib.import_module(f"promptwise.lsp.{module}"), name)(ls, *args)

    handler.__name__ = handler.__qualname__ = name
    handler.target = (module, name)  # type: ignore[attr-defined]  # for the tests
    return handler


# The feature modules registered by name (`_later`) and imported by `warm_up` after initialize,
# with what they import in turn (YAML, Jinja2, the analysis, the costing, the job runner).
FEATURE_MODULES = (
    "hover", "completion", "code_lens", "costs", "folding", "symbols", "definition", "references",
    "links", "rename", "code_actions", "commands", "traces", "replay", "operate",
)
# What the first analysis of an opened document needs: imported by `warm_up` too.
ANALYSIS_MODULES = ("promptwise.analysis.analyzer", "promptwise.costing.checker", "promptwise.costing.estimate")


def warm_up() -> None:
    """Import the features and the analysis (in a background thread, after `initialized`), then
    tune the garbage collector with all of it frozen out of the collector's sight."""
    for name in [f"promptwise.lsp.{module}" for module in FEATURE_MODULES] + list(ANALYSIS_MODULES):
        try:
            importlib.import_module(name)
        except Exception:  # the feature fails on its own request, with its own log
            logger.exception("cannot import %s", name)
    _tune_garbage_collector()


class _UserErrorsWithoutTraceback(logging.Filter):
    """pygls logs every error a handler raises with its traceback, at ERROR. Errors we raise
    on purpose to answer the user (a rename to a taken name) are not failures: they are
    logged once, at INFO, by `guarded`, and dropped here."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, JsonRpcException) and not isinstance(error, JsonRpcInternalError))


def create_server() -> PromptwiseServer:
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_UserErrorsWithoutTraceback())
    server = PromptwiseServer()
    _register_lifecycle(server)
    _register_diagnostics(server)
    _register_navigation(server)
    _register_editing(server)
    _register_runs(server)
    return server


def _tune_garbage_collector() -> None:
    """After the imports (`warm_up`): freeze what exists and collect less often, so full
    collections do not stall analyses while typing (`promptwise.analysis.gc_tuning`)."""
    try:
        from promptwise.analysis.gc_tuning import tune_for_interactive_use

        tune_for_interactive_use()
    except Exception:  # a tuning, not a feature: the server runs without it
        logger.exception("garbage collector not tuned")


def _log_job_interpreter(ls: PromptwiseServer) -> None:
    from promptwise.lsp.jobs import InterpreterError, job_interpreter

    try:
        logger.info("runs, batches and evaluations will run in %s", job_interpreter(ls.settings.python).description)
    except InterpreterError as error:
        logger.warning("runs, batches and evaluations cannot start: %s", error)


def _register_lifecycle(server: PromptwiseServer) -> None:
    @server.feature(types.INITIALIZE)
    @guarded("initialize")
    async def initialize(ls: PromptwiseServer, params: types.InitializeParams) -> None:
        text_sync.install(ls.protocol)  # incremental edits applied on LSP's lines
        ls.protocol._request_futures = _SnapshotDict(ls.protocol._request_futures)
        ls.settings = Settings.from_options(params.initialization_options)
        announce.configure(ls, params.initialization_options)  # results as window/showMessage
        diagnostics.scheduler(ls).configure(params)
        # Sections other features add to hovers (cost breakdown, evaluation's worst rows).
        ls.extensions["hover_providers"] = [_later("costs", "cost_hover"), _later("code_lens", "evaluation_hover")]
        # PW7xx (context window, unknown model) come with the analysis: costing.checker is
        # one of its companion checkers (analysis/analyzer.py COMPANION_MODULES).

    @server.feature(types.INITIALIZED)
    @guarded("initialized")
    async def initialized(ls: PromptwiseServer, params: types.InitializedParams) -> None:
        ls.spawn(asyncio.to_thread(warm_up), "warm-up imports")
        _log_job_interpreter(ls)
        await _watch_files(ls)

    @server.feature(types.SHUTDOWN)
    @guarded("shutdown")
    async def shutdown(ls: PromptwiseServer, *args: Any) -> None:
        from promptwise.lsp.jobs import manager

        await manager(ls).stop_all()
        ls.stop_background()


class _SnapshotDict(dict):
    """pygls cancels the requests still pending at shutdown while iterating over its dict of
    them, and a request run by one of its generator handlers (executeCommand) leaves that dict
    from inside `cancel()`: the shutdown request failed with "dictionary changed size during
    iteration" whenever a command was running. Iterating over a snapshot is safe."""

    def items(self):  # type: ignore[override]
        return list(super().items())


async def _watch_files(ls: PromptwiseServer) -> None:
    """Ask the client to tell us about files changed on disk, if it can register watchers."""
    capability = ls.client_capabilities.workspace
    watched = capability.did_change_watched_files if capability else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED_GLOBS]
        # Deleting, creating or renaming a folder is reported for the folder only, which the
        # globs above do not match: without this, flows using a template in a deleted folder
        # were not re-checked.
        + [types.FileSystemWatcher(glob_pattern="**/*", kind=types.WatchKind.Create | types.WatchKind.Delete)]
    )
    registration = types.Registration(
        id="promptwise-watched-files",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options,
    )
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(types.RegistrationParams(registrations=[registration])),
            timeout=10,
        )
    except Exception as error:  # a client that refuses still gets everything else
        logger.warning("file watching not registered: %s", error)


def _register_diagnostics(server: PromptwiseServer) -> None:
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(guarded("didOpen")(diagnostics.did_open))
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(guarded("didChange")(diagnostics.did_change))
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(guarded("didSave")(diagnostics.did_save))
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(guarded("didClose")(diagnostics.did_close))
    server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(
        guarded("didChangeWatchedFiles")(diagnostics.did_change_watched_files)
    )
    server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="promptwise",
            inter_file_dependencies=True,  # a template's edit changes its flow's problems
            workspace_diagnostics=False,
        ),
    )(
        guarded(
            "textDocument/diagnostic",
            default=types.FullDocumentDiagnosticReport(items=[]),
        )(diagnostics.pull)
    )


def _register_navigation(server: PromptwiseServer) -> None:
    server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)(
        guarded("documentSymbol", default=[])(_later("symbols", "document_symbols"))
    )
    server.feature(types.TEXT_DOCUMENT_DEFINITION)(guarded("definition")(_later("definition", "definition")))
    server.feature(types.TEXT_DOCUMENT_REFERENCES)(guarded("references")(_later("references", "references")))
    server.feature(types.TEXT_DOCUMENT_HOVER)(guarded("hover")(_later("hover", "hover")))
    server.feature(types.TEXT_DOCUMENT_DOCUMENT_LINK, types.DocumentLinkOptions(resolve_provider=False))(
        guarded("documentLink")(_later("links", "document_links"))
    )
    server.feature(types.TEXT_DOCUMENT_FOLDING_RANGE)(guarded("foldingRange")(_later("folding", "folding_ranges")))
    server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=COMPLETION_TRIGGER_CHARACTERS),
    )(guarded("completion")(_later("completion", "completion")))


# What typing triggers completion (`${` references, `{{` template variables, `.` keys, `: `
# values); completion.TRIGGER_CHARACTERS is the same list (a test keeps them equal).
COMPLETION_TRIGGER_CHARACTERS = ["{", ".", ":", " "]


def _register_editing(server: PromptwiseServer) -> None:
    server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)(guarded("prepareRename")(_later("rename", "prepare_rename")))
    server.feature(types.TEXT_DOCUMENT_RENAME)(guarded("rename")(_later("rename", "rename")))
    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )(guarded("codeAction")(_later("code_actions", "code_actions")))


DOCUMENT_TOTALS = "promptwise/documentTotals"

# workspace/executeCommand names -> (feature module, handler). The names are the modules' own
# constants (commands.RUN_FLOW, traces.SHOW_TRACE...), written out so that registering them
# imports no feature module; a test keeps the two equal.
COMMANDS = {
    "promptwise.runFlow": ("commands", "run_flow"),
    "promptwise.batchRun": ("commands", "batch_run"),
    "promptwise.evaluate": ("commands", "evaluate"),
    "promptwise.estimateCost": ("commands", "estimate_cost"),
    "promptwise.compareRuns": ("commands", "compare_runs"),
    "promptwise.showRun": ("commands", "show_run"),
    "promptwise.cancel": ("commands", "cancel"),
    "promptwise.showTrace": ("traces", "show_trace"),
    "promptwise.replayCall": ("replay", "replay_call"),
    "promptwise.replayModels": ("replay", "replay_models"),
    "promptwise.monitorView": ("operate", "show_monitor"),
    "promptwise.alerts": ("operate", "check_alerts"),
    "promptwise.deployments": ("operate", "list_deployments"),
}
# What a command answers when it fails inside the server (replayModels lists models: none).
_EMPTY_ANSWER = {"promptwise.replayModels": []}


def _register_runs(server: PromptwiseServer) -> None:
    """Code lenses (cost, run, evaluation), the status bar's totals, and the commands."""
    server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))(
        guarded("codeLens", default=[])(_later("code_lens", "code_lenses"))
    )
    server.feature(DOCUMENT_TOTALS)(guarded(DOCUMENT_TOTALS)(_later("costs", "document_totals")))
    for name, (module, handler) in COMMANDS.items():
        failure = _EMPTY_ANSWER.get(name, {"status": "error",
                                           "error": f"{name} failed inside the server; see the Promptwise log"})
        server.command(name)(guarded(name, default=failure)(_later(module, handler)))
