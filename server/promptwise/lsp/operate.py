"""The editor's Monitor view (issue 12 part 6): `promptwise.monitorView` {uri?, since?} ->
{status: "ok", html, flow, since, alerts} or {status: "error", error}.

- `html`: the monitor's own page (monitoring/report_html.py: inline SVG, no script, a strict
  CSP) with the figures per version, then per version and day (latency, cost, errors over
  time), the drift summary when the flow has a baseline, and the online evaluation scores
  per version beside the offline evaluation (with metric drift);
- `alerts`: the alert rules of promptwise.yaml evaluated now (`promptwise monitor --check`
  without delivery): each {rule, firing, message, trace_id}, `trace_id` the offending trace.

`promptwise.alerts` {uri?} -> {status, rules, alerts}: the alerts alone, which the client asks
for every few minutes to notify the rules that start firing.

Everything is computed in the server's executor from the span store, read-only; the client
only shows the page and the notifications.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from promptwise.lsp import uris
from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.operate")
MONITOR_VIEW = "promptwise.monitorView"
DEFAULT_SINCE = "24h"


class MonitorError(Exception):
    """A request the view cannot answer; the message says what to do."""


def monitor_view(root: Path, flow_path: Path | None, since: str, now: float | None = None) -> dict:
    """In the executor: the view's answer for the workspace at `root` (one flow, or all)."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.lsp.monitor_lenses import traces_flow_name
    from promptwise.monitoring.aggregates import Selection, figures, report_document
    from promptwise.monitoring.metric_drift import drift_options, online_with_drift
    from promptwise.monitoring.online_eval import daily_means
    from promptwise.monitoring.report_html import render_page
    from promptwise.monitoring.source import open_traces
    from promptwise.monitoring.windows import parse_duration

    seconds = parse_duration(since)
    if seconds is None:
        raise MonitorError(f"`since` must be a duration such as 1h, 24h or 7d, not {since!r}")
    try:
        workspace = load_workspace(root)
        drift_settings = drift_options(workspace.settings, workspace.source)
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
        online = online_with_drift(connection, workspace.state_dir, selection.since_ns, None, flow=flow,
                                   options=drift_settings)
        online_daily = daily_means(connection, selection.since_ns, flow=flow) if online else []
        alerts = _alerts(connection, workspace)
    finally:
        if connection is not None:
            connection.close()
    window = {"since": since, "until": None}
    document = report_document(window, "version", flow, groups, drift=drift, online=online,
                               online_daily=online_daily, drift_settings=drift_settings)
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
    """The alert rules evaluated now, as `monitor --check` does (no webhook delivery). A broken
    rules list is one alert saying where."""
    from promptwise.monitoring.alerts import AlertRuleError, drift_scorer, evaluate, read_rules

    try:
        rules, _ = read_rules(workspace.settings, workspace.source)
    except AlertRuleError as error:
        return [{"rule": "(rules)", "firing": False, "message": str(error), "trace_id": None}]
    return [{"rule": result.rule.name, "firing": result.firing, "message": result.message(),
             "trace_id": result.traces[0] if result.traces else None}
            for result in evaluate(connection, rules, state_dir=workspace.state_dir,
                                   drift_score=drift_scorer(connection, workspace.root, logger.debug))]


def _flow_path(arguments: dict) -> Path | None:
    """The flow the arguments' `uri` names; None for none or an unsaved document."""
    uri = arguments.get("uri")
    path = uris.uri_to_path(uri) if isinstance(uri, str) and uri else None
    return None if path is None or uris.is_unsaved(path) else path


def _workspace_root(ls: PromptwiseServer, flow_path: Path | None) -> Path:
    """The flow's workspace, else the editor's folder's."""
    from promptwise.config import find_workspace_root

    if flow_path is not None:
        return find_workspace_root(flow_path)
    try:
        folder = ls.workspace.root_path
    except RuntimeError:
        folder = None
    return find_workspace_root(Path(folder or "."))


