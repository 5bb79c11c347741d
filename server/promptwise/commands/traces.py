"""`promptwise traces list | show`: read the workspace's span store (.promptwise/traces.sqlite).

    promptwise traces list [--run NAME] [--flow FLOW] [--since WHEN] [--until WHEN] [--limit N] [--format json]
    promptwise traces show TRACE_ID | --run NAME [--row N]  [--format json]
    promptwise traces rekey     (tracing.encrypt: seal all stored content under the current key)

WHEN is a date or time (2026-12-07, 2026-12-07T14:30, ...Z; local time unless it says a zone),
a time today (14:30), today / yesterday (local midnight), now, or an age: 15m, 2h, 7d, 1w,
`2 hours ago` (that long ago).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from promptwise.cli import UserError
from promptwise.commands.options import existing_folder, json_text, positive_int, workspace_or_error
from promptwise.costing.formatting import format_tokens, format_usd

_FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml")
MESSAGE_CHARS = 160  # per message line in `traces show` text; --format json has everything


def register(subparsers) -> None:
    parser = subparsers.add_parser("traces", help="list and show traces of runs, batch rows, evaluations and "
                                                  "served requests",
                                   description="Read the workspace's traces (.promptwise/traces.sqlite): a span "
                                               "per flow, node, model call and @trace function. They are kept "
                                               "for tracing.retention_days (default 30) in promptwise.yaml; `tracing: "
                                               "{capture_content: false}` keeps no prompts or replies. To send "
                                               "them to Jaeger, Phoenix, Langfuse or Azure Monitor as well, set "
                                               "OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP, e.g. "
                                               "http://localhost:4318; OTEL_EXPORTER_OTLP_HEADERS for a key, "
                                               "OTEL_SERVICE_NAME to name the service) before run, batch, eval "
                                               "or serve. OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (e.g. "
                                               "parentbased_traceidratio and 0.1) sample what is exported, whole "
                                               "traces; the local store keeps every trace (metering, monitor, "
                                               "`traces show` of a request id and the editor read it).")
    parser.add_argument("--workspace", default=".", metavar="PATH", help="a folder inside the workspace (default: .)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="traces, newest first")
    listing.add_argument("--run", metavar="NAME", help="only the traces of this run")
    listing.add_argument("--flow", metavar="FLOW", help="only this flow (its name, file or folder)")
    listing.add_argument("--since", metavar="WHEN", help="started at or after WHEN: an age (2h, 7d, '2 hours ago'), "
                                                        "a date/time (2026-12-07, 2026-12-07T14:30, Z for UTC), "
                                                        "a time today (14:30), today, yesterday")
    listing.add_argument("--until", metavar="WHEN", help="started before WHEN (the same forms, and now)")
    listing.add_argument("--limit", type=positive_int, default=50, metavar="N", help="at most N traces (default 50)")
    listing.add_argument("--format", choices=("text", "json"), default="text",
                         help="text: one line a trace, times local (default); json: every field, times in UTC")
    show = actions.add_parser("show", help="one trace: its span tree with timings, tokens, cost and messages")
    show.add_argument("trace_id", nargs="?", metavar="TRACE_ID",
                      help="a trace id (or a unique prefix of 6+ digits), or a served request's id (its "
                           "x-request-id header, an error answer's `id`)")
    show.add_argument("--run", metavar="NAME", help="the trace of this run's row (with --row for a batch)")
    show.add_argument("--row", type=int, metavar="N", help="the row's 0-based index (with --run)")
    show.add_argument("--format", choices=("text", "json"), default="text",
                      help="text: the span tree (default); json: the tree with every attribute, event and message")
    rekey = actions.add_parser("rekey", help="seal every stored prompt, reply, input and output under the current "
                                             "tracing.encrypt.key (after a key change, or encryption switched on)")
    for sub in (listing, show, rekey):  # also after the action: `traces list --workspace ../claims`
        sub.add_argument("--workspace", default=argparse.SUPPRESS, metavar="PATH",
                         help="a folder inside the workspace (default: .)")
    parser.set_defaults(handler=handle, parser=parser)


def handle(args: argparse.Namespace) -> int:
    if args.action is None:
        args.parser.print_help()
        return 2
    if args.action == "rekey":
        return _rekey(args.workspace)
    store = _open_store(args.workspace)
    try:
        if args.action == "list":
            return _list(store, args)
        return _show(store, args)
    finally:
        if store is not None:
            store.close()


def _open_store(workspace_path: str):
    from promptwise.tracing.store import SpanStore, store_path

    existing_folder("--workspace", workspace_path)
    workspace = workspace_or_error(workspace_path)
    if not store_path(workspace.root).is_file():
        return None
    return SpanStore.for_workspace(workspace.root, readonly=True)


def _list(store, args) -> int:
    from promptwise.tracing.view import summary_document

    _refuse_blank(args, "run", "a run's name (see `promptwise runs list`)")
    _refuse_blank(args, "flow", "a flow's name, file or folder")
    now = time.time()
    since = parse_when(args.since, "--since", now)
    until = parse_when(args.until, "--until", now)
    if since is not None and until is not None and since >= until:
        raise UserError(f"--since {args.since} is not before --until {args.until}; swap them")
    rows = [] if store is None else store.list_traces(run=args.run, flow=_flow_filter(args.flow), since_ns=since,
                                                      until_ns=until, limit=args.limit)
    documents = [summary_document(row) for row in rows]
    if args.format == "json":
        print(json_text(documents, indent=2))
        return 0
    if not documents:
        print("no traces" + (" match" if any((args.run, args.flow, args.since, args.until)) else
                             " yet: `promptwise run`, `batch`, `eval` and `serve` record them"))
        if args.run:
            print(_why_no_run_traces(args.workspace, args.run, windowed=bool(args.since or args.until)))
        return 0
    print(f"{'TRACE':<12} {'STARTED':<19} {'DURATION':>9} {'STATUS':<6} {'SPANS':>5} {'TOKENS':>7} "
          f"{'COST':>10}  WHAT")
    for document in documents:
        totals = document["totals"]
        print(f"{document['trace_id'][:12]:<12} {_local(document['start_ns']):<19} "
              f"{_ms(document['duration_ms']):>9} {_status(document):<6} {totals['spans']:>5} "
              f"{format_tokens(totals['input_tokens'] + totals['output_tokens']):>7} "
              f"{_cost(totals['cost_usd'], totals['llm_calls']):>10}  {_what(document)}")
    return 0


def _show(store, args) -> int:
    from promptwise.tracing.view import trace_document

    _refuse_blank(args, "trace_id", "a TRACE_ID (from `promptwise traces list`) or a served request's id",
                  "TRACE_ID")
    _refuse_blank(args, "run", "a run's name (see `promptwise runs list`)")
    if args.row is not None and args.run is None:
        raise UserError("--row goes with --run NAME (the run whose row it is; see `promptwise runs list`)")
    if (args.trace_id is None) == (args.run is None):
        raise UserError("pass a TRACE_ID (from `promptwise traces list`) or --run NAME [--row N]")
    if store is None:
        raise UserError("no traces in this workspace yet: `promptwise run`, `batch`, `eval` and `serve` record them")
    if args.trace_id is not None:
        trace_id = args.trace_id.strip().lower()
        is_hex = re.fullmatch(r"[0-9a-f]{6,32}", trace_id) is not None
        if is_hex and store.ambiguous(trace_id):
            raise UserError(f"several traces start with {trace_id}; give more digits")
        trace = store.get_trace(trace_id) if is_hex else None
        if trace is None:  # the id a served request was answered with (x-request-id, an error's `id`)
            served = store.trace_of_request(args.trace_id.strip())
            trace = store.get_trace(served) if served else None
        if trace is None and is_hex:
            raise UserError(f"no trace {trace_id} in {store.path}, nor a served request answered with that id; "
                            f"see `promptwise traces list`")
        if trace is None:
            raise UserError(f"no trace {args.trace_id.strip()!r} in {store.path}, nor a served request answered with "
                            f"that id: give a trace id's hex digits as `traces list` shows them (the first 12 of 32), "
                            f"or any prefix of at least 6 that only it starts with, or the id a served request was "
                            f"answered with (x-request-id)")
    else:
        rows = store.list_traces(run=args.run, limit=None)
        if args.row is not None:
            rows = [row for row in rows if row["row_index"] == args.row]
        rows = [row for row in rows if row["kind"] != "evaluation"] or rows  # the row's run, then its evaluations
        if not rows:
            where = f" row {args.row}" if args.row is not None else ""
            raise UserError(f"no trace of run {args.run!r}{where}; see `promptwise traces list --run {args.run}`")
        if len(rows) > 1:
            raise UserError(f"run {args.run!r} has {len(rows)} traces; pick one with --row N or a TRACE_ID from "
                            f"`promptwise traces list --run {args.run}`")
        trace = store.get_trace(rows[0]["trace_id"])
    document = trace_document(trace)
    if args.format == "json":
        print(json_text(document, indent=2))
    else:
        _print_trace(document)
    if store.keyring is not None and store.keyring.unreadable:
        print(f"note: {store.keyring.unreadable} encrypted value(s) of this trace are not shown: "
              f"{store.keyring.missing()}", file=sys.stderr)
    return 0


def _why_no_run_traces(workspace_path: str, run: str, *, windowed: bool) -> str:
    """For `traces list --run NAME` that found nothing: whether the run exists (then why it has no
    traces) or which stored run was meant."""
    import difflib

    from promptwise.store.run_store import RunStore

    workspace = workspace_or_error(workspace_path)
    names: list[str] = []
    if RunStore.exists_in(workspace.state_dir):
        with RunStore.for_workspace(workspace, readonly=True) as store:
            if store.get_run(run) is not None:
                if windowed:
                    return f"run {run} has no traces between --since and --until"
                return (f"run {run} has no traces: it ran with tracing off (`tracing: {{enabled: false}}`), or "
                        f"its traces are older than tracing.retention_days")
            names = [info.name for info in store.list_runs(limit=200)]
    close = difflib.get_close_matches(run, names, n=1, cutoff=0.6)
    return (f"no run named {run}" + (f"; did you mean {close[0]}?" if close else "") +
            " (see `promptwise runs list`)")


def _refuse_blank(args: argparse.Namespace, name: str, what: str, shown: str | None = None) -> None:
    """An empty filter (`--run ''`, a shell variable that was not set) matches nothing: said so,
    instead of "no traces yet" in a workspace full of them."""
    value = getattr(args, name, None)
    if value is not None and not value.strip():
        raise UserError(f"{shown or '--' + name} is empty; give {what}")


def _rekey(workspace_path: str) -> int:
    """Reseal the store's content under the current key (tracing/store.py SpanStore.reseal)."""
    from promptwise.config import ConfigError
    from promptwise.tracing.settings import store_keyring, tracing_settings
    from promptwise.tracing.store import SpanStore, store_path

    existing_folder("--workspace", workspace_path)
    workspace = workspace_or_error(workspace_path)
    try:
        if tracing_settings(workspace).encrypt is None:
            raise UserError(f"{workspace.source or workspace.root}: no `tracing.encrypt.key` in the settings: set it "
                            "to ${env:NAME} (the variable holding a random key of 32+ characters), then rekey")
        keyring = store_keyring(workspace, strict=True)
    except ConfigError as error:
        raise UserError(str(error)) from None
    if not store_path(workspace.root).is_file():
        print("no traces in this workspace yet: nothing to seal")
        return 0
    import sqlite3

    store = SpanStore.for_workspace(workspace.root, keyring=keyring)
    try:
        counts = store.reseal()
    except sqlite3.OperationalError as error:  # busy (a server writing), or a full disk: what is done is kept
        raise UserError(f"{store.path}: resealing stopped ({error}); the spans resealed so far are kept. Stop "
                        f"`promptwise serve` and other writers of this workspace (or free disk space: the file is "
                        f"rewritten, which needs as much again), then run `promptwise traces rekey` again") from None
    finally:
        store.close()
    print(f"{counts['resealed']} value(s) resealed under key {keyring.current.id} in {counts['spans']} span(s) of "
          f"{store.path}; the file was rewritten (no page keeps the old bytes)")
    if not counts["wal_truncated"]:
        print(f"another process still reads {store.path.name} (a running `promptwise serve`?): its write-ahead log "
              f"keeps old pages until that process stops; run `promptwise traces rekey` again then", file=sys.stderr)
        return 1
    if counts["unreadable"]:
        print(f"{counts['unreadable']} value(s) left as they were: no key opens them ({keyring.missing()})",
              file=sys.stderr)
        return 1
    return 0


