"""The monitor's HTML page: one self-contained file, inline SVG bar charts, no script.

A strict Content-Security-Policy (default-src 'none'; only inline styles) so the page loads
nothing from anywhere; every value from the traces (flow names, consumers) is escaped.
"""

from __future__ import annotations

from html import escape

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
.chart{margin:16px 0}.warn{color:#a60}.alert{color:#b00;font-weight:bold}.ok{color:#070}
"""
_BAR = 18
_LABEL_WIDTH = 220
_CHART_WIDTH = 420


def render_page(document: dict) -> str:
    groups = document["groups"]
    window = document["window"]
    title = "Promptwise monitor" + (f": {document['flow']}" if document.get("flow") else "")
    labels = [f"{g['flow']} · {g['key']}" for g in groups]
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Traffic since {escape(str(window['since']))}"
        + (f" until {escape(str(window['until']))}" if window.get("until") else "")
        + f", per flow and {escape(document['by'])}.</p>",
        _table(groups, document["by"]),
    ]
    if groups:
        parts += [
            _chart("Requests", labels, [g["requests"] for g in groups], lambda v: f"{v:,}"),
            _chart("Latency p95", labels, [g["latency_ms"].get("p95") for g in groups], _ms),
            _chart("Error rate", labels, [g["error_rate"] * 100 for g in groups], lambda v: f"{v:.1f}%"),
            _chart("Cost", labels, [g["cost_usd"] for g in groups], lambda v: f"${v:,.4f}"),
        ]
    if document.get("online_eval"):
        parts.append(_online(document["online_eval"], document.get("metric_drift") or {}))
    if document.get("online_daily"):
        daily = document["online_daily"]
        parts.append(_chart("Online mean score per version and day",
                            [f"{d.get('version') or '-'} · {d['evaluator']} · {d['day']}" for d in daily],
                            [d["mean"] for d in daily], lambda v: f"{v:.3f}"))
    if document.get("drift"):
        parts.append(_drift(document["drift"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _table(groups: list[dict], by: str) -> str:
    if not groups:
        return "<p>No traffic in this window.</p>"
    head = ("<tr><th>Flow</th><th>" + escape(by.capitalize()) + "</th><th>Requests</th><th>Errors</th>"
            "<th>p50</th><th>p95</th><th>p99</th><th>TTFT p95</th><th>Input tokens</th><th>Output tokens</th>"
            "<th>Cost</th><th>Cache hits</th></tr>")
    rows = []
    for g in groups:
        latency = g["latency_ms"]
        ttft = g["time_to_first_token_ms"].get("p95") if g["streams"] else None
        cells = [escape(g["flow"]), escape(g["key"]), f"{g['requests']:,}", f"{g['error_rate'] * 100:.1f}%",
                 *(_ms(latency[k]) if latency.get(k) is not None else "-" for k in ("p50", "p95", "p99")),
                 _ms(ttft) if ttft is not None else "-", f"{g['input_tokens']:,}", f"{g['output_tokens']:,}",
                 f"${g['cost_usd']:,.4f}" if g["cost_usd"] is not None else "-", f"{g['cache_hit_rate'] * 100:.0f}%"]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def _chart(title: str, labels: list[str], values: list, fmt) -> str:
    """A horizontal bar chart as inline SVG; a missing value draws no bar."""
    known = [v for v in values if v is not None]
    top = max(known) if known and max(known) > 0 else 1.0
    height = _BAR * len(labels) + 8
    width = _LABEL_WIDTH + _CHART_WIDTH + 110
    bars = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 4 + i * _BAR
        bars.append(f"<text x=\"{_LABEL_WIDTH - 6}\" y=\"{y + 13}\" text-anchor=\"end\" font-size=\"12\">"
                    f"{escape(label[:40])}</text>")
        if value is None:
            continue
        length = max(1.0, _CHART_WIDTH * value / top)
        bars.append(f"<rect x=\"{_LABEL_WIDTH}\" y=\"{y + 2}\" width=\"{length:.1f}\" height=\"{_BAR - 5}\" "
                    f"fill=\"#4a7bd0\"/><text x=\"{_LABEL_WIDTH + length + 4:.1f}\" y=\"{y + 13}\" "
                    f"font-size=\"12\">{escape(fmt(value))}</text>")
    return (f"<div class=\"chart\"><h2>{escape(title)}</h2><svg xmlns=\"http://www.w3.org/2000/svg\" "
            f"role=\"img\" aria-label=\"{escape(title)}\" width=\"{width}\" height=\"{height}\">"
            + "".join(bars) + "</svg></div>")


def _drift(drift: dict) -> str:
    rows = []
    for check in drift.get("checks", []):
        level = check["level"]
        score = f"{check['score']:.3f}" if check.get("score") is not None else "-"
        rows.append(f"<tr><td>{escape(check['feature'])}</td><td>{escape(check['statistic'])}</td>"
                    f"<td>{score}</td><td class=\"{escape(level)}\">{escape(level)}</td>"
                    f"<td>{escape(check.get('detail', ''))}</td></tr>")
    return (f"<h2>Drift</h2><p>{escape(drift.get('summary', ''))}</p><table><tr><th>Feature</th><th>Statistic</th>"
            f"<th>Score</th><th>Level</th><th>Detail</th></tr>" + "".join(rows) + "</table>")


def _score(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _online(groups: list[dict], thresholds: dict) -> str:
    """Online scores per version and evaluator beside the offline evaluation, with metric drift,
    and a chart of the online means."""
    rows = []
    for g in groups:
        drift = g.get("drift") or {}
        level = drift.get("level", "-")
        p_value = drift.get("p_value")
        css = "alert" if level == "drift" else "ok" if level == "ok" else ""
        cells = [escape(g.get("version") or "-"), escape(g["evaluator"]), _score(g.get("mean")), _score(g.get("offline")),
                 f"{g.get('rows', 0):,}", f"{g.get('errors', 0):,}", _score(drift.get("drop")),
                 "-" if p_value is None else f"{p_value:.2g}"]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells)
                    + f"<td class=\"{css}\">{escape(level)}</td></tr>")
    chart = _chart("Online mean score", [f"{g.get('version') or '-'} · {g['evaluator']}" for g in groups],
                   [g.get("mean") for g in groups], lambda v: f"{v:.3f}")
    from promptwise.monitoring.metric_drift import SIGNIFICANCE, TOLERANCE

    tolerance, significance = thresholds.get("tolerance", TOLERANCE), thresholds.get("significance", SIGNIFICANCE)
    return ("<h2>Online evaluation</h2><p>Scores of sampled live requests next to the newest offline evaluation of "
            f"the same flow content; drift: online worse by {tolerance:g} or more and a one-sided Welch p below "
            f"{significance:g}.</p>"
            "<table><tr><th>Version</th><th>Evaluator</th><th>Online</th><th>Offline</th><th>Rows</th><th>Errors</th>"
            "<th>Drop</th><th>p</th><th>Drift</th></tr>" + "".join(rows) + "</table>" + chart)
