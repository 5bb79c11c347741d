"""The shipped Grafana dashboard reads only what a real `promptwise serve` exports on /metrics:
every metric name and label its queries and variables use is checked against the exposition of
a served flow (one answered, one refused and one streamed request, scored online), so the dashboard cannot drift from
serving/metrics.py."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.monitoring.dashboards import GRAFANA_DASHBOARD

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace  # noqa: E402

_METRIC = re.compile(r"\b(promptwise_[a-z0-9_]+)\b(\{[^}]*\})?")
_BY = re.compile(r"\bby\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
_VARIABLE = re.compile(r"\$(?:\{)?([a-z_]+)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, set[str]]:
    """Sample name -> label names, from the /metrics of a real server after traffic."""
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path_factory.mktemp("served"), fake.base_url, ECHO_PROMPTY)
        with (root / "promptwise.yaml").open("a", encoding="utf-8") as settings:  # online scores on /metrics too
            settings.write("monitoring:\n  online_eval:\n    evaluators: [pii]\n    sample_rate: 1.0\n")
        process = ServeProcess(root / "echo.prompty")
        try:
            assert httpx.post(process.url + "/score", json={"question": "hi"}, timeout=30).status_code == 200
            assert httpx.post(process.url + "/score", json={}, timeout=30).status_code == 422
            with httpx.stream("POST", process.url + "/score", json={"question": "stream it"},
                              headers={"Accept": "text/event-stream"}, timeout=30) as streamed:
                assert streamed.status_code == 200 and streamed.read().count(b"data: ") > 1  # in pieces
            deadline = time.monotonic() + 60  # the online evaluation scores in the background
            while True:
                text = httpx.get(process.url + "/metrics", timeout=30).text
                if "promptwise_online_score_count" in text or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            process.stop()
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def _dashboard() -> dict:
    return json.loads(GRAFANA_DASHBOARD.read_text(encoding="utf-8"))


def _queries(dashboard: dict) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return exprs


def test_every_metric_and_label_the_dashboard_reads_is_exported_by_serve(exported):
    queries = _queries(_dashboard())
    used = set()
    for expr in queries:
        metrics = _METRIC.findall(expr)
        assert metrics, f"no promptwise metric in {expr!r}"
        for name, matchers in metrics:
            used.add(name)
            assert name in exported, f"{name} (in {expr!r}) is not on /metrics; exported: {sorted(exported)}"
            for label in _MATCHER.findall(matchers):
                assert label in exported[name], f"{name} has no label {label!r} (in {expr!r})"
        labels_of_query = set().union(*(exported[name] for name, _ in metrics))
        for group in _BY.findall(expr):
            for label in filter(None, (part.strip() for part in group.split(","))):
                assert label == "le" or label in labels_of_query, f"`by ({group})` names no label of {expr!r}"
        for name, label in re.findall(r"label_values\((\w+),\s*(\w+)\)", expr):
            assert label in exported[name]
    # the figures a serving dashboard is for: traffic, errors, latency, tokens, cost
    assert {"promptwise_requests_total", "promptwise_errors_total", "promptwise_request_latency_seconds_bucket",
            "promptwise_tokens_total", "promptwise_cost_usd_total",
            "promptwise_time_to_first_token_seconds_bucket", "promptwise_online_score_sum",
            "promptwise_online_scores_total"} <= used


def test_the_dashboard_is_importable_grafana_json():
    dashboard = _dashboard()
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "version", "consumer"} <= defined
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24  # Grafana's grid is 24 wide
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            for variable in _VARIABLE.findall(target["expr"]):
                assert variable.startswith("__") or variable in defined, f"${variable} is not a dashboard variable"


def test_monitor_prints_the_dashboard(capsys, tmp_path):
    assert main(["monitor", "--grafana-dashboard"]) == 0
    assert json.loads(capsys.readouterr().out) == _dashboard()
    out = tmp_path / "dashboard.json"
    assert main(["monitor", "--grafana-dashboard", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["uid"] == "promptwise-serving"
