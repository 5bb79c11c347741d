"""`promptwise monitor [FLOW]`: what served traffic and batch runs did, from the span store.

    promptwise monitor [FLOW] [--since 24h] [--until WHEN] [--by version|consumer|day|flow|consumer-day]
                       [--consumer NAME] [--version ID] [--format text|json|html] [--out FILE]
    promptwise monitor [FLOW] --drift [--baseline DATA.jsonl] [--since 24h]
    promptwise monitor --check            evaluate promptwise.yaml `alerts:`; exit 1 when one fires
    promptwise monitor --grafana-dashboard > dashboard.json   the Grafana dashboard for serve's /metrics

Requests, error rate, latency p50/p95/p99, time to first token (streams), tokens, cost and
cache hits per flow and version, consumer or UTC day.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from promptwise.cli import UserError
from promptwise.commands.options import display_path, existing_folder, json_text
from promptwise.costing.formatting import format_tokens, format_usd


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "monitor", help="requests, errors, latency, tokens and cost of served traffic and batches; drift; alerts",
        description="Figures over the workspace's traces (.promptwise/traces.sqlite) per flow and version, "
                    "consumer or day; input/output drift against the evaluation data; alert rules.")
    parser.add_argument("flow", nargs="?", metavar="FLOW", help="only this flow (its name, file or folder)")
    parser.add_argument("--since", default="24h", metavar="WHEN",
                        help="started at or after WHEN: an age (15m, 24h, 7d, '2 hours ago'), a date/time, a time "
                             "today (14:30), today or yesterday (default 24h)")
    parser.add_argument("--until", metavar="WHEN", help="started before WHEN")
    parser.add_argument("--by", choices=("version", "consumer", "day", "flow", "consumer-day"), default="version",
                        help="group per flow by this (default: version); consumer-day: each consumer's cost and "
                             "figures per UTC day (chargeback)")
    parser.add_argument("--consumer", metavar="NAME", help="only this consumer's requests")
    parser.add_argument("--version", dest="flow_version", metavar="ID",
                        help="only this version: its id (NAME:vN) or sha256: and 12 hex digits, as the server's "
                             "x-promptwise-version header names it (the full hash or a shorter prefix also do)")
    parser.add_argument("--exact", action="store_true",
                        help="exact percentiles from every request (by default a window of 50,000 requests or more "
                             "reads hourly rollups: percentiles within 1 %%, sums exact)")
    parser.add_argument("--format", choices=("text", "json", "html"), default="text")
    parser.add_argument("--out", metavar="FILE", help="write the report to FILE (required for --format html)")
    parser.add_argument("--metering", action="store_true",
                        help="each consumer's metered requests, tokens and cost per version (per UTC day with --by "
                             "consumer-day), from .promptwise/metering.sqlite: the chargeback record, kept for "
                             "requests served with --no-trace and beyond the traces' retention")
    parser.add_argument("--drift", action="store_true", help="input and output drift against a baseline")
    parser.add_argument("--baseline", metavar="DATA", help="a JSONL file of inputs to compare with (default: the "
                                                           "flow's evaluation data from eval.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="evaluate the alert rules of promptwise.yaml; exit 1 when any fires")
    parser.add_argument("--no-deliver", action="store_true", help="with --check: do not call the webhooks")
    parser.add_argument("--repost", action="store_true",
                        help="with --check: post every firing alert, also those already posted when they started "
                             "(by default an alert is posted once, until it clears)")
    parser.add_argument("--grafana-dashboard", action="store_true",
                        help="print the Grafana dashboard (JSON) for `promptwise serve`'s /metrics and exit; "
                             "import it in Grafana with a Prometheus data source that scrapes /metrics")
    parser.add_argument("--workspace", default=".", metavar="PATH", help="a folder inside the workspace (default: .)")
    parser.set_defaults(handler=handle, parser=parser)


def handle(args: argparse.Namespace) -> int:
    from promptwise.commands.traces import parse_when
    from promptwise.config import ConfigError, load_workspace

    if args.grafana_dashboard:
        from promptwise.monitoring.dashboards import grafana_dashboard_text

        _emit(grafana_dashboard_text().rstrip("\n"), args.out)
        return 0
    if args.check and args.format == "html":
        raise UserError("--check prints alerts as text or JSON (--format json); the HTML page is for figures")
    if args.format == "html" and not args.out:
        raise UserError("--format html writes a page: give --out FILE (e.g. --out monitor.html)")
    existing_folder("--workspace", args.workspace)
    try:
        workspace = load_workspace(Path(args.workspace))
    except ConfigError as error:
        raise UserError(str(error)) from None
    now = time.time()
    since = parse_when(args.since, "--since", now)
    until = parse_when(args.until, "--until", now)
    if since is not None and until is not None and since >= until:
        raise UserError(f"--since {args.since} is not before --until {args.until}; swap them")
    if args.metering:
        return _metering(workspace, args, since, until)
    flow_name, flow_path = _flow(args.flow)
    if args.check:
        return _check(workspace, args)
    from promptwise.monitoring.aggregates import Selection, figures, report_document, resolve_version
    from promptwise.monitoring.metric_drift import drift_options, online_with_drift
    from promptwise.monitoring.online_eval import daily_means
    from promptwise.monitoring.source import open_traces

    try:
        drift_settings = drift_options(workspace.settings, workspace.source)
    except ConfigError as error:
        raise UserError(str(error)) from None
    connection = open_traces(workspace.root)
    if connection is not None and args.flow_version is not None:
        try:  # a hash prefix names the one version it starts (the rows below then agree)
            args.flow_version = resolve_version(connection, args.flow_version)
        except ValueError as error:
            connection.close()
            raise UserError(str(error)) from None
    selection = Selection(since_ns=since, until_ns=until, flow=flow_name, version=args.flow_version,
                          consumer=args.consumer)
    try:
        groups = [] if connection is None else figures(connection, selection, by=args.by, exact=args.exact)
        drift = _drift(connection, args, flow_name, flow_path, selection) if args.drift else None
        online = online_with_drift(connection, workspace.state_dir, since, until, flow=flow_name,
                                   version=args.flow_version, options=drift_settings)
        online_daily = (daily_means(connection, since, until, flow=flow_name, version=args.flow_version)
                        if online else [])
    finally:
        if connection is not None:
            connection.close()
    window = {"since": args.since, "until": args.until, "since_ns": since, "until_ns": until}
    document = report_document(window, args.by, flow_name, groups, drift=drift, online=online,
                               online_daily=online_daily, drift_settings=drift_settings)
    if args.format == "json":
        _emit(json_text(document, indent=2), args.out)
    elif args.format == "html":
        from promptwise.monitoring.report_html import render_page

        _emit(render_page(document), args.out)
    else:
        _emit(_text(document, traced=connection is not None), args.out)
    return 0


def _metering(workspace, args: argparse.Namespace, since_ns: int | None, until_ns: int | None) -> int:
    """`--metering`: metering.sqlite summed per consumer and version (and UTC day)."""
    from promptwise.documents.version_label import version_label
    from promptwise.serving.metering import metered_usage

    refused = [name for name, given in (("FLOW", args.flow), ("--drift", args.drift), ("--check", args.check),
                                        ("--format html", args.format == "html")) if given]
    if refused:
        raise UserError(f"--metering sums each consumer's usage per version (metering.sqlite records no flow "
                        f"name); leave out {', '.join(refused)} (--version picks a version)")
    path = workspace.state_dir / "metering.sqlite"
    if not path.is_file():
        print(f"nothing metered yet: `promptwise serve` records each consumer's tokens and cost in "
              f"{display_path(str(path))}")
        return 0
    import sqlite3

    try:
        rows = metered_usage(path, since_s=None if since_ns is None else since_ns / 1e9,
                             until_s=None if until_ns is None else until_ns / 1e9, consumer=args.consumer,
                             per_day=args.by == "consumer-day")
    except sqlite3.DatabaseError as error:  # damaged, not SQLite, or not readable
        raise UserError(f"{display_path(str(path))} cannot be read ({error}); it is the metering record "
                        f"`promptwise serve` writes: restore it from a backup, or move it away to start anew") from None
    if args.flow_version:
        rows = [row for row in rows if version_label(row["version"]) == args.flow_version
                or row["version"].startswith(args.flow_version)]
    for row in rows:
        row["version"] = version_label(row["version"])
    if args.format == "json":
        document = {"since": args.since, "until": args.until, "source": str(path), "rows": rows}
        _emit(json_text(document, indent=2), args.out)
        return 0
    _emit(_metering_text(rows, args, display_path(str(path))), args.out)
    return 0


def _metering_text(rows: list[dict], args: argparse.Namespace, source: str) -> str:
    span = f"since {args.since}" + (f" until {args.until}" if args.until else "")
    if not rows:
        return f"nothing metered {span}" + (f" for consumer {args.consumer}" if args.consumer else "")
    per_day = args.by == "consumer-day"
    table = [(["DAY"] if per_day else []) + ["CONSUMER", "VERSION", "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "COST"]]
    for row in rows:
        cost = "unknown" if row["cost_usd"] is None else format_usd(row["cost_usd"])
        table.append(([row["day"]] if per_day else []) + [
            row["consumer"], row["version"], format_tokens(row["requests"]), format_tokens(row["errors"]),
            format_tokens(row["input_tokens"]), format_tokens(row["output_tokens"]), cost])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    left = 3 if per_day else 2  # text columns; the figures are right-aligned
    lines = [f"metered usage {span}, per consumer and version{' and UTC day' if per_day else ''} ({source})", ""]
    lines += ["  ".join(cell.ljust(widths[i]) if i < left else cell.rjust(widths[i]) for i, cell in enumerate(line))
              .rstrip() for line in table]
    priced = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    lines += ["", f"total: {format_tokens(sum(r['requests'] for r in rows))} requests, "
                  f"{format_tokens(sum(r['errors'] for r in rows))} errors, "
                  f"{format_tokens(sum(r['input_tokens'] for r in rows))} input + "
                  f"{format_tokens(sum(r['output_tokens'] for r in rows))} output tokens, "
                  f"{format_usd(sum(priced)) if priced else 'cost unknown'}"]
    return "\n".join(lines)


def _flow(flow: str | None) -> tuple[str | None, Path | None]:
    """The flow's name as traces record it (its folder's or file's name) and its path if it is one."""
    if flow is None:
        return None, None
    path = Path(flow)
    if path.exists():
        resolved = path.resolve()
        name = resolved.name if resolved.is_dir() else (
            resolved.parent.name if resolved.name.startswith("flow.") else resolved.stem)
        return name, resolved
    return flow, None


