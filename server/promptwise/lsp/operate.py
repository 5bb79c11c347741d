"""The editor's Monitor view (issue 12 part 6): `promptwise.monitorView` {uri?, since?} ->
{status: "ok", html, flow, since, alerts} or {status: "error", error}.

- `html`: the monitor's own page (monitoring/report_html.py: inline SVG, no script, a strict
  CSP) with the figures per version, then per version and day (latency, cost, errors over
  time), and the drift summary when the flow has a baseline;
- `alerts`: the alert rules of promptwise.yaml evaluated now (`promptwise monitor --check`
  without delivery): each {rule, firing, message, trace_id}, `trace_id` the offending trace.

Everything is computed in the server's executor from the span store, read-only; the client
only shows the page and the notifications.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from promptwise.lsp import uris
from promptwise.lsp.server import PromptwiseServer

MONITOR_VIEW = "promptwise.monitorView"
DEFAULT_SINCE = "24h"


class MonitorError(Exception):
    """A request the view cannot answer; the message says what to do."""


def monitor_view(root: Path, flow_path: Path | None, since: str, now: float | None = None) -> dict:
    """In the executor: the view's answer for the workspace at `root` (one flow, or all)."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.lsp.monitor_lenses import traces_flow_name
    from promptwise.monitoring.aggregates import Selection, figures, totals
    from promptwise.monitoring.report_html import render_page
    from promptwise.monitoring.source import open_traces
    from promptwise.monitoring.windows import parse_duration

    seconds = parse_duration(since)
    if seconds is None:
        raise MonitorError(f"`since` must be a duration such as 1h, 24h or 7d, not {since!r}")
    try:
        workspace = load_workspace(root)
    except ConfigError as error:
        raise MonitorError(str(error)) from None
    flow = traces_flow_name(flow_path) if flow_path is not None else None
    now = now or time.time()
    selection = Selection(since_ns=int((now - seconds) * 1e9), flow=flow)
    connection = open_traces(workspace.root)
    try:
        groups = [] if connection is None else figures(connection, selection, by="version")
        daily = []
        for group in groups:  # one series per version: latency, cost and errors per day
            for day in figures(connection, Selection(since_ns=selection.since_ns, flow=group.flow,
                                                     version=group.key), by="day"):
                day.flow = f"{group.flow} {group.key}"
                daily.append(day)
        drift = _drift(connection, selection, flow_path) if flow_path is not None else None
        alerts = _alerts(connection, workspace)
    finally:
        if connection is not None:
            connection.close()
    window = {"since": since, "until": None}
    document = {"window": window, "by": "version", "flow": flow, "totals": totals(groups),
                "groups": [group.document() for group in groups]}
    if drift is not None:
        document["drift"] = drift
    html = render_page(document)
    if daily:
        by_day = render_page({"window": window, "by": "day", "flow": flow, "groups": [d.document() for d in daily]})
        body = by_day.split("</h1>", 1)[1].rsplit("</body>", 1)[0]
        html = html.replace("</body>", "<h1>Per version, per day</h1>" + body + "</body>", 1)
    return {"status": "ok", "html": html, "flow": flow, "since": since, "totals": document["totals"],
            "alerts": alerts}


def _drift(connection, selection, flow_path: Path) -> dict | None:
    """The flow's drift against its baseline, or None when it has no baseline (nothing to say)."""
    from promptwise.monitoring.drift import DriftError, drift_report

    try:
        return drift_report(connection, selection, flow_path=flow_path.parent if flow_path.is_file() else flow_path,
                            baseline=None).document()
    except DriftError:
        return None


def _alerts(connection, workspace) -> list[dict]:
    """The alert rules evaluated now, as `monitor --check` does (no webhook delivery; drift
    rules report no data here). A broken rules list is one alert saying where."""
    from promptwise.monitoring.alerts import AlertRuleError, evaluate, read_rules

    try:
        rules, _ = read_rules(workspace.settings, workspace.source)
    except AlertRuleError as error:
        return [{"rule": "(rules)", "firing": False, "message": str(error), "trace_id": None}]
    return [{"rule": result.rule.name, "firing": result.firing, "message": result.message(),
             "trace_id": result.traces[0] if result.traces else None}
            for result in evaluate(connection, rules)]


async def show_monitor(ls: PromptwiseServer, *args: Any) -> dict:
    from promptwise.config import find_workspace_root

    arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
    if arguments is None and args:
        raise JsonRpcInvalidParams(f"{MONITOR_VIEW} takes one object argument, e.g. {{\"uri\": \"file:///...\"}}")
    arguments = arguments or {}
    uri = arguments.get("uri")
    flow_path = uris.uri_to_path(uri) if isinstance(uri, str) and uri else None
    if flow_path is not None and uris.is_unsaved(flow_path):
        flow_path = None
    if flow_path is not None:
        root = find_workspace_root(flow_path)
    else:
        try:
            folder = ls.workspace.root_path
        except RuntimeError:
            folder = None
        root = find_workspace_root(Path(folder or "."))
    since = arguments.get("since") or DEFAULT_SINCE
    try:
        return await ls.run_cpu(monitor_view, root, flow_path, str(since))
    except MonitorError as error:
        return {"status": "error", "error": str(error)}
