"""The language server object and the state its features share.

Features live in their own modules and are wired in `promptwise.lsp.setup`; what they share
lives here: the settings sent by the client, the problems found per document, the parsed
document models, background tasks (kept by reference so they are not garbage collected
mid-flight, their exceptions logged), and our own executor for CPU work, so that nothing slow
runs on the event loop or in pygls's thread pool (which also reads stdin).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument

from promptwise import __version__
from promptwise.analysis.problem import Problem
from promptwise.lsp import uris
from promptwise.lsp.positions import UTF16, split_lines

logger = logging.getLogger("promptwise.lsp")

T = TypeVar("T")

# Set in the task of a request that must not queue behind analyses (see answer_promptly).
_PROMPT_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("promptwise_prompt_request", default=False)

MAX_FILE_BYTES = 20 * 1024 * 1024  # larger files are not read for positions or models


@dataclass
class Settings:
    """What the client sends as initializationOptions (all optional)."""

    python: str | None = None
    default_model: str | None = None
    catalog_file: str | None = None
    diagnostics_delay_ms: int = 150
    diagnostics_mode: str = "auto"  # auto | push | pull

    @classmethod
    def from_options(cls, options: Any) -> "Settings":
        if not isinstance(options, dict):
            return cls()
        settings = cls()
        for key, attribute in (
            ("python", "python"),
            ("defaultModel", "default_model"),
            ("catalogFile", "catalog_file"),
        ):
            value = options.get(key)
            if isinstance(value, str) and value:
                setattr(settings, attribute, value)
        delay = options.get("diagnosticsDelayMs")
        if isinstance(delay, (int, float)) and not isinstance(delay, bool) and 0 <= delay <= 10_000:
            settings.diagnostics_delay_ms = int(delay)
        mode = options.get("diagnosticsMode")
        if mode in ("auto", "push", "pull"):
            settings.diagnostics_mode = mode
        return settings


@dataclass
class _Contribution:
    version: int | None
    by_target: dict[str, list[Problem]] = field(default_factory=dict)


class ProblemStore:
    """Problems per document, from every analysis that reported on it.

    Analysing one file can report problems in another (a flow's analysis reports the
    variables its template is missing in the template). So problems are kept per analysed
    source and per target document; a document's diagnostics are the union of what every
    source reported on it, without duplicates.
    """

    def __init__(self) -> None:
        self._by_source: dict[str, _Contribution] = {}
        self._generation: dict[str, int] = {}  # per target: bumps when its problems change

    def replace(self, source_uri: str, version: int | None, by_target: dict[str, list[Problem]]) -> set[str]:
        """Store what analysing `source_uri` found; returns the target URIs whose problems changed."""
        old = self._by_source.get(source_uri)
        old_targets = old.by_target if old else {}
        self._by_source[source_uri] = _Contribution(version, by_target)
        changed = {
            target
            for target in set(old_targets) | set(by_target)
            if old_targets.get(target, []) != by_target.get(target, [])
        }
        for target in changed:
            self._generation[target] = self._generation.get(target, 0) + 1
        return changed

    def forget(self, source_uri: str) -> set[str]:
        old = self._by_source.pop(source_uri, None)
        if old is None:
            return set()
        for target in old.by_target:
            self._generation[target] = self._generation.get(target, 0) + 1
        return set(old.by_target)

    def analysed_version(self, source_uri: str) -> int | None | bool:
        """The version last analysed, or False when never analysed."""
        contribution = self._by_source.get(source_uri)
        return False if contribution is None else contribution.version

    def for_target(self, target_uri: str) -> list[Problem]:
        seen: set[tuple] = set()
        result: list[Problem] = []
        for contribution in self._by_source.values():
            for problem in contribution.by_target.get(target_uri, ()):
                key = (problem.code, problem.range, problem.message)
                if key not in seen:
                    seen.add(key)
                    result.append(problem)
        result.sort(key=lambda p: (p.range.start, p.code))
        return result

    def generation(self, target_uri: str) -> int:
        return self._generation.get(target_uri, 0)

    def sources(self) -> list[str]:
        return list(self._by_source)


class PromptwiseProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):
        """A request whose params do not fit the method (a missing `position`, a string for a
        line) gets an Invalid Params error. pygls only logged it and dropped the request, so
        the client waited for an answer for ever."""
        try:
            return super().structure_message(data)
        except Exception:
            if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                self._send_response(
                    data["id"],
                    error=types.ResponseError(
                        code=types.ErrorCodes.InvalidParams,
                        message=f"invalid params for {data['method']}: they do not match the LSP specification",
                    ),
                )
            raise


class PromptwiseServer(LanguageServer):
    def __init__(self, cpu_workers: int = 1) -> None:
        super().__init__(
            "promptwise",
            __version__,
            protocol_cls=PromptwiseProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = Settings()
        self.problems = ProblemStore()
        # Our own pool: pygls's thread pool also runs the stdin reader, and a busy pool
        # there would stop the server from reading messages at all. One worker for analyses:
        # with the GIL a second thread would not make CPU work finish sooner, and analyses
        # of one file must not overtake each other.
        self.executor = ThreadPoolExecutor(max_workers=cpu_workers, thread_name_prefix="promptwise-cpu")
        # A second worker for the short CPU work of requests a person waits for (hover,
        # completion: a cost estimate from cache, a catalog look-up), so that it does not
        # queue behind an analysis of a large flow in the first. See `answer_promptly`.
        self.prompt_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptwise-prompt")
        self.background: set[asyncio.Task] = set()
        self.models: dict[str, tuple[Any, Any]] = {}  # uri -> (version or mtime, document model)
        self.extensions: dict[str, Any] = {}  # per-feature state, keyed by feature name

    # ---- documents -------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        try:
            return self.workspace.position_encoding or UTF16
        except RuntimeError:  # before initialize
            return UTF16

    def markup(self, feature: str, text: str) -> types.MarkupContent:
        """Markdown where the client renders it for `feature` ('hover' or 'completion'),
        else plain text."""
        document = self.client_capabilities.text_document if self.client_capabilities else None
        formats = None
        if document is not None and feature == "hover" and document.hover is not None:
            formats = document.hover.content_format
        elif document is not None and feature == "completion" and document.completion is not None:
            item = document.completion.completion_item
            formats = item.documentation_format if item is not None else None
        if formats and types.MarkupKind.Markdown in formats:
            return types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
        return types.MarkupContent(kind=types.MarkupKind.PlainText, value=text)

    def open_document(self, uri: str) -> TextDocument | None:
        """The editor's copy of `uri` when it is open, else None (never reads the disk)."""
        try:
            return self.workspace.text_documents.get(uri)
        except RuntimeError:
            return None

    def open_uris(self) -> list[str]:
        try:
            return list(self.workspace.text_documents)
        except RuntimeError:
            return []

    def overlay(self) -> dict[Path, str]:
        """Unsaved text of every open document, by path (what the analysis reads first)."""
        result: dict[Path, str] = {}
        for uri in self.open_uris():
            document = self.open_document(uri)
            if document is not None and document._source is not None:
                result[uris.uri_to_path(uri)] = document.source
        return result

    def text_of(self, path: Path) -> str | None:
        """A file's current text: the editor's copy if open, else the disk; None if unreadable."""
        document = self.open_document(uris.path_to_uri(path))
        if document is not None:
            return document.source
        if uris.is_unsaved(path):
            return None
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                return None
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except (OSError, ValueError):
            return None

    def lines_of(self, path: Path) -> list[str]:
        text = self.text_of(path)
        return split_lines(text) if text is not None else []

    def version_of(self, uri: str) -> int | None:
        document = self.open_document(uri)
        return document.version if document is not None else None

    # ---- work off the loop -------------------------------------------------------------

    async def run_cpu(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound work in our executor and await it without blocking the loop (in the
        second worker for a request marked with `answer_promptly`)."""
        loop = asyncio.get_running_loop()
        executor = self.prompt_executor if _PROMPT_REQUEST.get() else self.executor
        return await loop.run_in_executor(executor, function, *args)

    @staticmethod
    def answer_promptly() -> None:
        """Mark the request being handled (hover, completion) as one that must not wait for
        analyses: its `run_cpu` work goes to the second worker. pygls runs each request in
        its own task, which has its own copy of the context, so the mark ends with it."""
        _PROMPT_REQUEST.set(True)

    def spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task:
        """Start a background task, keep it referenced, and log it if it fails."""
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self.background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task) -> None:
        self.background.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=error)

    # ---- document models ---------------------------------------------------------------

    async def document_model(self, uri: str, latest: bool = False) -> Any:
        """The parsed document (`promptwise.documents.load_document`) for `uri`'s current
        text, cached per version (or per modification time for files not open).

        `latest=True` (hover, completion): when the current version of an open document has
        not been parsed yet, answer with the last version parsed instead of waiting; parsing
        it would queue behind the analysis running in our executor (the analysis stores the
        model of each version it reads, see `remember_model`)."""
        path = uris.uri_to_path(uri)
        if latest and self.open_document(uri) is not None:
            cached = self.models.get(uri)
            if cached is not None and cached[0][0] == "v":
                return cached[1]
        document = self.open_document(uri)
        if document is not None:
            stamp: Any = ("v", document.version)
            text: str | None = document.source
        else:
            try:
                stat = os.stat(path)
            except (OSError, ValueError):
                return None
            if stat.st_size > MAX_FILE_BYTES:
                return None
            stamp = ("m", stat.st_mtime_ns, stat.st_size)
            text = None
        cached = self.models.get(uri)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        model = await self.run_cpu(_load_model, path, text)
        if model is not None:
            self.models[uri] = (stamp, model)
        return model

    def remember_model(self, uri: str, version: int | None, model: Any) -> None:
        """Keep the model the analysis parsed for `version` of an open document, unless a
        newer version's model is already kept."""
        if model is None or version is None:
            return
        cached = self.models.get(uri)
        if cached is not None and cached[0][0] == "v" and cached[0][1] >= version:
            return
        self.models[uri] = (("v", version), model)

    def forget_model(self, uri: str) -> None:
        self.models.pop(uri, None)

    # ---- lifecycle ---------------------------------------------------------------------

    def stop_background(self) -> None:
        jobs = self.extensions.get("jobs")
        if jobs is not None:
            jobs.kill_all()  # runs in child processes must not outlive the server
        for task in list(self.background):
            task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.prompt_executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        self.stop_background()
        super().shutdown()


def _load_model(path: Path, text: str | None) -> Any:
    from promptwise.documents import load_document

    if text is None:
        try:
            data = Path(path).read_bytes()
        except (OSError, ValueError):
            return None
        text = data.decode("utf-8", errors="replace")
    try:
        return load_document(path, text)
    except Exception:  # the model must never take a feature down; log and go without
        logger.exception("could not read %s into a document model", path)
        return None


def group_by_uri(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        grouped.setdefault(uris.path_to_uri(problem.path), []).append(problem)
    return grouped
