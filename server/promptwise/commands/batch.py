"""`promptwise batch FLOW --data FILE ...` and `promptwise batch --resume NAME`."""

from __future__ import annotations

import argparse
import json
import sys

from promptwise.cli import UserError
from promptwise.commands.options import json_text, plural, positive_int, run_name, warn
from promptwise.commands.preflight import ALLOW_UNDEFINED_HELP, refuse_undefined_variables
from promptwise.commands.run import import_engine, parse_pairs, parse_values, positive_seconds
from promptwise.costing.formatting import format_tokens, format_usd
from promptwise.engine.errors import FlowError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="run a flow over every row of a data file",
        description="Run a flow over a JSONL or CSV file with bounded concurrency, retries, a response cache and "
                    "resume after interruption. The run's name is printed first; outputs go to the run store and "
                    ".promptwise/runs/NAME/outputs.jsonl.")
    parser.add_argument("flow", metavar="FLOW", nargs="?", help="flow folder, flow.dag.yaml, flow.flex.yaml or .prompty")
    parser.add_argument("--data", metavar="FILE", help=".jsonl, .csv or .json data file")
    parser.add_argument("--name", type=run_name, help="name of the run (default: generated and printed)")
    parser.add_argument("--concurrency", type=positive_int, default=None, metavar="N",
                        help="rows in flight at once (default 32, or with --resume the run's own; fewer while the "
                             "endpoint answers 429)")
    parser.add_argument("--workers", type=worker_count, default=None, metavar="N|auto",
                        help="worker processes for the rows, for when one process's CPU is the bound (a fast "
                             "endpoint, e.g. a local vLLM or Ollama, or CPU-heavy Python tools); --concurrency rows "
                             "in flight across them. auto (the default; with --resume, the run's own setting): "
                             "start in one process and move the rest of the rows to up to one worker per core once "
                             "the batch proves CPU-bound with idle cores and enough rows left, saying so on stderr "
                             "(Linux, macOS; on Windows it stays in one process). N: N workers from the start; "
                             "1: never")
    parser.add_argument("--no-cache", action="store_true", help="always call the model (skip the response cache)")
    parser.add_argument("--timeout", type=positive_seconds, default=None, metavar="SECONDS",
                        help="per model call; a call that times out is retried, then the row fails (default 120; "
                             "with --resume, the run's own)")
    parser.add_argument("--column-mapping", nargs="+", metavar="INPUT=${data.COL}",
                        help="map inputs to data columns (${data.x}) or an earlier run (${run.outputs.x})")
    parser.add_argument("--run", dest="source_run", metavar="NAME", help="earlier run read by ${run.outputs.x}")
    parser.add_argument("--variant", action="append", metavar="NODE=ID", help="node variant to use (repeatable)")
    parser.add_argument("--init", nargs="+", metavar="NAME=VALUE",
                        help="init values of a flex flow class entry: NAME=VALUE pairs, a JSON object, or a JSON "
                             "file such as init.json")
    parser.add_argument("--resume", metavar="NAME", help="continue an interrupted run: each remaining row once")
    parser.add_argument("--row-timeout", type=positive_seconds, default=None, metavar="SECONDS",
                        help="a row that takes longer fails and the run goes on (default 600)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --resume: also do the rows that failed again (e.g. after rate limits)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--allow-undefined", action="store_true", help=ALLOW_UNDEFINED_HELP)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def worker_count(text: str) -> int | str:
    """--workers: a count, or `auto` (one process, worker processes once the batch is CPU-bound)."""
    if text == "auto":
        return text
    return positive_int(text)


