"""Batch runs: every row of a data file through a flow, as fast as the endpoint allows.

    result = await run_batch("flows/qa", data="data.jsonl", concurrency=16, on_progress=print)
    result = await run_batch(resume="qa_20261121_101500_ab12")   # after a crash or kill -9
    result = await run_batch(resume="qa_...", retry_failed=True)   # also redo the rows that failed

- bounded concurrency: `concurrency` rows in flight (each row's independent nodes also run
  concurrently); retries with back-off live in the providers;
- each row's result is committed atomically, a few rows finishing together in one transaction
  (engine/row_writer.py, at most 50 ms later), so a run killed at any point resumes with
  `resume=NAME` and does each row not stored exactly once (rows of the last, uncommitted group
  included);
- the response cache (on by default) makes unchanged requests free;
- `cancel` (an asyncio.Event) stops a run promptly; finished rows are kept and the run can
  be resumed;
- `on_progress(BatchProgress)` is called after each row, for progress bars and the editor.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable, Iterable, Iterator

from promptwise.engine import spans
from promptwise.engine.data import (MAX_SURVEY_COLUMNS, DataRow, check_columns, check_data_file, columns_settle_checks,
                                    defaulted_input_warnings, iter_data, map_row, parse_mapping, row_label, survey_data,
                                    uses_run)
from promptwise.engine.errors import FlowError
from promptwise.engine.executable import LineOutcome
from promptwise.engine.providers import RetryPolicy
from promptwise.engine.row_writer import RowWriter
from promptwise.engine.runner import Session, new_run_name, open_session, row_result
from promptwise.engine.worker_processes import WorkerDied
from promptwise.store.run_lock import RunBusy, RunLock
from promptwise.store.run_store import RowResult, RunStore, owner_parameters

# Rows in flight by default. A closed loop of N calls does N / latency rows a second, so the
# default decides how busy the endpoint is kept: 32 finishes 1,000 rows of 50 ms calls in ~1.6 s,
# and a hosted model at ~2 s a call at ~16 rows/s. Going above what the endpoint takes costs
# little: 429s (and 503s, timeouts) pause the connection for the Retry-After and halve the calls
# in flight, which then grow back one per round of successes (AIMD, providers.AdaptiveLimit), so
# a run settles at the endpoint's own limit. Prompt flow's 4 workers leave most endpoints idle.
DEFAULT_CONCURRENCY = 32
DEFAULT_ROW_TIMEOUT = 600.0  # seconds per row, as Prompt flow's line timeout
AUTO = "auto"  # workers: start in one process, move to worker processes if CPU-bound (engine/auto_workers.py)


@dataclass
class BatchProgress:
    run: str
    total: int  # rows this run covers (all of them, also on resume)
    done: int  # rows with a result (completed + failed), previous sessions included
    failed: int
    tokens: int
    cost: float
    elapsed: float  # seconds in this session
    rows_per_second: float
    eta_seconds: float | None
    retries: int
    cache_hits: int
    in_flight: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchResult:
    run: str
    status: str  # completed | canceled | failed
    rows: int
    completed: int
    failed: int
    tokens: dict
    cost: float | None
    elapsed: float
    metrics: dict | None
    outputs_path: str | None
    error: str | None = None
    cpu_seconds: float = 0.0  # CPU time of this process while the rows ran (for benchmarks)

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[BatchProgress], None]


class _Tally:
    """Counters for the progress report."""

    def __init__(self, run: str, total: int, done: int, failed: int, tokens: int, cost: float) -> None:
        self.run, self.total, self.done, self.failed = run, total, done, failed
        self.tokens, self.cost = tokens, cost
        self.started = time.perf_counter()
        self.done_here = 0
        self.retries = 0
        self.cache_hits = 0
        self.in_flight = 0

    def add(self, row: RowResult) -> None:
        self.done += 1
        self.done_here += 1
        self.failed += row.status == "failed"
        self.tokens += row.total_tokens
        self.cost += sum(n.cost or 0.0 for n in row.nodes)
        self.cache_hits += row.cache_hits

    def snapshot(self) -> BatchProgress:
        elapsed = time.perf_counter() - self.started
        rate = self.done_here / elapsed if elapsed > 0 else 0.0
        remaining = self.total - self.done
        eta = remaining / rate if rate > 0 else None
        return BatchProgress(self.run, self.total, self.done, self.failed, self.tokens, self.cost, elapsed, rate,
                             eta, self.retries, self.cache_hits, self.in_flight)


class _SourceRun(Mapping):
    """An earlier run's completed rows, line -> (inputs, outputs), read from the store as rows ask
    for them (`--run NAME`, `${run.outputs.x}`): a run of millions of rows is never all in memory."""

    def __init__(self, store: RunStore, name: str) -> None:
        self.store, self.name = store, name

    def __getitem__(self, line: int) -> tuple[dict, dict]:
        found = self.store.completed_row(self.name, line)
        if found is None:
            raise KeyError(line)
        return found

    def __iter__(self) -> Iterator[int]:
        return (line for line, _, _ in self.store.iter_completed(self.name))

    def __len__(self) -> int:
        return self.store.get_run(self.name).rows_completed


def _source_rows(store: RunStore, name: str | None) -> _SourceRun | None:
    if not name:
        return None
    if store.get_run(name) is None:
        raise FlowError(f"--run {name}: no such run in {store.path}; see `promptwise runs list`")
    return _SourceRun(store, name)


def _columns(rows: Iterable[DataRow]) -> list[str]:
    """Every column some row has, in first-seen order (at most MAX_SURVEY_COLUMNS)."""
    seen: dict[str, None] = {}
    for row in rows:
        if len(seen) < MAX_SURVEY_COLUMNS:
            for key in row.values or {}:
                seen.setdefault(str(key), None)
    return list(seen)


def _claim(state_dir: Path, name: str, action: str) -> RunLock:
    try:
        return RunLock(state_dir, name).acquire(action)
    except RunBusy as error:
        raise FlowError(str(error)) from None


async def run_batch(
    path: Path | str | None = None,
    data: Path | str | None = None,
    *,
    name: str | None = None,
    column_mapping: dict | list[str] | None = None,
    variants: dict[str, str] | None = None,
    source_run: str | None = None,
    concurrency: int | None = None,
    use_cache: bool = True,
    resume: str | None = None,
    retry_failed: bool = False,
    row_timeout: float | None = None,
    workspace_path: Path | str | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    cancel: asyncio.Event | None = None,
    retry: RetryPolicy | None = None,
    init: dict | None = None,
    environ: dict | None = None,
    models: dict[str, str] | None = None,
    workers: int | str | None = None,
    worker_setup: str | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> BatchResult:
    """Run (or resume) a batch. Raises FlowError for problems found before rows start (bad
    mapping, unknown columns, no rows, a run another process holds ...).

    `on_start(run_name)` is called once the run is registered (so the name can be shown
    before the first row finishes); `on_warning(message)` for what is found before any call but
    does not stop the run (an input left to its default beside an unused column).

    Status: `completed` (every row has a result; some may have failed), `failed` (no row
    completed, or the endpoint could not be reached: the rows not run stay resumable),
    `canceled`.

    `concurrency`, `row_timeout`, `retry` and `workers` left as None take the defaults, or on a
    resume the run's own settings.

    `workers` above 1 runs the rows in that many worker processes (engine/worker_processes.py),
    `concurrency` rows in flight across them, for when one process's CPU is the bound (a fast
    local endpoint); this process alone writes the run store. `workers="auto"` starts in this
    process and moves the rows left to worker processes once the batch proves CPU-bound with
    cores to spare (engine/auto_workers.py), saying so through `on_notice(message)`.
    `worker_setup` ("module:function", called with the flow path in each worker, returning a
    context manager) is how a caller sets the workers up as it set itself up (the CLI: tracing).
    """
    if concurrency is not None and concurrency < 1:
        raise FlowError(f"--concurrency must be at least 1 (got {concurrency})")
    if workers is not None and workers != AUTO and (not isinstance(workers, int) or workers < 1):
        raise FlowError(f"--workers must be at least 1, or auto (got {workers})")
    if row_timeout is not None and row_timeout <= 0:
        raise FlowError(f"--row-timeout must be more than 0 seconds (got {row_timeout:g})")
    with ExitStack() as held:
        if resume:
            settings = _resume_settings(resume, path, workspace_path, retry_failed, held)
            path, data = settings["flow"], settings["data"]
            column_mapping, variants = settings["column_mapping"], settings["variants"]
            source_run = settings["source_run"]
            use_cache = settings["use_cache"] if use_cache else False
            init = settings.get("init") or init
            # A resume continues the run as it was started, unless this call says otherwise.
            stored = settings["parameters"]
            concurrency = concurrency or stored.get("concurrency")
            row_timeout = row_timeout or stored.get("row_timeout")
            if retry is None and stored.get("timeout"):
                retry = RetryPolicy(timeout=stored["timeout"])
            models = models or stored.get("models")  # a run of another model resumes with that model
            workers = workers or stored.get("workers")
        concurrency = concurrency or DEFAULT_CONCURRENCY
        workers = workers or 1
        row_timeout = row_timeout or DEFAULT_ROW_TIMEOUT
        if path is None:
            raise FlowError("no flow given; pass FLOW (a flow folder, flow.dag.yaml, flow.flex.yaml or .prompty)")
        if data is None and not source_run:
            raise FlowError("no data given; pass --data FILE (.jsonl or .csv), or --run NAME to run over an earlier "
                            "run")
        if data is not None and not resume:
            check_data_file(Path(data))
        mapping = parse_mapping(column_mapping)
        async with open_session(path, variants=variants, init=init, use_cache=use_cache, concurrency=concurrency,
                                retry=retry, environ=environ, models=models) as session:
            return await _run_session(session, held, resume=resume, name=name, data=data, mapping=mapping,
                                      source_run=source_run, concurrency=concurrency, use_cache=use_cache,
                                      retry_failed=retry_failed, row_timeout=row_timeout, on_progress=on_progress,
                                      on_start=on_start, on_warning=on_warning, cancel=cancel, init=init,
                                      models=models, workers=workers, worker_setup=worker_setup, retry=retry,
                                      environ=environ, variants=variants, on_notice=on_notice)


async def _run_session(session: Session, held: ExitStack, *, resume, name, data, mapping, source_run, concurrency,
                       use_cache, retry_failed, row_timeout, on_progress, on_start, on_warning, cancel, init,
                       models=None, workers=1, worker_setup=None, retry=None, environ=None,
                       variants=None, on_notice=None) -> BatchResult:
    store = session.store
    data_path = Path(data).resolve() if data is not None else None
    source = _source_rows(store, source_run)
    if mapping and uses_run(mapping) and source is None:
        raise FlowError("--column-mapping reads ${run...}; pass the earlier run with --run NAME")
    if data_path is not None:
        # The file is read once here (count, columns, unreadable files) and streamed again by the
        # rows: never held whole, so a file of millions of rows runs in bounded memory. Rows are
        # parsed here only until their columns settle the checks below; the rest are counted.
        survey = survey_data(data_path, lambda columns: columns_settle_checks(
            mapping, columns, session.executable.input_specs))
        total, readable, columns = survey.rows, survey.readable, survey.columns
        data_name = data_path.name

        def all_rows() -> Iterator[DataRow]:
            return iter_data(data_path)
    else:
        def all_rows() -> Iterator[DataRow]:
            return (DataRow(line, None, inputs) for line, inputs, _ in store.iter_completed(source_run))

        total = readable = len(source)
        columns = _columns(all_rows())  # one pass over the run's inputs, as over a data file
        data_name = f"run {source_run}"
    if not total:
        where = data_path if data_path is not None else f"--run {source_run}"
        raise FlowError(f"{where}: 0 rows to run; add rows to the data file (one JSON object per line, or a CSV "
                        f"header and rows)" if data_path is not None else f"{where}: 0 rows to run; the run has no "
                        f"completed rows")
    executable = session.executable
    input_names = list(executable.input_specs)
    if readable:
        # Checked before any call: a misnamed column fails here, not silently on every row.
        check_columns(mapping, columns, executable.input_specs, executable.accepts_any_input, data_name)
        if on_warning is not None and not resume:
            for warning in defaulted_input_warnings(mapping, columns, executable.input_specs, data_name):
                on_warning(warning)
    if resume:
        run_name = resume
        info = store.get_run(run_name)
        if info.total_rows is not None and info.total_rows != total:
            raise FlowError(f"{data_path}: the data now has {total} rows, but run {run_name} was started with "
                            f"{info.total_rows}; resume needs the same data (or start a new run)")
        if retry_failed:
            store.forget_failed_rows(run_name)
        store.mark_running(run_name)
        store.update_parameters(run_name, {**owner_parameters(), **_settings(concurrency, row_timeout, session, workers)})
        store.rewrite_outputs(run_name)  # drop lines written after the last commit of a killed run
    else:
        run_name = new_run_name(name, session.flow_path)
        held.enter_context(_claim(session.workspace.state_dir, run_name, "run"))
        if store.run_exists(run_name):
            raise FlowError(f"a run named {run_name!r} exists already; choose another --name, or continue it "
                            f"with --resume {run_name}")
        store.create_run(
            run_name, executable.flow_id, kind="batch", data=data_path, column_mapping=mapping,
            variants=getattr(executable, "variants", {}) or {},
            parameters={"cache": use_cache, **_settings(concurrency, row_timeout, session, workers), **owner_parameters(),
                        **({"init": init} if init else {}), **({"models": models} if models else {})},
            connection=executable.description, total_rows=total, source_run=source_run,
            content_hash=spans.content_hash_of(executable))
    if on_start is not None:
        on_start(run_name)
    info = store.get_run(run_name)
    tally = _Tally(run_name, total, info.rows_done, info.rows_failed, info.total_tokens, info.cost_known)
    session.context.llm.on_retry = lambda attempt, kind, delay: setattr(tally, "retries", tally.retries + 1)
    pending = _not_done(all_rows(), store.iter_done_lines(run_name))
    cpu_started = time.process_time()
    def worker_pool(count: int):
        from promptwise.engine.worker_processes import WorkerPool, WorkerSettings

        return WorkerPool(WorkerSettings(
            str(session.flow_path), run_name, row_timeout, concurrency=-(-concurrency // count), variants=variants,
            init=init, use_cache=use_cache, retry=retry, environ=environ, models=models, setup=worker_setup),
            count)

    processes = _Processes(new_pool=worker_pool, on_notice=on_notice)
    if workers == AUTO:
        from promptwise.engine.auto_workers import CpuProbe

        processes.probe = CpuProbe()
    elif workers > 1 and total > info.rows_done:
        processes.pool = worker_pool(workers)
        try:
            await processes.pool.start()
        except FlowError as error:
            store.finish_run(run_name, "failed", str(error))
            raise
    status = None
    try:
        status, error = await _run_rows(session, run_name, pending, total - info.rows_done, mapping, input_names,
                                        source, concurrency, tally, on_progress, cancel, row_timeout, data_path,
                                        processes)
    finally:
        if processes.pool is not None:
            # Stopped early (canceled, unreachable, a worker died): rows in flight are not
            # stored, so the workers are ended at once; a resume does those rows.
            await processes.pool.close(kill=status != "completed")
    pending.close()  # the data file, when the run stopped before its end
    pool = processes.pool
    cpu_seconds = time.process_time() - cpu_started + (pool.rows_cpu_seconds if pool is not None else 0.0)
    metrics = None
    final = store.get_run(run_name)
    if status == "completed" and final.rows_completed == 0 and final.rows_failed:
        first = store.get_rows(run_name, status="failed")[0]
        status = "failed"
        error = (f"all {final.rows_failed} rows failed; the first: {first.error}. Fix the cause, then redo them "
                 f"with: promptwise batch --resume {run_name} --retry-failed")
    if status == "completed" and executable.has_aggregation:
        with spans.aggregation_span(executable, run_name):
            metrics, error = await _aggregate(session, run_name)
    store.finish_run(run_name, status, error)
    if on_progress is not None:
        on_progress(tally.snapshot())
    final = store.get_run(run_name)
    return BatchResult(
        run=run_name, status=status, rows=total, completed=final.rows_completed, failed=final.rows_failed,
        tokens={"prompt": final.prompt_tokens, "completion": final.completion_tokens,
                "total": final.total_tokens},
        cost=final.cost, elapsed=time.perf_counter() - tally.started, metrics=final.metrics or metrics,
        outputs_path=final.outputs_path, error=error, cpu_seconds=cpu_seconds)


def _not_done(rows: Iterator[DataRow], done_lines: Iterator[int]) -> Iterator[DataRow]:
    """The rows without a stored result: both come in ascending order, so the stored lines are
    walked beside the data (resume skips stored rows without a set of every done line).

    Lines stored while this runs are rows already handed out, behind both walks: they are
    never mistaken for rows still to come."""
    done = next(done_lines, None)
    for row in rows:
        while done is not None and done < row.index:
            done = next(done_lines, None)
        if done != row.index:
            yield row


def _resume_settings(name: str, path: Path | str | None, workspace_path: Path | str | None,
                     retry_failed: bool, held: ExitStack) -> dict:
    """What a run was started with, read from the store of the workspace it lives in; the run's
    lock is taken first (and kept in `held`), so two resumes cannot race on the same rows."""
    from promptwise.config import ConfigError, load_workspace

    try:
        workspace = load_workspace(Path(workspace_path or path or Path.cwd()))
    except ConfigError as error:
        raise FlowError(str(error)) from None
    if not RunStore.exists_in(workspace.state_dir):
        raise FlowError(f"--resume {name}: no runs in {workspace.state_dir}; run from the workspace folder")
    with RunStore.for_workspace(workspace) as store:
        info = store.get_run(name)
    if info is None:
        raise FlowError(f"--resume {name}: no such run in {workspace.state_dir}; see `promptwise runs list`")
    if info.kind != "batch":
        raise FlowError(f"--resume {name}: only batch runs can be resumed")
    given = _flow_named_by(path)
    if given is not None and info.flow and given != Path(info.flow).resolve():
        # A resume always continues the run's own flow: a different FLOW beside it is a mistake.
        raise FlowError(f"--resume {name}: that run is of {info.flow}, not {path}; leave FLOW out to continue "
                        f"it, or start a new run of {path} with --data")
    held.enter_context(_claim(workspace.state_dir, name, "resume"))
    with RunStore.for_workspace(workspace) as store:
        info = store.get_run(name)  # again, now that no other process can change it
    if info.status == "completed" and info.rows_done == info.total_rows and not (retry_failed and info.rows_failed):
        raise FlowError(f"--resume {name}: the run is already complete ({info.rows_done} rows, {info.rows_failed} "
                        f"failed)" + ("; add --retry-failed to do the failed rows again" if info.rows_failed else ""))
    if info.data and not Path(info.data).is_file():
        # --data cannot be given with --resume: the run's own file must come back.
        raise FlowError(f"--resume {name}: the run's data file {info.data} is gone; put it back (with the same rows) "
                        "to resume, or start a new run with --data")
    if info.flow and not Path(info.flow).exists():
        raise FlowError(f"--resume {name}: the run's flow {info.flow} is gone; put it back to resume the run")
    return {"flow": info.flow, "data": info.data, "column_mapping": info.column_mapping, "variants": info.variants,
            "source_run": info.source_run, "use_cache": info.parameters.get("cache", True),
            "init": info.parameters.get("init"), "parameters": info.parameters}


def _settings(concurrency: int, row_timeout: float, session: Session, workers: int | str = 1) -> dict:
    """The settings stored with a run, which a resume keeps."""
    retry = getattr(session.context.llm.pool, "retry", None)
    return {"concurrency": concurrency, "row_timeout": row_timeout,
            **({"workers": workers} if workers == AUTO or workers > 1 else {}),
            **({"timeout": retry.timeout} if retry is not None else {})}


def _flow_named_by(path: Path | str | None) -> Path | None:
    """The flow file a FLOW argument names, if it surely names one: a file, or a folder with a
    flow.dag.yaml / flow.flex.yaml. Any other folder may be the workspace, passed to find the run."""
    if path is None:
        return None
    from promptwise.engine.flow_path import FLEX_FLOW_NAMES, FLOW_DAG_NAMES

    path = Path(path)
    if path.is_file():
        return path.resolve()
    for name in (*FLOW_DAG_NAMES, *FLEX_FLOW_NAMES) if path.is_dir() else ():
        if (path / name).is_file():
            return (path / name).resolve()
    return None


@dataclass
class _Processes:
    """Where a batch's rows run: in this process, or in worker processes (`pool`). With a `probe`
    (workers="auto") the batch starts here and moves to a pool made by `new_pool(count)` once
    the probe finds it CPU-bound with cores to spare (engine/auto_workers.py)."""

    new_pool: Callable[[int], Any]
    on_notice: Callable[[str], None] | None = None
    pool: Any = None  # WorkerPool
    probe: Any = None  # CpuProbe

    async def watch(self, tally: "_Tally", pending_count: int) -> None:
        """Look every PROBE_SECONDS until worker processes run the rows (or the run ends)."""
        from promptwise.engine.auto_workers import PROBE_SECONDS

        while self.pool is None:
            await asyncio.sleep(PROBE_SECONDS)
            decision = self.probe.check(tally.done_here, pending_count - tally.done_here)
            if decision is None:
                continue
            pool = self.new_pool(decision.workers)
            self._notice(f"the batch is CPU-bound ({decision.reason}): starting {decision.workers} worker "
                         f"processes for the rows left")
            try:
                await pool.start()
            except FlowError as error:  # the rows go on here, as before
                self._notice(f"worker processes did not start ({error}); the batch goes on in one process")
                return
            self.pool = pool
            self._notice(f"rows now run in {decision.workers} worker processes")

    def _notice(self, message: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message)


# When this many rows in a row fail because the endpoint cannot be reached, the run stops:
# every further row would fail the same way.
FAIL_FAST_ROWS = 3
# Workers start this far apart (at most 0.1 s for all), not all at once: rows that start
# together call together, come back together from an endpoint with steady latency, and then
# keep waiting for one another's CPU (see providers.MIN_CALL_SPACING; measured).
START_SPACING = 0.001  # seconds
MAX_RAMP = 0.1  # seconds


async def execute_line(session: Session, run_name: str, index: int, inputs: dict, row_timeout: float) -> LineOutcome:
    """One row through the flow, in this process (the batch's own, or a worker's): its outcome,
    failed with a message when the flow raises or the row times out."""
    started = time.perf_counter()
    try:
        # asyncio.timeout, not wait_for: no extra task (and event-loop turn) per row.
        async with asyncio.timeout(row_timeout):
            return await spans.traced_line(session.executable, inputs, session.context, run_id=run_name,
                                           row_index=index)
    except FlowError as error:  # e.g. a flex entry whose __init__ fails: this row fails, the run goes on
        return LineOutcome("failed", None, str(error), [], (time.perf_counter() - started) * 1000)
    except TimeoutError:
        return LineOutcome("failed", None, f"timed out after {row_timeout:g} s (a tool or call did not finish); "
                           f"raise --row-timeout if rows are legitimately slow", [],
                           (time.perf_counter() - started) * 1000)


async def _run_rows(session: Session, run_name: str, pending: Iterator[DataRow], pending_count: int, mapping: dict,
                    input_names: list[str], source, concurrency: int, tally: _Tally,
                    on_progress: ProgressCallback | None, cancel: asyncio.Event | None,
                    row_timeout: float, data_path: Path | None,
                    processes: _Processes | None = None) -> tuple[str, str | None]:
    executable, context, store = session.executable, session.context, session.store
    llm = context.llm
    queue = pending  # read as the workers take rows
    # Rows that failed because the endpoint could not be reached: recorded once a row gets
    # through, or left unrecorded (so a resume does them) when the run stops because it is down.
    held_back: list[RowResult] = []
    unreachable = asyncio.Event()
    broken = asyncio.Event()  # a worker process died: the run stops
    broken_reason: list[str] = []
    fail_fast_rows = max(1, min(FAIL_FAST_ROWS, pending_count))
    # Finished rows are committed a few at a time and count as done once stored (row_writer.py).
    writer = RowWriter(store, run_name, tally.add, in_flight=concurrency)

    def label(row: DataRow) -> str:
        return row_label(data_path, row)

    def finish(result: RowResult, error_kind: str | None = None, unreachable_row: bool | None = None) -> None:
        # Flex code sees a failed model call as an exception of its own, so its kind is lost:
        # there, failing while no endpoint ever answered and some could not be reached decides.
        # (A worker process decides this with its own calls: `unreachable_row`.)
        if unreachable_row is None:
            unreachable_row = error_kind == "unreachable" or (not llm.endpoint_answered and llm.unreachable_calls > 0)
        if result.status == "failed" and unreachable_row:
            held_back.append(result)
            if len(held_back) >= fail_fast_rows:
                unreachable.set()
            return
        for earlier in held_back:
            writer.add(earlier)
        held_back.clear()
        writer.add(result)  # stored with its group: the row and its node results

    def failed(row: DataRow, inputs: dict, message: str, started: float) -> RowResult:
        outcome = LineOutcome("failed", None, message, [], (time.perf_counter() - started) * 1000)
        return row_result(row.index, inputs, outcome)

    async def one_row(row: DataRow) -> None:
        started = time.perf_counter()
        if row.error is not None:  # a malformed line of the data file: this row fails, the run goes on
            spans.refused_line(executable, {}, row.error, "malformed_row", run_id=run_name, row_index=row.index)
            finish(failed(row, {}, row.error, started))
            return
        try:
            given = map_row(row.index, row.values, mapping, input_names or list(row.values), source)
            inputs = executable.bind(given)
        except FlowError as error:  # e.g. a required input missing: traced too, so every row has a trace
            message = f"{label(row)}: {error}"
            spans.refused_line(executable, row.values, message, "invalid_input", run_id=run_name,
                               row_index=row.index)
            finish(failed(row, row.values, message, started))
            return
        unreachable_row = None
        pool = processes.pool if processes is not None else None
        if pool is None:
            outcome = await execute_line(session, run_name, row.index, inputs, row_timeout)
        else:
            try:
                outcome, unreachable_row, retries = await pool.run(row.index, inputs)
            except WorkerDied as error:  # the rows it had are not stored: a resume does them
                if not broken.is_set():
                    broken_reason.append(str(error))
                    broken.set()
                return
            tally.retries += retries
        if outcome.error:
            outcome.error = f"{label(row)}: {outcome.error}"
        finish(row_result(row.index, inputs, outcome), outcome.error_kind, unreachable_row)

    spacing = min(START_SPACING, MAX_RAMP / max(1, concurrency))

    async def worker(index: int) -> None:
        if index:
            await asyncio.sleep(index * spacing)
        for row in queue:  # a shared iterator: each row is taken by exactly one worker
            if (cancel is not None and cancel.is_set()) or unreachable.is_set():
                return
            tally.in_flight += 1
            try:
                await one_row(row)
            finally:
                tally.in_flight -= 1
            if on_progress is not None:
                on_progress(tally.snapshot())

    workers = [asyncio.ensure_future(worker(index)) for index in range(min(concurrency, max(1, pending_count)))]
    everything = asyncio.gather(*workers)
    stoppers = {asyncio.ensure_future(unreachable.wait()), asyncio.ensure_future(broken.wait())}
    if cancel is not None:
        stoppers.add(asyncio.ensure_future(cancel.wait()))
    watching = None
    if processes is not None and processes.probe is not None and processes.pool is None:
        watching = asyncio.ensure_future(processes.watch(tally, pending_count))
    try:
        await asyncio.wait({everything, *stoppers}, return_when=asyncio.FIRST_COMPLETED)
        if not everything.done():
            everything.cancel()  # rows in flight are not recorded: a resume does them
            await asyncio.gather(everything, return_exceptions=True)
        else:
            await everything
    except asyncio.CancelledError:  # Ctrl-C: the rows finished so far are stored first
        everything.cancel()
        await asyncio.gather(everything, return_exceptions=True)
        writer.flush()
        store.finish_run(run_name, "canceled", "interrupted; continue with --resume " + run_name)
        raise
    except Exception:
        with suppress(Exception):  # keep what finished; the error that stopped the run is the one raised
            writer.flush()
        raise
    finally:
        for stopper in stoppers:
            stopper.cancel()
        if watching is not None:  # a pool it was starting is closed by its start (cancelled)
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
    writer.flush()
    if broken.is_set():
        return "failed", (f"{broken_reason[0]}; the rows not done stay pending: continue with: promptwise batch "
                          f"--resume {run_name}")
    if unreachable.is_set():
        pool = processes.pool if processes is not None else None
        last_unreachable = llm.last_unreachable or (pool.last_unreachable if pool is not None else None)
        return "failed", (f"{last_unreachable}. Stopped after the first {len(held_back)} rows could not "
                          f"connect; the rows not done stay pending: continue with: promptwise batch --resume "
                          f"{run_name}")
    for result in held_back:  # the run ended before the endpoint answered: these rows did fail
        writer.add(result)
    writer.flush()
    if cancel is not None and cancel.is_set():
        return "canceled", "canceled; continue with --resume " + run_name
    return "completed", None


async def _aggregate(session: Session, run_name: str) -> tuple[dict | None, str | None]:
    """Aggregation nodes over every completed row (read from the store, so resumed runs work too)."""
    store = session.store
    rows = store.get_rows(run_name, status="completed")
    node_outputs: dict[int, dict[str, Any]] = {row.line: {} for row in rows}
    for line, node in store.get_node_results_by_line(run_name):
        if line in node_outputs:
            node_outputs[line][node.node] = node.output
    lines = [(row.inputs, node_outputs[row.line]) for row in rows]
    outcome = await session.executable.run_aggregation(lines, session.context)
    store.record_aggregation(run_name, outcome.nodes, outcome.metrics)
    return outcome.metrics, outcome.error
