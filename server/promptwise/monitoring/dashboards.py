"""The Grafana dashboard shipped for `promptwise serve`'s Prometheus /metrics endpoint.

`promptwise monitor --grafana-dashboard > promptwise-dashboard.json` prints it; import it in
Grafana (Dashboards > New > Import) and pick the Prometheus data source that scrapes /metrics.
tests/monitoring/test_grafana_dashboard.py checks that every metric its queries use is one a
real server exports, so the file cannot drift from serving/metrics.py.
"""

from __future__ import annotations

from pathlib import Path

GRAFANA_DASHBOARD = Path(__file__).with_name("grafana") / "promptwise-dashboard.json"


def grafana_dashboard_text() -> str:
    return GRAFANA_DASHBOARD.read_text(encoding="utf-8")
