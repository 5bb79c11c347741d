"""Runs, batches and evaluations started from the editor (issue 4 and 5), in child processes.

Each job is a `promptwise.lsp.job_worker` process: the server's event loop only awaits its
output, pygls's thread pool is never used, and user code runs outside the server. Progress
goes to the client as work-done progress (cancellable); cancelling, from the progress UI
(`window/workDoneProgress/cancel`) or with `promptwise.cancel {token}`, asks the worker to
stop (finished rows stay stored) and kills it if it does not within a grace period.

The worker runs in the interpreter the client chose (initializationOptions `python`) when
that is another interpreter than the server's own: the user's tools import the packages of
*their* environment. Otherwise, and for the read-only commands (estimate, compare, show a
run: the CLI with `--format json` in a child process, so their answer is exactly what the
CLI prints), the server's own interpreter. The server's log says which one runs jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from lsprotocol import types

from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.jobs")

CANCEL_GRACE_SECONDS = 5.0
# At shutdown: editors kill a server that takes long to answer (VS Code after 2 s), so
# workers get less time to store their finished rows and mark the run canceled.
SHUTDOWN_GRACE_SECONDS = 1.5
CLI_TIMEOUT_SECONDS = 300.0
WORKER_LINE_LIMIT_BYTES = 256 * 1024 * 1024
PROBE_TIMEOUT_SECONDS = 60.0  # a cold interpreter importing our package on a busy machine


class InterpreterError(Exception):
    """The chosen interpreter cannot run jobs; the message says why and what to do."""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    chosen: bool  # True: the client's `python`, not the server's own interpreter
    description: str  # for the log and for error messages


def _same_interpreter(candidate: str, current: str) -> bool:
    """`python3` and `python3.11` in one folder are one interpreter; a virtual environment's
    `bin/python` is not the base interpreter it links to (its packages differ), so symlinks
    count as the same only within one folder."""
    if os.path.normcase(os.path.abspath(candidate)) == os.path.normcase(os.path.abspath(current)):
        return True
    same_folder = os.path.dirname(os.path.abspath(candidate)) == os.path.dirname(os.path.abspath(current))
    return same_folder and os.path.realpath(candidate) == os.path.realpath(current)


def job_interpreter(setting: str | None) -> Interpreter:
    """The interpreter that runs flows for the server: the `python` option when it names
    another interpreter than the server's, else the server's own (`sys.executable`)."""
    own = Interpreter(sys.executable, False, f"{sys.executable} (the server's own interpreter)")
    if not setting or not setting.strip():
        return own
    written = os.path.expanduser(setting.strip())
    found = shutil.which(written)
    if found is None:
        raise InterpreterError(
            f"the Python interpreter `{setting}` (the `python` setting) was not found or is not executable; "
            f"set promptwise.python to an interpreter that has the promptwise package"
        )
    if _same_interpreter(found, sys.executable):
        return own
    found = os.path.abspath(found)
    return Interpreter(found, True, f"{found} (the `python` setting; the server itself runs in {sys.executable})")


@dataclass
class Job:
    token: str
    kind: str
    process: asyncio.subprocess.Process | None = None
    cancelled: bool = False
    run: str | None = None
    stderr_tail: list[str] = field(default_factory=list)

    async def cancel(self, grace: float = CANCEL_GRACE_SECONDS) -> None:
        """Ask the worker to stop; kill it if it has not within the grace period."""
        if self.cancelled:
            return
        self.cancelled = True
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            process.stdin.write(b"cancel\n")
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass
        try:
            await asyncio.wait_for(process.wait(), grace)
        except asyncio.TimeoutError:
            logger.warning("job %s did not stop within %.1f s; killing it", self.token, grace)
            process.kill()


class JobManager:
    def __init__(self, ls: PromptwiseServer) -> None:
        self.ls = ls
        self.jobs: dict[str, Job] = {}
        # The command requests answering with a job's result: after the job ends they still
        # refresh lenses and announce the result (awaiting our executor), and shutdown must
        # wait for that too, or pygls cancels them and the executor is shut under them.
        self.answering: set[asyncio.Task] = set()
        self._checked: dict[str, str | None] = {}  # executable -> None (usable) or why not

    def interpreter(self) -> Interpreter:
        return job_interpreter(self.ls.settings.python)

    async def _usable(self, interpreter: Interpreter) -> None:
        """Check once that a chosen interpreter can import the worker; raise InterpreterError."""
        if not interpreter.chosen:
            return
        if interpreter.executable not in self._checked:
            self._checked[interpreter.executable] = await _probe(interpreter.executable)
            if self._checked[interpreter.executable] is None:
                logger.info("runs, batches and evaluations run in %s", interpreter.description)
        problem = self._checked[interpreter.executable]
        if problem is not None:
            raise InterpreterError(
                f"the Python interpreter {interpreter.executable} (the `python` setting) cannot run Promptwise "
                f"jobs: {problem}; install the package into it ({interpreter.executable} -m pip install promptwise) "
                f"or choose another interpreter in promptwise.python"
            )

    def _progress_supported(self) -> bool:
        window = self.ls.client_capabilities.window if self.ls.client_capabilities else None
        return bool(window and window.work_done_progress)

    async def _begin(self, token: str, title: str, client_token: bool) -> bool:
        """Start work-done progress; False when the client cannot show it."""
        if not client_token:
            if not self._progress_supported():
                return False
            try:
                await asyncio.wait_for(self.ls.work_done_progress.create_async(token), 10)
            except Exception as error:
                logger.warning("client refused progress %s: %s", token, error)
                return False
        self.ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=title, cancellable=True, message="starting", percentage=0)
        )
        future = self.ls.work_done_progress.tokens.get(token)
        if future is not None:  # the client's cancel button cancels this future
            loop = asyncio.get_running_loop()
            future.add_done_callback(
                lambda f: f.cancelled() and loop.call_soon_threadsafe(lambda: self.ls.spawn(self.cancel(token), f"cancel {token}"))
            )
        return True

    async def stop_all(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """At shutdown: cancel every job the way the user would (finished rows stay stored and
        the run is marked canceled, so it can be resumed), killing workers that do not stop
        within `grace`; then let the jobs' requests be answered."""
        jobs = list(self.jobs.values())
        await asyncio.gather(*(job.cancel(grace) for job in jobs), return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.jobs and loop.time() < deadline:
            await asyncio.sleep(0.02)
        answering = [task for task in self.answering if task is not asyncio.current_task()]
        if answering:
            await asyncio.wait(answering, timeout=max(deadline - loop.time(), grace / 2))

    @contextlib.contextmanager
    def answering_request(self) -> Iterator[None]:
        """Mark the current task as a request answering with a job's result, until it has
        done everything after the job (see `stop_all`)."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self.answering.add(task)
        try:
            yield
        finally:
            self.answering.discard(task)

    def kill_all(self) -> None:
        for job in self.jobs.values():
            if job.process is not None and job.process.returncode is None:
                job.process.kill()

    async def cancel(self, token: str) -> bool:
        job = self.jobs.get(token)
        if job is None:
            return False
        await job.cancel()
        return True

    async def start(self, kind: str, args: dict, title: str, token: str | None = None) -> dict:
        """Run a job to its end and return its result (a dict; `status: error` on failure)."""
        client_token = token is not None
        token = token or f"promptwise-{kind}-{uuid.uuid4().hex[:12]}"
        if token in self.jobs:
            return {"status": "error", "error": f"a job with token {token} is already running; use a new token"}
        job = self.jobs[token] = Job(token, kind)
        showing = await self._begin(token, title, client_token)
        result: dict
        try:
            result = await self._run_worker(job, {"kind": kind, "args": args}, showing)
        finally:
            self.jobs.pop(token, None)
            self.ls.work_done_progress.tokens.pop(token, None)
        if showing:
            self.ls.work_done_progress.end(
                token, types.WorkDoneProgressEnd(message=_summary(result))
            )
        result.setdefault("token", token)
        return result

    async def _run_worker(self, job: Job, request: dict, showing: bool) -> dict:
        try:
            interpreter = self.interpreter()
            await self._usable(interpreter)
        except InterpreterError as error:
            logger.warning("job %s (%s) not started: %s", job.token, job.kind, error)
            return {"run": None, "status": "error", "error": str(error)}
        logger.debug("job %s (%s) runs in %s", job.token, job.kind, interpreter.executable)
        job.process = await asyncio.create_subprocess_exec(
            interpreter.executable, "-m", "promptwise.lsp.job_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=_folder_of(request["args"].get("path")),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # The worker answers with one JSON line, which for an evaluation carries its rows
            # (hundreds of KB): far above asyncio's default 64 KiB line limit.
            limit=WORKER_LINE_LIMIT_BYTES,
        )  # fmt: skip
        job.process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
        await job.process.stdin.drain()  # stdin stays open: closing it means "cancel"
        stderr_task = asyncio.ensure_future(self._collect_stderr(job))
        outcome: dict | None = None
        async for raw in job.process.stdout:
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if "progress" in message and showing:
                self._report(job, message["progress"])
            elif "started" in message:
                job.run = message["started"]
                if showing:
                    self.ls.work_done_progress.report(job.token, types.WorkDoneProgressReport(message=f"run {job.run}"))
            elif "result" in message:
                outcome = message["result"]
            elif "error" in message:
                outcome = {"status": "error", "error": message["error"]}
        await job.process.wait()
        await stderr_task
        if outcome is None:
            if job.cancelled:
                outcome = {"run": job.run, "status": "canceled"}
            else:
                tail = " | ".join(job.stderr_tail[-3:])
                outcome = {"run": job.run, "status": "error", "error": f"the run stopped unexpectedly (exit {job.process.returncode}): {tail}"}
        if outcome.get("status") == "error":
            logger.warning("job %s (%s) failed: %s", job.token, job.kind, outcome.get("error"))
        return outcome

    async def _collect_stderr(self, job: Job) -> None:
        async for raw in job.process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                logger.info("[%s] %s", job.kind, line)
                job.stderr_tail = (job.stderr_tail + [line])[-20:]

    def _report(self, job: Job, progress: dict) -> None:
        total = progress.get("total") or 0
        done = progress.get("done") or 0
        percentage = int(done * 100 / total) if total else None
        parts = [f"{done}/{total} rows" if total else None]
        if progress.get("failed"):
            parts.append(f"{progress['failed']} failed")
        if progress.get("tokens"):
            parts.append(f"{progress['tokens']:,} tokens")
        if progress.get("cost") is not None:
            from promptwise.costing.formatting import format_usd

            parts.append(format_usd(progress["cost"]))
        self.ls.work_done_progress.report(
            job.token,
            types.WorkDoneProgressReport(message=" · ".join(p for p in parts if p), percentage=percentage),
        )


def _summary(result: dict) -> str:
    status = result.get("status", "done")
    if result.get("error"):
        return f"{status}: {result['error']}"[:200]
    return f"{result.get('run') or ''} {status}".strip()


async def _probe(executable: str) -> str | None:
    """None when `executable -m promptwise.lsp.job_worker` can start, else why not."""
    check = "import promptwise.lsp.job_worker"
    try:
        process = await asyncio.create_subprocess_exec(
            executable, "-c", check,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as error:
        return f"it does not start ({error.strerror or error})"
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return f"`{check}` took longer than {PROBE_TIMEOUT_SECONDS:.0f} s"
    if process.returncode == 0:
        return None
    lines = [line for line in stderr.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"`{check}` failed (exit {process.returncode})"


def _folder_of(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    candidate = Path(path)
    folder = candidate if candidate.is_dir() else candidate.parent
    return str(folder) if folder.is_dir() else None


async def run_cli(arguments: list[str], cwd: str | None) -> dict:
    """`promptwise <arguments> --format json` in a child process: its JSON, or an error."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "promptwise", *arguments, "--format", "json",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return {"status": "error", "error": f"`promptwise {arguments[0]}` took longer than {CLI_TIMEOUT_SECONDS:.0f} s"}
    text = stdout.decode("utf-8", errors="replace").strip()
    if text:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    message = stderr.decode("utf-8", errors="replace").strip().splitlines()
    error = next((line for line in reversed(message) if line.startswith("promptwise: error:")), message[-1] if message else "")
    return {"status": "error", "error": error.removeprefix("promptwise: error: ") or f"exit code {process.returncode}"}


def manager(ls: PromptwiseServer) -> JobManager:
    existing = ls.extensions.get("jobs")
    if existing is None:
        existing = ls.extensions["jobs"] = JobManager(ls)
    return existing
