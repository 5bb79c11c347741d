"""The editor's Monitor view data (lsp/operate.py `promptwise.monitorView`): the monitor's own
HTML page per version and per version and day, and the alert rules evaluated now with the
offending trace; over a real span store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptwise.lsp.operate import MonitorError, monitor_view

FLOW = "inputs: {q: {type: string}}\noutputs: {a: {type: string, reference: '${inputs.q}'}}\nnodes: []\n"
RULES = ("alerts:\n"
         "  - {name: triage-errors, flow: triage, metric: error_rate, above: 0.2, window: 1h}\n"
         "  - {name: slow, flow: triage, metric: latency_p95_ms, above: 5000, window: 1h}\n")


@pytest.fixture
def flow(workspace) -> tuple[Path, callable]:
    root, write = workspace
    (root / "promptwise.yaml").write_text(RULES, encoding="utf-8")
    (root / "triage").mkdir()
    path = root / "triage" / "flow.dag.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path, write


def test_figures_per_version_and_day_and_the_firing_alert(flow, request_spans):
    path, write = flow
    root = path.parent.parent
    write([request_spans(version="triage:v1", duration_ms=200, age_s=600),
           request_spans(version="triage:v2", duration_ms=900, age_s=60, status="error"),
           request_spans(version="triage:v2", duration_ms=700, age_s=30),
           request_spans(flow="other", version="other:v1", duration_ms=5, age_s=30)])
    view = monitor_view(root, path, "24h")
    assert view["status"] == "ok" and view["flow"] == "triage"
    assert view["totals"]["requests"] == 3  # the other flow is not counted
    html = view["html"]
    assert "default-src 'none'" in html and "<script" not in html
    assert "triage:v1" in html and "triage:v2" in html and "other:v1" not in html
    assert "Per version, per day" in html
    assert re.search(r"triage triage:v2 · \d{4}-\d{2}-\d{2}", html)  # a day bar of version v2
    alerts = {alert["rule"]: alert for alert in view["alerts"]}
    assert alerts["triage-errors"]["firing"] and alerts["triage-errors"]["trace_id"]
    assert alerts["triage-errors"]["message"].startswith("FIRING")
    assert not alerts["slow"]["firing"] and alerts["slow"]["trace_id"] is None


def test_the_alerts_alone_for_the_clients_periodic_check(flow, request_spans):
    from promptwise.lsp.operate import alerts_now

    path, write = flow
    root = path.parent.parent
    write([request_spans(flow="triage", status="error", age_s=60)])
    answer = alerts_now(root)
    assert answer["status"] == "ok" and answer["rules"] == 2
    firing = [alert for alert in answer["alerts"] if alert["firing"]]
    assert [alert["rule"] for alert in firing] == ["triage-errors"] and firing[0]["trace_id"]
    (root / "promptwise.yaml").write_text("alerts:\n  - {name: x, metric: nope, above: 1}\n", encoding="utf-8")
    [broken] = alerts_now(root)["alerts"]
    assert not broken["firing"] and "promptwise.yaml:2" in broken["message"]


def test_all_flows_without_a_uri_and_no_traces_yet(flow):
    path, _ = flow
    view = monitor_view(path.parent.parent, None, "1h")
    assert view["flow"] is None and view["totals"]["requests"] == 0
    assert "No traffic in this window." in view["html"]
    assert [alert["firing"] for alert in view["alerts"]] == [False, False]


def test_a_bad_window_is_refused(flow):
    path, _ = flow
    with pytest.raises(MonitorError, match="24h"):
        monitor_view(path.parent.parent, path, "yesterday")


def test_the_deployments_of_the_workspace(flow, request_spans):
    from promptwise.deploy import audit, rollout
    from promptwise.deploy.service import open_context, package
    from promptwise.lsp.operate import deployments

    path, write = flow
    root = path.parent.parent
    assert deployments(root)["flows"] == []  # nothing packaged yet
    context = open_context(root)
    try:
        first, _ = package(context, path.parent)
        path.write_text(FLOW.replace("string}}\nout", "string, default: hi}}\nout"), encoding="utf-8")
        second, _ = package(context, path.parent)
        audit.record(context.registry.database, "deploy", who="t", name="triage", to_version=first.id, target="docker")
        audit.record(context.registry.database, "deploy", who="t", name="triage", to_version=second.id,
                     target="kubernetes", outcome="failed")
        context.registry.database.commit()
    finally:
        context.close()
    rollout.replace_current(rollout.state_path(root / ".promptwise", "triage"),
                            {"weights": {first.id: 80, second.id: 20}})
    write([request_spans(version=second.id, duration_ms=400)])
    [listed] = deployments(root)["flows"]
    assert listed["name"] == "triage" and listed["source"] == str(path.parent)
    newest, oldest = listed["versions"]
    assert (newest["version"], oldest["version"]) == (second.id, first.id) == ("triage:v2", "triage:v1")
    assert oldest["targets"] == ["docker"] and newest["targets"] == []  # the failed deploy does not count
    assert (oldest["weight"], newest["weight"]) == (80, 20)
    assert newest["live"]["requests"] == 1 and newest["live"]["p95_ms"] == 400
    assert oldest["live"] is None and oldest["metrics"] == {}