def _drift(connection, args, flow_name, flow_path, selection) -> dict:
    from promptwise.monitoring.drift import DriftError, drift_report

    if flow_name is None:
        raise UserError("--drift compares one flow's traffic with its baseline: name the FLOW")
    try:
        return drift_report(connection, selection, flow_path=flow_path,
                            baseline=Path(args.baseline) if args.baseline else None).document()
    except DriftError as error:
        raise UserError(str(error)) from None


def _emit(text: str, out: str | None) -> None:
    if out is None:
        print(text)
        return
    try:
        Path(out).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}") from None
    print(f"wrote {display_path(out)}")


def _ms(value) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _text(document: dict, *, traced: bool) -> str:
    groups = document["groups"]
    window = document["window"]
    span = f"since {window['since']}" + (f" until {window['until']}" if window["until"] else "")
    if not groups:
        if not traced:
            return ("no traces yet: `promptwise serve`, `run`, `batch` and `eval` record them (requests served "
                    "with --no-trace are metered: `promptwise monitor --metering`)")
        return f"no traffic {span}" + (f" for flow {document['flow']}" if document["flow"] else "")
    by = document["by"]
    lines = [f"traffic {span}, per flow and {by}", ""]
    width = min(40, max(14, *(len(group["key"]) for group in groups)))  # "billing 2026-12-07" stays whole
    header = (f"{'FLOW':<20} {by.upper():<{width}} {'REQUESTS':>8} {'ERRORS':>7} {'P50':>8} {'P95':>8} {'P99':>8} "
              f"{'TTFT P95':>8} {'TOKENS':>8} {'COST':>10} {'CACHE':>6}")
    lines.append(header)
    for group in groups:
        ttft = group["time_to_first_token_ms"].get("p95") if group["streams"] else None
        lines.append(
            f"{group['flow'][:20]:<20} {group['key'][:width]:<{width}} {group['requests']:>8,} "
            f"{group['error_rate'] * 100:>6.1f}% {_ms(group['latency_ms'].get('p50')):>8} "
            f"{_ms(group['latency_ms'].get('p95')):>8} {_ms(group['latency_ms'].get('p99')):>8} {_ms(ttft):>8} "
            f"{format_tokens(group['input_tokens'] + group['output_tokens']):>8} "
            f"{_cost(group['cost_usd']):>10} {group['cache_hit_rate'] * 100:>5.0f}%")
    total = document["totals"]
    lines += ["", f"total: {total['requests']:,} requests, {total['error_rate'] * 100:.1f}% errors, "
                  f"{format_tokens(total['input_tokens'])} input + {format_tokens(total['output_tokens'])} output "
                  f"tokens, {_cost(total['cost_usd'])}, {total['cache_hits']:,} of {total['llm_calls']:,} model calls "
                  f"from the cache"]
    error = max(group.get("percentile_error", 0.0) for group in groups)
    if error:
        lines.append(f"percentiles from hourly rollups: within {error * 100:.1f}% of the exact values (--exact reads "
                     f"every request)")
    if document.get("online_eval"):
        drift = document["metric_drift"]
        lines += ["", "online evaluation per version (offline: the newest evaluation of the same flow content; "
                      f"DRIFT: online worse by {drift['tolerance']:g} or more, one-sided Welch p < "
                      f"{drift['significance']:g})",
                  f"{'VERSION':<20} {'EVALUATOR':<18} {'ONLINE':>7} {'OFFLINE':>7} {'ROWS':>7} {'ERRORS':>6} "
                  f"{'DROP':>7} {'P':>8}  DRIFT"]
        for group in document["online_eval"]:
            drift = group.get("drift") or {}
            p_value = drift.get("p_value")
            lines.append(f"{(group['version'] or '-')[:20]:<20} {group['evaluator'][:18]:<18} "
                         f"{_score(group['mean']):>7} {_score(group['offline']):>7} {group['rows']:>7,} "
                         f"{group['errors']:>6,} {_score(drift.get('drop')):>7} "
                         f"{'-' if p_value is None else f'{p_value:.2g}':>8}  {drift.get('level', '-')}")
    if document.get("drift"):
        from promptwise.monitoring.drift import drift_text

        lines += ["", drift_text(document["drift"])]
    return "\n".join(lines)