def _print_trace(document: dict) -> None:
    totals = document["totals"]
    print(f"trace {document['trace_id']}  {_what(document)}")
    print(f"  started {_local(document['start_ns'])} · {_ms(document['duration_ms'])} · {_status(document)} · "
          f"{totals['llm_calls']} model call{'s' if totals['llm_calls'] != 1 else ''} · "
          f"{format_tokens(totals['input_tokens'])} in / {format_tokens(totals['output_tokens'])} out tokens · "
          f"{_cost(totals['cost_usd'], totals['llm_calls'])}")
    if document.get("content_hash"):
        print(f"  flow content {document['content_hash']}")
    print()
    stack = [(root, "", True, True) for root in reversed(document["spans"])]
    while stack:
        span, prefix, last, top = stack.pop()
        branch = "" if top else ("└─ " if last else "├─ ")
        print(f"{prefix}{branch}{span['name']}  [{span['kind'] or 'span'}]  +{_ms(span['offset_ms'])}  "
              f"{_ms(span['duration_ms'])}{_span_figures(span)}")
        inner = prefix + ("" if top else ("   " if last else "│  "))
        for line in _span_details(span):
            print(f"{inner}{'│  ' if span['children'] else '   '}{line}")
        children = span["children"]
        for index in range(len(children) - 1, -1, -1):
            stack.append((children[index], inner, index == len(children) - 1, False))