def handle(args: argparse.Namespace) -> int:
    import_engine()  # here, not at the top: --help need not load asyncio (and ssl)
    from promptwise.engine import event_loop
    from promptwise.engine.batch import run_batch
    from promptwise.engine.flow_environment import stdout_fd_to_stderr
    from promptwise.tracing import traced
    from promptwise.engine.progress import ProgressBar
    from promptwise.engine.providers import RetryPolicy

    if args.resume and (args.data or args.column_mapping or args.variant or args.name):
        raise UserError("--resume NAME continues a run with its own flow, data, mapping and variants; "
                        "leave out --data/--column-mapping/--variant/--name")
    if args.retry_failed and not args.resume:
        raise UserError("--retry-failed goes with --resume NAME")
    if not args.resume and not args.flow:
        raise UserError("pass FLOW and --data FILE, or --resume NAME")
    if not args.resume:
        refuse_undefined_variables(args.flow, parse_pairs(args.variant, "--variant"), args.allow_undefined)
    bar = None if args.no_progress else ProgressBar(sys.stderr)
    started_name: list[str] = []

    def on_start(name: str) -> None:
        started_name.append(name)
        print(f"run: {name}", file=sys.stderr, flush=True)

    def notice(message: str) -> None:  # e.g. the batch moving to worker processes
        if bar is not None:
            bar.interrupt()
        print(f"promptwise: {message}", file=sys.stderr, flush=True)

    try:
        with stdout_fd_to_stderr(), traced(args.flow) as tracing:
            result = event_loop.run(run_batch(
                args.flow, args.data, name=args.name, column_mapping=args.column_mapping,
                variants=parse_pairs(args.variant, "--variant"), source_run=args.source_run,
                concurrency=args.concurrency, use_cache=not args.no_cache,  # None: the default, or the run's own
                resume=args.resume, retry_failed=args.retry_failed,
                row_timeout=args.row_timeout, workspace_path=args.flow, on_progress=bar,
                on_start=on_start, on_warning=warn, init=parse_values(args.init, "--init", json_values=True) or None,
                retry=RetryPolicy(timeout=args.timeout) if args.timeout else None,
                workers=args.workers or (None if args.resume else "auto"), on_notice=notice,
                # worker processes trace as this one does
                worker_setup="promptwise.tracing:traced" if tracing else None))
    except FlowError as error:
        raise UserError(str(error)) from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if started_name:
            print(f"promptwise: interrupted; finished rows are saved. Continue with: promptwise batch --resume "
                  f"{started_name[0]}", file=sys.stderr)
        return 130
    if bar is not None:
        bar.close()
    if args.format == "json":
        print(json_text(result.as_dict(), indent=2))
    info, failed = _stored(result, args.flow)
    if args.format != "json":
        cost = "cost unknown" if result.cost is None else format_usd(result.cost)
        if info is not None and info.cache_hits:
            # a cached answer is not charged: say so, or a cheap run reads as a cheap flow
            cost += f" ({info.cache_hits} of {plural(info.llm_calls, 'model call')} from the response cache)"
        print(f"run {result.run}: {result.status} · {result.completed}/{plural(result.rows, 'row')} completed · "
              f"{result.failed} failed · {format_tokens(result.tokens['total'])} tokens · {cost} · "
              f"{result.elapsed:.1f} s")
        if result.metrics:
            print("metrics: " + json.dumps(result.metrics, ensure_ascii=False, default=str))
        print(f"outputs: {result.outputs_path}")
    if args.resume and info is not None:
        _warn_stale_evaluations(info, args.flow)
    if result.error:
        if args.format != "json":
            print(f"promptwise: error: {result.error}", file=sys.stderr)
    elif result.failed:
        _report_failed_rows(result, failed)
    return 0 if result.status == "completed" and not result.failed else 1


def _warn_stale_evaluations(run, flow) -> None:
    """A resumed run's earlier evaluation no longer describes its rows: say so once, here, as
    `runs show` does."""
    import sqlite3
    from pathlib import Path

    from promptwise.commands.runs import evaluation_is_stale, stale_note
    from promptwise.config import ConfigError, load_workspace
    from promptwise.evaluation.results_store import EvalStore

    try:
        with EvalStore.for_workspace(load_workspace(Path(flow or ".")), readonly=True) as evaluations:
            latest = evaluations.latest_for_run(run.name)
    except (ConfigError, OSError, sqlite3.Error):
        return
    if latest is not None and evaluation_is_stale(latest, run):
        print(f"promptwise: note: evaluation {latest.name} is {stale_note(run)}", file=sys.stderr)


def _stored(result, flow):
    """(the run as stored, its failed rows) after a batch; (None, []) when the store cannot be read."""
    from pathlib import Path

    from promptwise.config import ConfigError, load_workspace
    from promptwise.store import RunStore

    try:
        with RunStore.for_workspace(load_workspace(Path(flow or ".")), readonly=True) as store:
            return store.get_run(result.run), store.get_rows(result.run, status="failed") if result.failed else []
    except (ConfigError, OSError):
        return None, []


# Failed rows named on stderr after a batch; `runs show` / `runs export` have them all.
SHOWN_FAILURES = 5


def _report_failed_rows(result, failed) -> None:
    """Exit status 1 needs its reason on screen: which rows failed, and why."""
    count = result.failed
    print(f"promptwise: error: {count} row{'s' if count != 1 else ''} failed:", file=sys.stderr)
    for row in failed[:SHOWN_FAILURES]:
        error = row.error or "failed"
        # Errors name their row already (`data.jsonl line 7: ...`); say it where they do not.
        named = " line " in error.split(":", 1)[0] or error.startswith("row ")
        print(f"  {error}" if named else f"  row {row.line + 1}: {error}", file=sys.stderr)
    if count > min(len(failed), SHOWN_FAILURES):
        print(f"  ... and {count - min(len(failed), SHOWN_FAILURES)} more", file=sys.stderr)
    print(f"  (all of them: promptwise runs show {result.run}; once fixed, redo them with: promptwise batch "
          f"--resume {result.run} --retry-failed)", file=sys.stderr)