def _score(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cost(value) -> str:
    return "-" if value is None else format_usd(value)


def _check(workspace, args) -> int:
    """Evaluate the alert rules; print each; post firing ones to their webhook; 1 when any fires."""
    from promptwise.monitoring.alerts import AlertRuleError, drift_scorer, evaluate, read_rules
    from promptwise.monitoring.source import open_traces
    from promptwise.monitoring.webhook import WebhookSender, payload

    try:
        rules, default_hook = read_rules(workspace.settings, workspace.source)
    except AlertRuleError as error:
        raise UserError(str(error)) from None
    if not rules:
        where = display_path(workspace.source) if workspace.source else "promptwise.yaml"
        print(f"no alert rules: add an `alerts:` list to {where} (name, flow, metric, above/below, window)")
        return 0
    connection = open_traces(workspace.root)
    try:
        warn = lambda text: print(f"warning: {text}", file=sys.stderr)  # noqa: E731
        results = evaluate(connection, rules, drift_score=drift_scorer(connection, workspace.root, warn),
                           state_dir=workspace.state_dir)
    finally:
        if connection is not None:
            connection.close()
    firing = [result for result in results if result.firing]
    if args.format == "json":
        _emit(json_text({"firing": len(firing), "alerts": [r.document() for r in results]}, indent=2), args.out)
    else:
        _emit("\n".join(result.message() for result in results), args.out)
    to_post = firing if args.repost or args.no_deliver else _started_firing(workspace, results)
    if to_post and not args.no_deliver:
        import logging

        # The sender also logs each failure (for `serve`); here each is said once, after the flush.
        logging.getLogger("promptwise.monitoring.webhook").setLevel(logging.ERROR)
        sender = None
        by_hook: dict[str, list[str]] = {}
        for result in to_post:
            hook = result.rule.webhook or default_hook
            if hook:
                by_hook.setdefault(hook, []).append(result.message().removeprefix("FIRING  "))
        for hook, lines in by_hook.items():
            sender = sender or WebhookSender()
            sender.send(hook, payload(f"Promptwise: {len(lines)} alert{'s' if len(lines) > 1 else ''} firing", lines))
        if sender is not None:
            sender.flush(timeout_s=30.0)
            for problem in sender.failed:
                print(f"warning: {problem}", file=sys.stderr)
    return 1 if firing else 0


def _started_firing(workspace, results) -> list:
    """The firing alerts not posted yet: the shared state of `promptwise serve`'s alert loop
    (.promptwise/alerts.sqlite) remembers what fired, so a cron job posts an alert when it
    starts, not at every run. Without a writable state the check posts every firing alert."""
    import sqlite3

    from promptwise.monitoring.background import STATE_FILE, AlertState

    state = AlertState(workspace.state_dir / STATE_FILE, ttl_s=0)
    firing = [result for result in results if result.firing]
    if not firing and not state.path.exists():
        return []  # nothing fires and nothing was posted: no state file to write
    try:
        posted = state.firing()
        state.update([r.rule.name for r in firing if r.rule.name not in posted],
                     [r.rule.name for r in results if not r.firing and r.rule.name in posted])
    except (sqlite3.Error, OSError) as error:
        print(f"warning: cannot remember posted alerts in {display_path(state.path)} ({error}); posting every "
              f"firing alert", file=sys.stderr)
        return firing
    return [result for result in firing if result.rule.name not in posted]
