"""One evaluation as the editor's results panel shows it: the metrics table and a bounded
list of rows, each with the run's inputs and outputs and every evaluator's score, verdict and
reason, for the per-row drill-down.

    evaluation_view(workspace, "triage_v2")          # a run: its latest evaluation
    evaluation_view(workspace, "triage_v2.eval3")    # one evaluation

The language server answers `promptwise.evaluate` and `promptwise.showRun` with this JSON.
It is bounded so a 100k-row run does not become a 100 MB message: the first `max_rows`
rows (`rows_total`, `rows_truncated` say how many there are), and long texts cut with a
note of how much was left out. Everything is read from the store, read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptwise.config import WorkspaceConfig
from promptwise.evaluation.results_store import EvalStore, StoredEvaluation

MAX_ROWS = 500
MAX_TEXT = 2000  # characters of one string value (an output, a judge's raw answer)
MAX_ITEMS = 50  # items of one list value (retrieved documents ...)


def bounded(value: Any, depth: int = 0) -> Any:
    """`value` with long strings and lists cut, saying how much was cut."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return value[:MAX_TEXT] + f"… ({len(value) - MAX_TEXT:,} more characters)"
        return value
    if depth > 8:  # deep enough for any real output; guards against pathological nesting
        return "…"
    if isinstance(value, dict):
        return {str(key): bounded(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [bounded(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… ({len(value) - MAX_ITEMS} more items)")
        return items
    return value


def _find(store: EvalStore, name: str) -> StoredEvaluation | None:
    return store.get(name) or store.latest_for_run(name)


def _data_rows(path: str | None, lines: set[int]) -> dict[int, dict]:
    """The data file's rows at `lines` (the columns the evaluators read beside the run's
    inputs, e.g. the expected answer); empty when the file is gone or unreadable."""
    if not path or not lines or not Path(path).is_file():
        return {}
    try:
        from promptwise.engine.data import read_rows

        rows = read_rows(Path(path))
    except Exception:  # a convenience for the drill-down; the scores do not depend on it
        return {}
    return {line: rows[line] for line in lines if line < len(rows) and isinstance(rows[line], dict)}


def evaluation_view(workspace: WorkspaceConfig, name: str, *, max_rows: int = MAX_ROWS) -> dict | None:
    """The evaluation `name` (or the latest one of the run `name`); None when there is none."""
    from promptwise.store.run_store import RunStore

    if not RunStore.exists_in(workspace.state_dir):
        return None
    with EvalStore.for_workspace(workspace, readonly=True) as store:
        record = _find(store, name)
        if record is None:
            return None
        shown = store.scores(record.name, first_rows=max_rows)
        total = store.row_count(record.name)
    with RunStore.for_workspace(workspace, readonly=True) as runs:
        wanted = {row.line for row in shown}
        records = {r.line: r for r in runs.get_rows(record.run) if r.line in wanted}
    data = _data_rows(record.data, wanted)
    rows = []
    for row in shown:
        run_row = records.get(row.line)
        inputs = dict(run_row.inputs) if run_row is not None else {}
        extra_columns = {k: v for k, v in data.get(row.line, {}).items() if k not in inputs}
        scores = {evaluator: {"value": s.value, "passed": s.passed, "reason": bounded(s.reason), "error": s.error,
                              "details": bounded(s.details)} for evaluator, s in row.scores.items()}
        judged = [s for s in row.scores.values() if s.passed is not None or s.error is not None]
        failed_in_run = run_row is not None and run_row.status == "failed"
        rows.append({
            "line": row.line,
            "data_line": row.data_line,
            "status": run_row.status if run_row is not None else None,
            "error": run_row.error if run_row is not None else None,
            # passed: every thresholded evaluator passed; a score that could not be computed fails the row
            "passed": None if not judged and not failed_in_run
            else (not failed_in_run and all(s.passed is True for s in judged)),
            "inputs": bounded(inputs),
            "data": bounded(extra_columns),
            "outputs": bounded(run_row.outputs) if run_row is not None else None,
            "latency_ms": run_row.latency_ms if run_row is not None else None,
            "cost": run_row.cost if run_row is not None else None,
            "scores": scores,
        })
    return {
        "evaluation": record.name,
        "run": record.run,
        "flow": record.flow,
        "config": record.config,
        "data": record.data,
        "evaluated_at": record.created_at,
        "evaluators": record.evaluators,
        "metrics": record.metrics,
        "summary": record.summary,
        "rows": rows,
        "rows_total": total,
        "rows_shown": len(rows),
        "rows_truncated": total > len(rows),
    }


__all__ = ["evaluation_view", "MAX_ROWS", "bounded"]