def _span_figures(span: dict) -> str:
    parts = []
    if span["status"] == "error":
        parts.append(f"error {span['error_type'] or ''}".rstrip())
    if span["kind"] == "request":  # a served request: what its caller got, and the id it was answered with
        attributes = span.get("attributes") or {}
        if attributes.get("http.response.status_code") is not None:
            parts.append(f"HTTP {attributes['http.response.status_code']}")
        if attributes.get("promptwise.cancelled"):
            parts.append("cancelled: the client went away")
        if attributes.get("promptwise.request.id"):
            parts.append(f"request {attributes['promptwise.request.id']}")
    if span["kind"] == "llm":
        if span.get("model"):
            parts.append(span["model"])
        parts.append(f"{format_tokens(span['input_tokens'] or 0)}→{format_tokens(span['output_tokens'] or 0)} tok")
        if span.get("cost_usd") is not None:
            parts.append(format_usd(span["cost_usd"]))
        if span.get("cache_hit"):
            parts.append("cache hit")
        if (span.get("attributes") or {}).get("promptwise.usage.estimated"):
            parts.append("tokens estimated: cut before the endpoint's usage")
        if (span.get("attempts") or 0) > 1:
            parts.append(f"{span['attempts']} attempts")
    return ("  " + " · ".join(parts)) if parts else ""