async def show_monitor(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
    if arguments is None and args:
        raise JsonRpcInvalidParams(f"{MONITOR_VIEW} takes one object argument, e.g. {{\"uri\": \"file:///...\"}}")
    arguments = arguments or {}
    flow_path = _flow_path(arguments)
    root = _workspace_root(ls, flow_path)
    since = arguments.get("since") or DEFAULT_SINCE
    try:
        return await ls.run_cpu(monitor_view, root, flow_path, str(since))
    except MonitorError as error:
        return {"status": "error", "error": str(error)}


# --- alerts for the editor's notifications ---------------------------------------------------

ALERTS = "promptwise.alerts"


def alerts_now(root: Path) -> dict:
    """In the executor: the workspace's alert rules evaluated now (no delivery), for the client's
    periodic check: {status: "ok", rules: N, alerts: [{rule, firing, message, trace_id}]}."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.monitoring.source import open_traces

    try:
        workspace = load_workspace(root)
    except ConfigError as error:
        raise MonitorError(str(error)) from None
    if not workspace.settings.get("alerts"):
        return {"status": "ok", "rules": 0, "alerts": []}
    connection = open_traces(workspace.root)
    try:
        alerts = _alerts(connection, workspace)
    finally:
        if connection is not None:
            connection.close()
    return {"status": "ok", "rules": len(alerts), "alerts": alerts}


async def check_alerts(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
    root = _workspace_root(ls, _flow_path(arguments))
    try:
        return await ls.run_cpu(alerts_now, root)
    except MonitorError as error:
        return {"status": "error", "error": str(error)}


# --- the Deployments view --------------------------------------------------------------------

DEPLOYMENTS = "promptwise.deployments"


def deployments(root: Path, now: float | None = None) -> dict:
    """In the executor: every registered flow of the workspace at `root`, newest version first,
    each version with where it runs (audit log), its rollout weight, its live figures of the last
    24 h (monitoring aggregates) and its latest evaluation's headline metrics.

    {status: "ok", flows: [{name, source, versions: [{version, number, created_at, created_by,
     targets: [..], weight, live: {requests, p95_ms, error_rate, cost_usd} | None, metrics: {..},
     evaluation}]}]}"""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.deploy import audit, rollout
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.registry import Registry
    from promptwise.deploy.service import evidence
    from promptwise.monitoring.aggregates import Selection, figures
    from promptwise.monitoring.source import open_traces

    try:
        workspace = load_workspace(root)
        registry = Registry.existing(workspace)  # a team database: its URL's password never reaches the client
    except (ConfigError, DeployError) as error:
        raise MonitorError(str(error)) from None
    if registry is None:
        return {"status": "ok", "flows": [], "registry": str(workspace.state_dir)}
    now = now or time.time()
    live: dict[str, dict] = {}
    connection = open_traces(workspace.root)
    if connection is not None:
        try:
            for group in figures(connection, Selection(since_ns=int((now - 86400) * 1e9)), by="version"):
                live[group.key] = {"requests": group.requests, "p95_ms": group.latency_ms.get("p95"),
                                   "error_rate": round(group.error_rate, 6), "cost_usd": group.cost_usd}
        finally:
            connection.close()
    flows: dict[str, dict] = {}
    with registry:
        versions = registry.list()
        for name in dict.fromkeys(version.name for version in versions):
            targets: dict[str, str] = {}
            for entry in audit.entries(registry.database, name=name):
                if entry.outcome == "ok" and entry.target and entry.to_version and entry.action in (
                        "deploy", "promote", "rollback"):
                    targets[entry.target] = entry.to_version
            try:
                # the state file, or the team database's (through the registry's connection)
                weights = (rollout.read(rollout.state_for(workspace, name, registry))["current"] or {}).get("weights") or {}
            except DeployError:  # a damaged state: the view still lists the versions
                weights = {}
            flows[name] = {"name": name, "targets": targets, "weights": weights, "versions": []}
        for version in versions:
            flow = flows[version.name]
            flow.setdefault("source", version.source)  # the newest version's flow path: the CLI's FLOW
            try:
                found = evidence(version, workspace.state_dir, limit=1)["evaluations"]
            except Exception:  # an unreadable run store: no metrics, the rest still shows
                found = []
            flow["versions"].append({
                "version": version.id, "number": version.number, "created_at": version.created_at,
                "created_by": version.created_by,
                "targets": sorted(t for t, v in flow["targets"].items() if v == version.id),
                "weight": flow["weights"].get(version.id),
                "live": live.get(version.id),
                "metrics": found[0]["metrics"] if found else {},
                "evaluation": found[0]["evaluation"] if found else None,
            })
    return {"status": "ok", "registry": registry.location,
            "flows": [{key: flow[key] for key in ("name", "source", "versions")} for flow in flows.values()]}


async def list_deployments(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
    try:
        return await ls.run_cpu(deployments, _workspace_root(ls, _flow_path(arguments)))
    except MonitorError as error:
        return {"status": "error", "error": str(error)}
