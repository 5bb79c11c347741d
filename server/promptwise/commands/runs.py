"""`promptwise runs list | show NAME | export NAME`: read the run store."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from promptwise.cli import UserError
from promptwise.commands.options import display_path, existing_folder, workspace_or_error, json_text, plural, positive_int, tidy_figure
from promptwise.costing.formatting import format_ms, format_tokens, format_usd


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list, show and export stored runs",
                                   description="Read the workspace's run store (.promptwise/runs.sqlite).")
    parser.add_argument("--workspace", default=".", metavar="PATH", help="a folder inside the workspace (default: .)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="runs, newest first")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N runs (default 50)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    show = actions.add_parser("show", help="one run: status, totals, metrics, failed rows")
    show.add_argument("name")
    show.add_argument("--format", choices=("text", "json"), default="text")
    export = actions.add_parser("export", help="a run's rows as JSONL (default), JSON, CSV or text lines",
                                description="A run's rows. In JSONL/JSON/CSV, `line` is the row's 0-based index "
                                            "(Prompt flow's line_number); the text format shows 1-based row "
                                            "numbers.")
    export.add_argument("name")
    export.add_argument("--format", choices=("jsonl", "json", "csv", "text"), default="jsonl")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    for sub in (listing, show, export):
        sub.add_argument("--workspace", default=argparse.SUPPRESS, metavar="PATH", help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle, parser=parser)


def _open_store(workspace_path: str):
    from promptwise.store import RunStore

    existing_folder("--workspace", workspace_path)
    workspace = workspace_or_error(workspace_path)
    if not RunStore.exists_in(workspace.state_dir):
        return None, workspace.state_dir
    return RunStore.for_workspace(workspace, readonly=True), workspace.state_dir


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def _cost(value: float | None) -> str:
    return "unknown" if value is None else format_usd(value)


def resume_hint(run) -> str | None:
    """What to do about a run whose process died without finishing it."""
    if run.status != "interrupted":
        return None
    if run.kind == "batch":
        return f"resume with: promptwise batch --resume {run.name}"
    return "its process ended before it finished; run it again"


def status_text(run) -> str:
    hint = resume_hint(run)
    return f"{run.status} ({hint})" if hint else run.status


def run_json(run) -> dict:
    """The JSON shape of one run (`runs show --format json`, the editor's showRun)."""
    data = run.as_dict()
    data["created"] = _when(run.created_at)
    data["finished"] = _when(run.finished_at)
    hint = resume_hint(run)
    if hint:
        data["hint"] = hint
    return data


def handle(args: argparse.Namespace) -> int:
    if not args.action:
        args.parser.print_help(sys.stderr)
        return 2
    store, state_dir = _open_store(args.workspace)
    where = display_path(state_dir / "runs.sqlite")
    if store is None:
        if args.action == "list":
            print("[]" if args.format == "json" else f"no runs yet in {where} (run `promptwise batch` or `promptwise "
                                                     "run`, or pass --workspace DIR for another workspace)")
            return 0
        raise UserError(f"no runs in this workspace (no {where}); run `promptwise runs list` in the workspace, or "
                        "pass --workspace DIR")
    with store:
        try:
            if args.action == "list":
                return _list(store, args)
            run = store.get_run(args.name)
            if run is None:
                names = ", ".join(r.name for r in store.list_runs(limit=5)) or "none"
                raise UserError(f"no run named {args.name!r}; recent runs: {names}")
            if args.action == "show":
                return _show(store, run, args)
            return _export(store, run, args)
        except BrokenPipeError:
            # `promptwise runs export NAME | head`: the reader has had enough; not an error.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


# SQLite's LIMIT is a 64-bit integer: a larger --limit means "all of them".
MAX_LISTED = 2**62


def _list(store, args) -> int:
    runs = store.list_runs(limit=min(args.limit, MAX_LISTED))
    if args.format == "json":
        print(json_text([run_json(r) for r in runs], indent=2))
        return 0
    if not runs:
        print(f"no runs yet in {display_path(store.path)}")
        return 0
    print(f"{'NAME':40} {'STATUS':11} {'ROWS':>11} {'FAILED':>6} {'TOKENS':>11} {'COST':>10}  CREATED")
    for r in runs:
        rows = f"{r.rows_done}/{r.total_rows if r.total_rows is not None else '?'}"
        print(f"{r.name:40} {r.status:11} {rows:>11} {r.rows_failed:>6} {format_tokens(r.total_tokens):>11} {_cost(r.cost):>10}  "
              f"{_when(r.created_at)}")
    for r in runs:
        hint = resume_hint(r)
        if hint:
            print(f"{r.name}: interrupted ({hint})")
        elif r.status == "canceled" and r.kind == "batch" and r.rows_done < (r.total_rows or 0):
            # stopped with Ctrl-C: as resumable as a run whose process died
            print(f"{r.name}: canceled with rows left (resume with: promptwise batch --resume {r.name})")
    return 0


def _evaluations(store, run) -> list:
    """The run's stored evaluations, newest first (none when it was never evaluated)."""
    from promptwise.evaluation.results_store import EvalStore

    with EvalStore(store.state_dir, readonly=True) as evaluations:
        return evaluations.list_for_run(run.name)


def evaluation_is_stale(evaluation, run) -> bool:
    """The run's rows changed after `evaluation` was made: a `batch --resume` (--retry-failed
    redoes failed rows) finished, or is running, since. Its scores leave those rows out or score
    their old failures."""
    return run.finished_at is None or evaluation.created_at < run.finished_at


def stale_note(run) -> str:
    return (f"stale: made before the run's rows were last redone ({_when(run.finished_at)}); "
            f"evaluate again with: promptwise eval --run {run.name}")


def _headline(evaluation) -> str:
    """`category_match pass 97%, fluency mean 4.2`: each evaluator's pass rate, or its mean."""
    from promptwise.evaluation.report_text import fmt_number

    parts = []
    for evaluator in evaluation.evaluators:
        figures = evaluation.metrics.get(evaluator["name"], {})
        if figures.get("pass_rate") is not None:
            parts.append(f"{evaluator['name']} pass {figures['pass_rate'] * 100:.0f}%")
        elif figures.get("mean") is not None:
            parts.append(f"{evaluator['name']} mean {fmt_number(figures['mean'])}")
    return ", ".join(parts) or "no scores"


def _show(store, run, args) -> int:
    failed = store.get_rows(run.name, status="failed")
    evaluations = _evaluations(store, run)
    if args.format == "json":
        data = run_json(run)
        # `metrics` are the flow's own (aggregation nodes); the evaluations' are under `evaluations`.
        data["evaluations"] = [{"name": e.name, "created": _when(e.created_at), "metrics": e.metrics,
                                "summary": e.summary, "stale": evaluation_is_stale(e, run)} for e in evaluations]
        # `line`: the stored 0-based row index; `row`: the same row counted from 1, as messages say.
        data["failed_rows"] = [{"line": r.line, "row": r.line + 1, "error": r.error} for r in failed]
        print(json_text(data, indent=2))
        return 0
    p50, p95 = format_ms(run.latency_p50_ms), format_ms(run.latency_p95_ms)
    lines = [
        f"run:        {run.name} ({run.kind})",
        f"flow:       {run.flow}",
        f"status:     {status_text(run)}" + (f" — {run.error}" if run.error else ""),
        f"created:    {_when(run.created_at)}   finished: {_when(run.finished_at)}",
    ]
    if run.data:
        lines.append(f"data:       {run.data}")
    if run.variants:
        lines.append("variants:   " + ", ".join(f"{k}={v}" for k, v in run.variants.items()))
    models = (run.parameters or {}).get("models")  # `eval --models`: node (or * for every llm node) -> model
    if models:
        lines.append("models:     " + ", ".join(m if node == "*" else f"{node}={m}" for node, m in models.items()))
    lines += [
        f"rows:       {run.rows_done}/{run.total_rows} done, {run.rows_completed} completed, {run.rows_failed} failed",
        f"tokens:     {format_tokens(run.total_tokens)} ({format_tokens(run.prompt_tokens)} prompt, "
        f"{format_tokens(run.completion_tokens)} completion)",
        f"cost:       {_cost(run.cost)}" + (f" (known part {format_usd(run.cost_known)})" if run.cost is None else ""),
        f"latency:    p50 {p50}, p95 {p95} per row; {plural(run.llm_calls, 'model call')}, "
        f"{run.cache_hits} from the response cache",
        f"outputs:    {run.outputs_path}",
    ]
    if run.metrics:
        lines.append("metrics:    " + json.dumps(run.metrics, ensure_ascii=False, default=str))
    for evaluation in evaluations[:3]:
        lines.append(f"evaluation: {evaluation.name} ({_when(evaluation.created_at)}): {_headline(evaluation)}")
        if evaluation_is_stale(evaluation, run):
            lines.append(f"            {stale_note(run)}")
    if evaluations:
        lines.append(f"            show one with: promptwise eval --show {evaluations[0].name}")
    else:
        lines.append(f"evaluation: none (evaluate it with: promptwise eval --run {run.name})")
    for row in failed[:10]:
        # Errors name their row already (`data.jsonl line 7: ...`); older runs' may not.
        error = row.error or "failed"
        lines.append(f"  {error}" if " line " in error.split(":", 1)[0] or error.startswith("row ")
                     else f"  row {row.line + 1}: {error}")
    if len(failed) > 10:
        lines.append(f"  ... {plural(len(failed) - 10, 'more failed row')} (runs export {run.name})")
    print("\n".join(lines))
    return 0


def _export(store, run, args) -> int:
    rows = store.get_rows(run.name)
    records = [row.as_dict() for row in rows]
    try:
        handle = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    except OSError as error:
        raise UserError(f"--output {args.output}: cannot write the export ({error.strerror}); "
                        "pass a file in an existing folder") from None
    try:
        _write_export(handle, run, rows, records, args)
        if args.output:
            handle.close()  # the last buffer is written here: a full disk shows up now, not never
    except OSError as error:
        if not args.output or isinstance(error, BrokenPipeError):
            raise
        raise UserError(f"--output {args.output}: cannot write the export ({error.strerror}); the file is "
                        "incomplete: free some space or pick another place, and export again") from None
    finally:
        if args.output and not handle.closed:
            try:
                handle.close()
            except OSError:  # already reported above
                pass
    return 0


def _write_export(handle, run, rows, records, args) -> None:
    if args.format == "json":
        handle.write(json_text({"run": run_json(run), "rows": records}, indent=2))
        handle.write("\n")
    elif args.format == "csv":
        input_keys = sorted({k for r in rows for k in r.inputs})
        output_keys = sorted({k for r in rows for k in (r.outputs or {})})
        writer = csv.writer(handle)
        writer.writerow(["line", "status", *[f"inputs.{k}" for k in input_keys],
                         *[f"outputs.{k}" for k in output_keys], "error", "total_tokens", "cost", "latency_ms"])
        for r in rows:
            cell = lambda v: v if isinstance(v, (str, int, float)) or v is None else json.dumps(v, default=str)
            writer.writerow([r.line, r.status, *[cell(r.inputs.get(k)) for k in input_keys],
                             *[cell((r.outputs or {}).get(k)) for k in output_keys], r.error or "",
                             r.total_tokens, tidy_figure("cost", r.cost), tidy_figure("latency_ms", r.latency_ms)])
    elif args.format == "text":
        for r in rows:
            shown = r.error if r.status == "failed" else json.dumps(r.outputs, ensure_ascii=False, default=str)
            handle.write(f"{r.line + 1:>6}  {r.status:9}  {shown}\n")
    else:
        for record in records:
            handle.write(json_text(record) + "\n")
