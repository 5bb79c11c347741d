"""Rows of a batch in worker processes, for when one Python thread cannot keep up.

Against a fast endpoint (a local vLLM or Ollama answers in milliseconds) a batch is bound by
the CPU of the process that runs it, not by the endpoint. `--workers N` spreads the rows over
N worker processes:

    pool = WorkerPool(WorkerSettings(...), count=4)
    await pool.start()                       # FlowError if a worker cannot open the flow
    outcome, unreachable, retries = await pool.run(index, inputs)   # WorkerDied if its worker died
    await pool.close()

Each worker opens its own session (flow, connections, response cache, tracing when the parent
traces) and runs the rows it is sent, concurrently; it sends each row's outcome back. Only the
parent writes the run store, one transaction per row as without workers, so resume,
--fail-under and progress mean what they always did: a row is done when the parent has stored
it, and rows a dead worker had in hand are not stored, so a resume does them.

Protocol: the worker's stdin and stdout (the worker points its own fd 1 at stderr at once, so
user code that prints cannot corrupt it), messages as 4-byte big-endian lengths and pickles.
Values are turned into the JSON the store would keep (secrets masked) before they cross.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.engine.errors import FlowError
from promptwise.engine.executable import LineOutcome
from promptwise.engine.providers import RetryPolicy

_HEADER = struct.Struct(">I")
STOP_WAIT = 10.0  # seconds a worker may take to finish its rows and close after "stop"


@dataclass
class WorkerSettings:
    """What a worker needs to open the same session as the parent."""

    flow: str
    run: str
    row_timeout: float
    concurrency: int  # rows in flight in each worker
    variants: dict | None = None
    init: dict | None = None
    use_cache: bool = True
    retry: RetryPolicy | None = None
    environ: dict | None = None
    models: dict | None = None
    # "module:function" called with the flow path, returning a context manager held while the
    # worker runs: how a caller above the engine (the CLI's tracing) sets the worker up too.
    setup: str | None = None


class WorkerDied(Exception):
    """A worker process ended while rows were in its hands."""


@dataclass
class _Worker:
    number: int
    process: asyncio.subprocess.Process
    pending: dict[int, asyncio.Future] = field(default_factory=dict)
    reader_task: asyncio.Task | None = None
    dead: str | None = None  # why it is gone


class WorkerPool:
    def __init__(self, settings: WorkerSettings, count: int) -> None:
        self.settings = settings
        self.count = count
        self._workers: list[_Worker] = []
        self.cpu_seconds = 0.0  # CPU time of the workers (user + system), known after close()
        self.rows_cpu_seconds = 0.0  # the part of it spent while rows ran (start-up and imports left out)
        self.last_unreachable: str | None = None  # why the latest row that could not connect failed

    async def start(self) -> None:
        self._rusage_before = _children_cpu()
        try:
            self._workers = [await self._spawn(number) for number in range(1, self.count + 1)]
            for worker in self._workers:
                ready = await _receive(worker.process.stdout)
                if ready is None or ready[0] != "ready":
                    message = ready[1] if ready is not None and ready[0] == "error" else \
                        f"worker process {worker.number} exited while starting (exit code " \
                        f"{await worker.process.wait()}); see the messages above"
                    raise FlowError(message)
        except BaseException:
            await self.close(kill=True)
            raise
        for worker in self._workers:
            worker.reader_task = asyncio.ensure_future(self._read(worker))

    async def _spawn(self, number: int) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "promptwise.engine.worker_processes",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2 ** 26)
        _send(process.stdin, self.settings)
        await process.stdin.drain()
        return _Worker(number, process)

    async def run(self, index: int, inputs: dict) -> tuple[LineOutcome, bool, int]:
        """Run one row in the least busy worker: (outcome, failed because no endpoint could be
        reached, retries its calls took). WorkerDied if that worker dies first."""
        alive = [worker for worker in self._workers if worker.dead is None]
        if not alive:
            raise WorkerDied(self._workers[0].dead if self._workers else "no worker processes")
        worker = min(alive, key=lambda w: len(w.pending))
        future = asyncio.get_running_loop().create_future()
        worker.pending[index] = future
        try:
            _send(worker.process.stdin, ("row", index, inputs))
            await worker.process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # the reader sees it die and fails the future with the reason
        return await future

    async def _read(self, worker: _Worker) -> None:
        try:
            while True:
                message = await _receive(worker.process.stdout)
                if message is None:
                    break
                if message[0] == "cpu":
                    self.rows_cpu_seconds += message[1]
                    continue
                _, index, outcome, unreachable, retries, last_unreachable = message
                if unreachable and last_unreachable:
                    self.last_unreachable = last_unreachable
                future = worker.pending.pop(index, None)
                if future is not None and not future.done():
                    future.set_result((outcome, unreachable, retries))
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError):
            pass
        code = await worker.process.wait()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        rows = ", ".join(str(index + 1) for index in sorted(worker.pending))
        worker.dead = (f"worker process {worker.number} (pid {worker.process.pid}) {how}"
                       + (f" while running rows {rows}; those rows were not stored" if rows else ""))
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(WorkerDied(worker.dead))
        worker.pending.clear()

    async def close(self, kill: bool = False) -> None:
        """Stop the workers: let them finish (`kill` False), or end them at once."""
        for worker in self._workers:
            if worker.process.returncode is None:
                if kill:
                    worker.process.kill()
                else:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        _send(worker.process.stdin, ("stop",))
                        worker.process.stdin.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.process.wait(), STOP_WAIT)
            except asyncio.TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            if worker.reader_task is not None:
                with contextlib.suppress(BaseException):
                    await worker.reader_task
        self.cpu_seconds = max(0.0, _children_cpu() - getattr(self, "_rusage_before", 0.0))


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # Windows: not measured
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _send(stream, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)


async def _receive(stream: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream."""
    try:
        header = await stream.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    return pickle.loads(await stream.readexactly(_HEADER.unpack(header)[0]))