def _span_details(span: dict) -> list[str]:
    from promptwise.tracing.view import message_text

    lines = []
    if span["status"] == "error" and span.get("error_message"):
        lines.append(f"! {_one_line(span['error_message'])}")
    content = span["content"]
    for key, arrow in (("input_messages", ">"), ("output_messages", "<")):
        if isinstance(content.get(key), str):  # clipped text, or an encrypted value's placeholder (no key)
            lines.append(f"{arrow} {_one_line(content[key])}")
        for message in content.get(key) or [] if isinstance(content.get(key), list) else []:
            if isinstance(message, dict):
                lines.append(f"{arrow} {message.get('role', '?')}: {_one_line(message_text(message))}")
    if span["kind"] in ("function", "flow", "evaluation") and "output" in content:
        lines.append(f"= {_one_line(json.dumps(content['output'], ensure_ascii=False, default=str))}")
    if span["kind"] == "feedback" and "feedback" in span["attributes"]:  # POST /feedback's body (serving/feedback.py)
        lines.append(f"feedback: {_one_line(span['attributes']['feedback'])}")
    return lines


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def _what(document: dict) -> str:
    parts = [document.get("name") or "?"]
    if document.get("run_id"):
        row = document.get("row_index")
        parts.append(f"run {document['run_id']}" + (f" row {row}" if row is not None else ""))
    if document.get("version"):  # spelt as the server's header and `monitor` spell it
        from promptwise.documents.version_label import version_label

        parts.append(f"version {version_label(document['version'])}")
    if document.get("consumer"):
        parts.append(f"consumer {document['consumer']}")
    return " · ".join(parts)


