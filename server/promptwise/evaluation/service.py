"""Evaluation runs: evaluate a stored run, or run a flow over data and evaluate it.

    outcome = await evaluate_flow("flows/log-triage", data="flows/log-triage/data.jsonl")
    outcome = await evaluate_run("log-triage_20261121_101500_ab12", workspace=load_workspace(Path(".")))

Both check eval.yaml, build every evaluator and check every mapped column against the data
and the flow's outputs before the first model call; then the scores and aggregates are stored
with the run (`EvalStore`) and returned. The CLI (`promptwise eval`) and the language server
(`promptwise.evaluate`) call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from promptwise.config import WorkspaceConfig, load_workspace
from promptwise.evaluation.config import EvalConfig, EvalConfigError, find_eval_config, load_eval_config
from promptwise.evaluation.flow_outputs import flow_output_names
from promptwise.evaluation.registry import BuildContext
from promptwise.evaluation.results_store import EvalStore
from promptwise.evaluation.uncached import cache_summary, uncached_rows
from promptwise.evaluation.runner import (
    EvalResult,
    EvalRow,
    EvaluationError,
    build_evaluators,
    check_columns,
    evaluate_rows,
)


@dataclass
class EvaluationOutcome:
    name: str  # the stored evaluation
    run: str
    flow: str | None
    config: Path
    data: Path | None
    result: EvalResult

    def to_json(self) -> dict:
        return {"evaluation": self.name, "run": self.run, "flow": self.flow, "config": str(self.config),
                "data": str(self.data) if self.data else None, **self.result.to_json()}


def config_for(flow_path: Path | None, config_path: Path | None) -> EvalConfig:
    """The eval.yaml given, or the one beside the flow."""
    if config_path is None:
        if flow_path is None:
            raise EvaluationError("no eval.yaml given; pass --config FILE (or a flow with eval.yaml beside it)")
        config_path = find_eval_config(flow_path)
        if config_path is None:
            folder = flow_path if flow_path.is_dir() else flow_path.parent
            raise EvaluationError(f"{folder}: no eval.yaml beside the flow; create one (evaluators, inputs, "
                                  f"thresholds) or pass --config FILE")
    if not Path(config_path).is_file():
        raise EvaluationError(f"{config_path}: no such evaluation file; check the path")
    return load_eval_config(Path(config_path))


def read_data(path: Path) -> tuple[list[dict], list[int | None]]:
    """The rows as the engine reads them (so row i is the run's line i), with their file lines."""
    from promptwise.engine.data import read_rows

    rows = read_rows(path)
    lines: list[int | None] = [None] * len(rows)
    try:
        from promptwise.costing.dataset_rows import Row, read_rows as read_rows_with_lines

        located = [item.line for item in read_rows_with_lines(path) if isinstance(item, Row) and not item.is_item]
        if len(located) == len(rows):
            lines = list(located)
    except Exception:  # line numbers are a convenience for the editor; the scores do not need them
        pass
    return rows, lines


def _run_context(record, figures) -> dict:
    # Cost and latency as if no call came from the response cache (see evaluation.uncached):
    # a cached run must not pass a cost gate, or beat a variant, only because it was cached.
    return {
        "outputs": record.outputs if record.status == "completed" else None,
        "inputs": record.inputs,
        "latency_ms": figures.latency_ms,
        "tokens": record.total_tokens,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost": figures.cost,
        "charged_cost": record.cost,
        "llm_calls": record.llm_calls,
        "cache_hits": record.cache_hits,
        "status": record.status,
        "error": record.error,
        "line": record.line,
    }


async def evaluate_run(
    run: str,
    *,
    workspace: WorkspaceConfig,
    config_path: Path | None = None,
    concurrency: int = 16,
    use_cache: bool = True,
    judge_transport: Any = None,
    on_row_done: Callable | None = None,
    retry=None,
) -> EvaluationOutcome:
    """Evaluate a stored run with eval.yaml (beside its flow unless `config_path`)."""
    from promptwise.store.run_store import RunStore

    if not RunStore.exists_in(workspace.state_dir):
        raise EvaluationError(f"--run {run}: no runs in {workspace.state_dir}; run from the workspace folder "
                              f"or create a run with `promptwise batch`")
    with RunStore.for_workspace(workspace, readonly=True) as store:
        info = store.get_run(run)
        if info is None:
            import difflib

            names = [r.name for r in store.list_runs(limit=200)]
            close = difflib.get_close_matches(run, names, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise EvaluationError(f"--run {run}: no such run in {workspace.state_dir}; {hint}"
                                  f"recent runs: {', '.join(names[:5]) or 'none'}")
        records = store.get_rows(run)
        figures = uncached_rows(store, info, records, workspace)
    if not any(record.status == "completed" for record in records):
        # As evaluate_flow does: an evaluation of nothing would read as a (vacuous) result.
        retry = " --retry-failed" if any(record.status == "failed" for record in records) else ""
        left = "" if info.kind != "batch" else f"; finish it with `promptwise batch --resume {run}{retry}` first"
        raise EvaluationError(f"--run {run}: the run has no completed rows ({info.status}, {len(records)} rows "
                              f"done); nothing to evaluate{left}")
    flow_path = Path(info.flow)
    config = config_for(flow_path, config_path)
    data_path = Path(info.data) if info.data else None
    if data_path is not None and not data_path.is_file():
        raise EvaluationError(f"{data_path}: the data file of run {run} is gone; restore it to evaluate ${{data.x}}")
    data_rows, data_lines = read_data(data_path) if data_path is not None else ([], [])
    rows = []
    for record in records:
        data = data_rows[record.line] if record.line < len(data_rows) else dict(record.inputs)
        data_line = data_lines[record.line] if record.line < len(data_lines) else None
        rows.append(EvalRow(record.line, data, _run_context(record, figures[record.line]), data_line))
    outputs = set()
    for record in records:
        if record.status == "completed" and record.outputs:
            outputs.update(record.outputs)
    run_outputs = outputs if any(r.status == "completed" for r in records) else flow_output_names(flow_path)
    return await _evaluate_and_store(config, rows, workspace=workspace, run=run, flow=info.flow, data_path=data_path,
                                     run_outputs=run_outputs, concurrency=concurrency, use_cache=use_cache,
                                     judge_transport=judge_transport, on_row_done=on_row_done, retry=retry)


async def evaluate_flow(
    flow: Path | str,
    data: Path | str | None = None,
    *,
    config_path: Path | None = None,
    variants: dict[str, str] | None = None,
    name: str | None = None,
    concurrency: int = 16,
    use_cache: bool = True,
    on_progress: Callable | None = None,
    on_start: Callable[[str], None] | None = None,
    judge_transport: Any = None,
    retry=None,
    cancel=None,
    on_warning: Callable[[str], None] | None = None,
    models: dict[str, str] | None = None,
) -> EvaluationOutcome:
    """Run the flow over the data (eval.yaml's `data:` unless given), then evaluate the run.
    `on_warning` hears what the batch finds before any call (see run_batch); `models` replaces
    llm nodes' models (node name or `*` -> model)."""
    from promptwise.engine.batch import run_batch

    flow_path = Path(flow)
    config = config_for(flow_path, config_path)
    data_path = Path(data) if data is not None else config.data
    if data_path is None:
        raise EvaluationError(f"{config.path}: no data to run on; pass --data FILE or set `data:` in eval.yaml")
    if data_path.is_dir():
        raise EvaluationError(f"{data_path}: is a folder; pass a data file (.jsonl, .csv or .json) with --data")
    if not data_path.is_file():
        raise EvaluationError(f"{data_path}: data file not found; pass an existing .jsonl, .csv or .json file")
    # Everything that can be checked is checked before the first call.
    workspace = load_workspace(flow_path)
    context = _build_context(config, workspace, use_cache=use_cache, judge_transport=judge_transport, retry=retry)
    try:
        build_evaluators(config, context)
        data_rows, _ = read_data(data_path)
        check_columns(config, [EvalRow(i, row) for i, row in enumerate(data_rows)], str(data_path),
                      run_outputs=flow_output_names(flow_path), has_run=True)
    finally:
        await _close(context, judge_transport)
    batch = await run_batch(flow_path, data_path, name=name, variants=variants, concurrency=max(concurrency, 1),
                            use_cache=use_cache, on_progress=on_progress, on_start=on_start, retry=retry,
                            cancel=cancel, on_warning=on_warning, models=models)
    if batch.status != "completed" and batch.completed == 0:
        raise EvaluationError(f"run {batch.run} {batch.status} with no completed rows ({batch.error or 'see the run'}); "
                              f"nothing to evaluate")
    return await evaluate_run(batch.run, workspace=workspace, config_path=config.path, concurrency=concurrency,
                              use_cache=use_cache, judge_transport=judge_transport, retry=retry)


def _build_context(config: EvalConfig, workspace: WorkspaceConfig, *, use_cache: bool, judge_transport: Any,
                   retry=None, concurrency: int = 16) -> BuildContext:
    transport = judge_transport
    if transport is None and any(_calls_model(spec.type) for spec in config.evaluators):
        from promptwise.evaluation.judge_transport import EngineJudgeTransport

        # The judge's connection admits as many calls as rows are evaluated at once; a smaller
        # limit there would silently cap --concurrency.
        transport = EngineJudgeTransport(workspace, use_cache=use_cache, retry=retry, concurrency=concurrency)
    flow_runner = None
    if any(spec.type == "flow" for spec in config.evaluators):
        from promptwise.evaluation.flow_evaluator import EngineFlowRunner

        flow_runner = EngineFlowRunner(use_cache=use_cache, retry=retry)
    return BuildContext(base_dir=config.base_dir, judge_transport=transport, judge_defaults=config.judge,
                        flow_runner=flow_runner)


def _calls_model(kind: str) -> bool:
    from promptwise.evaluation.judges import LlmJudge
    from promptwise.evaluation.registry import EVALUATOR_TYPES

    cls = EVALUATOR_TYPES.get(kind)
    return cls is not None and issubclass(cls, LlmJudge)


async def _close(context: BuildContext, given_transport: Any) -> None:
    if context.judge_transport is not None and context.judge_transport is not given_transport:
        await context.judge_transport.aclose()
    if context.flow_runner is not None:
        await context.flow_runner.aclose()


async def _evaluate_and_store(config: EvalConfig, rows: list[EvalRow], *, workspace: WorkspaceConfig, run: str,
                              flow: str | None, data_path: Path | None, run_outputs: set[str] | None,
                              concurrency: int, use_cache: bool, judge_transport: Any, on_row_done, retry
                              ) -> EvaluationOutcome:
    context = _build_context(config, workspace, use_cache=use_cache, judge_transport=judge_transport, retry=retry,
                             concurrency=concurrency)
    try:
        result = await evaluate_rows(config, rows, context, data_name=str(data_path or "the run's inputs"),
                                     run_outputs=run_outputs, has_run=True, concurrency=concurrency,
                                     on_row_done=on_row_done, run=run)
    finally:
        await _close(context, judge_transport)
    result.summary.update(cache_summary(rows, result.rows))
    with EvalStore.for_workspace(workspace) as store:
        name = store.save(run, result, flow=flow, config=str(config.path.resolve()),
                          data=str(data_path.resolve()) if data_path else None)
    return EvaluationOutcome(name, run, flow, config.path, data_path, result)


async def evaluate_for_editor(path: Path | str, *, data: Path | str | None = None, run: str | None = None,
                              cancel=None, on_progress: Callable | None = None,
                              on_start: Callable[[str], None] | None = None) -> dict:
    """For the language server's `promptwise.evaluate` {uri, data?, run?}: evaluate the flow at
    `path` (running it over `data`, or eval.yaml's data) or the stored `run`. Returns what
    `promptwise eval --format json` prints (run, evaluation, evaluators, metrics, summary ...)
    with the rows bounded for the results panel: the first `view.MAX_ROWS` rows with their
    inputs, outputs and scores, and `rows_total` / `rows_truncated`. Raises EvaluationError /
    EvalConfigError / FlowError with a message fit to show as is."""
    from promptwise.evaluation.view import evaluation_view

    workspace = load_workspace(Path(path))
    if run:
        outcome = await evaluate_run(run, workspace=workspace)
    else:
        outcome = await evaluate_flow(path, data, cancel=cancel, on_progress=on_progress, on_start=on_start)
    result = outcome.to_json()
    result.pop("rows", None)  # every row's full details: the bounded view below replaces them
    view = evaluation_view(workspace, outcome.name)
    if view is not None:
        for key in ("rows", "rows_total", "rows_shown", "rows_truncated", "evaluated_at"):
            result[key] = view[key]
    return result


__all__ = ["evaluate_for_editor", "EvaluationOutcome", "evaluate_run", "evaluate_flow", "EvaluationError", "EvalConfigError"]