# --- the worker process --------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """`value` as the run store keeps it: JSON, secrets masked (any object can cross then)."""
    from promptwise.redaction import dumps_redacted

    return None if value is None else json.loads(dumps_redacted(value))


def _portable(outcome: LineOutcome) -> LineOutcome:
    for node in outcome.nodes:
        node.output = _plain(node.output)
    return LineOutcome(outcome.status, _plain(outcome.outputs), outcome.error, outcome.nodes, outcome.latency_ms,
                       {}, outcome.error_kind)


async def _serve() -> None:
    from promptwise.engine.batch import execute_line
    from promptwise.engine.runner import open_session

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 ** 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # fd 1 is stderr from here on: nothing user code prints can reach the protocol
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, protocol_out)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    settings: WorkerSettings = await _receive(reader)
    setup = contextlib.nullcontext()
    if settings.setup:
        module, function = settings.setup.split(":")
        setup = getattr(importlib.import_module(module), function)(settings.flow)
    retries = 0

    def count_retry(attempt, kind, delay) -> None:
        nonlocal retries
        retries += 1

    try:
        with setup:
            async with open_session(Path(settings.flow), variants=settings.variants, init=settings.init,
                                    use_cache=settings.use_cache, concurrency=settings.concurrency,
                                    retry=settings.retry, environ=settings.environ,
                                    models=settings.models) as session:
                llm = session.context.llm
                llm.on_retry = count_retry
                _send(writer, ("ready",))
                cpu_started = time.process_time()
                rows: set[asyncio.Task] = set()

                async def one(index: int, inputs: dict) -> None:
                    nonlocal retries
                    try:
                        outcome = await execute_line(session, settings.run, index, inputs, settings.row_timeout)
                    except Exception as error:  # the row fails, never silently: the parent waits for it
                        outcome = LineOutcome("failed", None, f"{type(error).__name__}: {error}", [], 0.0)
                    unreachable = outcome.error_kind == "unreachable" or (
                        not llm.endpoint_answered and llm.unreachable_calls > 0)
                    taken, retries = retries, 0
                    _send(writer, ("done", index, _portable(outcome), unreachable, taken, llm.last_unreachable))
                    await writer.drain()

                while (message := await _receive(reader)) is not None and message[0] == "row":
                    task = asyncio.ensure_future(one(message[1], message[2]))
                    rows.add(task)
                    task.add_done_callback(rows.discard)
                if message is not None:  # "stop": finish the rows in hand; at the end of input: the parent is gone
                    await asyncio.gather(*rows)
                    _send(writer, ("cpu", time.process_time() - cpu_started))
    except FlowError as error:
        _send(writer, ("error", str(error)))
    await writer.drain()
    writer.close()


if __name__ == "__main__":
    from promptwise.engine import event_loop

    event_loop.run(_serve())