def _status(document: dict) -> str:
    """The root span's OpenTelemetry status as `--format json` gives it (unset | ok | error): a
    flow that did not fail is "unset" (nothing set it ok), so text and JSON never disagree; "-"
    while the trace's root span is not stored yet."""
    return document.get("status") or "-"


def _cost(value: float | None, calls: int) -> str:
    if value is None:
        return "unknown" if calls else "-"
    return format_usd(value)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _local(ns: int | None) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S") if ns else "-"


def _flow_filter(flow: str | None) -> str | None:
    """A flow's name as traces record it, or its flow file's absolute path when FLOW is a path."""
    if flow is None:
        return None
    path = Path(flow)
    if path.is_dir():
        for name in _FLOW_FILES:
            if (path / name).is_file():
                return str((path / name).resolve())
        return path.resolve().name
    if path.is_file():
        return str(path.resolve())
    return flow


_UNIT_WORDS = re.compile(r"^(\d+(?:\.\d+)?)\s*(sec|second|min|minute|hr|hour|day|week)s?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DAYS_BACK = {"today": 0, "yesterday": 1}


def parse_when(text: str | None, option: str, now: float) -> int | None:
    """Unix nanoseconds for a --since/--until value; UserError otherwise. What users type: an age
    (15m, 2h, 7d, `2 hours`, `90 minutes ago`), a date or time (2026-12-07, 2026-12-07T14:30,
    ...Z or +01:00), a time today (14:30), `today` / `yesterday` (local midnight) or `now`."""
    if text is None:
        return None
    from promptwise.monitoring.windows import duration_seconds  # the one grammar for ages and windows

    value = text.strip()
    spoken = " ".join(value.lower().split()).removesuffix(" ago").removesuffix("ago").strip()
    words = _UNIT_WORDS.match(spoken)
    age = duration_seconds(f"{words.group(1)}{words.group(2)[0]}" if words else spoken)
    if age is not None:
        return int((now - age) * 1e9)
    if spoken == "now":
        return int(now * 1e9)
    if spoken in _DAYS_BACK:
        midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
        return int((midnight - timedelta(days=_DAYS_BACK[spoken])).timestamp() * 1e9)
    clock = _CLOCK.match(value)
    try:
        if clock:  # a time of day: today's, local
            hour, minute, second = (int(part or 0) for part in clock.groups())
            moment = datetime.fromtimestamp(now).replace(hour=hour, minute=minute, second=second, microsecond=0)
        else:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        return int(moment.timestamp() * 1e9)  # a naive time is local time, as `traces list` shows it
    except (ValueError, OverflowError, OSError):  # also a date the clock cannot hold (0001-01-01)
        raise UserError(f"{option} {text!r}: give an age (15m, 2h, 7d, 1w, `2 hours ago`), a date or time "
                        f"(2026-12-07, 2026-12-07T14:30, add Z for UTC), a time today (14:30), or today, "
                        f"yesterday, now") from None
