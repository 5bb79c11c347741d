"""A self-contained HTML comparison report: the metrics table with deltas, the rows that changed
verdict, and inline SVG charts (each score's distribution per run; cost vs quality per run).

No scripts, fonts, stylesheets or images are fetched: the file opens offline and can be
attached to a CI job as is. Every text from the runs is escaped.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from promptwise.evaluation.compare import RUN_FIGURE_TYPES, Comparison
from promptwise.evaluation.report_text import fmt_figure, fmt_number
from promptwise.redaction import redact

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#111827;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f3f4f6}
.better{color:#15803d}.worse{color:#b91c1c}.same{color:#6b7280}.note{color:#6b7280;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.chart{border:1px solid #e5e7eb;padding:.5rem}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.pass{color:#15803d}.fail{color:#b91c1c}
"""


def _e(text: object) -> str:
    return html.escape(redact(str(text)), quote=True)  # reasons and errors can echo a key


def _delta(value: float | None, verdict: str, unit: str = "") -> str:
    if value is None:
        return ""
    return f' <span class="{verdict}">({fmt_figure(value, unit, signed=True)})</span>'


def _bins(values: list[float]) -> list[tuple[float, float]]:
    distinct = sorted(set(values))
    if len(distinct) <= 6 and all(float(v).is_integer() for v in distinct):
        return [(v, v) for v in distinct]  # discrete: 0/1 verdicts, 1-5 judge scores
    low, high = min(values), max(values)
    if math.isclose(low, high):
        return [(low, high)]
    width = (high - low) / 10
    return [(low + i * width, low + (i + 1) * width) for i in range(10)]


def _in_bin(value: float, bin_: tuple[float, float], last: bool) -> bool:
    low, high = bin_
    if low == high:
        return value == low
    return low <= value < high or (last and value == high)


def distribution_svg(title: str, series: list[tuple[str, list[float]]], width: int = 420, height: int = 220) -> str:
    values = [v for _, vs in series for v in vs]
    if not values:
        return ""
    bins = _bins(values)
    counts = [[sum(1 for v in vs if _in_bin(v, b, i == len(bins) - 1)) for i, b in enumerate(bins)] for _, vs in series]
    top = max(max(c) for c in counts) or 1
    left, bottom, plot_w, plot_h = 36, 36, width - 46, height - 66
    group_w = plot_w / len(bins)
    bar_w = max(2.0, (group_w - 6) / len(series))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#9ca3af"/>',
             f'<text x="{left - 6}" y="{height - bottom - plot_h + 4}" font-size="10" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{height - bottom}" font-size="10" text-anchor="end">0</text>']
    for b, bin_ in enumerate(bins):
        x0 = left + b * group_w + 3
        label = fmt_number(bin_[0], 2) if bin_[0] == bin_[1] else f"{fmt_number(bin_[0], 2)}"
        parts.append(f'<text x="{x0 + group_w / 2 - 3:.1f}" y="{height - bottom + 14}" font-size="10" '
                     f'text-anchor="middle">{_e(label)}</text>')
        for s, (label_s, _) in enumerate(series):
            count = counts[s][b]
            bar_h = plot_h * count / top
            x = x0 + s * bar_w
            y = height - bottom - bar_h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{bar_h:.1f}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{_e(label_s)}: {count}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(title: str, points: list[tuple[str, float, float]], x_label: str, y_label: str,
                width: int = 420, height: int = 240) -> str:
    if not points:
        return ""
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    pad_x = (x_high - x_low) * 0.1 or (abs(x_high) * 0.1 or 1e-6)
    pad_y = (y_high - y_low) * 0.1 or (abs(y_high) * 0.1 or 0.1)
    x_low, x_high, y_low, y_high = x_low - pad_x, x_high + pad_x, y_low - pad_y, y_high + pad_y
    left, bottom, right, top = 56, 40, 16, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d1d5db"/>',
             f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{_e(x_label)}</text>',
             f'<text x="12" y="{top + plot_h / 2}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 12 {top + plot_h / 2})">{_e(y_label)}</text>',
             f'<text x="{left}" y="{height - 22}" font-size="10">{_e(f"{x_low + pad_x:.3g}")}</text>',
             f'<text x="{left + plot_w}" y="{height - 22}" font-size="10" text-anchor="end">'
             f'{_e(f"{x_high - pad_x:.3g}")}</text>']
    for index, (label, x, y) in enumerate(points):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="{colour}">'
                     f'<title>{_e(label)}: cost {x:.3g}, {fmt_number(y)}</title></circle>')
        parts.append(f'<text x="{sx(x) + 8:.1f}" y="{sy(y) + 4:.1f}" font-size="10">{_e(fmt_number(y))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(comparison: Comparison, title: str = "Promptwise comparison") -> str:
    columns = comparison.columns
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_e(title)}</title><style>{CSS}</style></head><body>", f"<h1>{_e(title)}</h1>"]
    out.append('<p class="legend">' + "".join(
        f'<span><i class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(c.label)} '
        f'<span class="note">({_e(c.evaluation)})</span></span>' for i, c in enumerate(columns)) + "</p>")
    for note in comparison.notes:
        out.append(f'<p class="note">{_e(note)}</p>')
    # metrics table
    out.append("<h2>Metrics</h2><table><thead><tr><th>metric</th>"
               + "".join(f"<th>{_e(c.label)}</th>" for c in columns) + "</tr></thead><tbody>")
    for metric in comparison.metrics:
        cells = []
        for i, (value, delta, verdict) in enumerate(zip(metric.values, metric.deltas, metric.verdicts())):
            cells.append(f"<td>{_e(fmt_figure(value, metric.unit))}{_delta(delta, verdict, metric.unit) if i else ''}</td>")
        out.append(f"<tr><td>{_e(metric.metric)}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    # charts
    out.append("<h2>Score distributions</h2><div class='charts'>")
    evaluators = []
    for column in columns:
        for evaluator in column.evaluation_record.evaluators:
            if evaluator["name"] not in [e["name"] for e in evaluators]:
                evaluators.append(evaluator)
    for evaluator in evaluators:
        series = [(c.label, [row.scores[evaluator["name"]].value for row in c.rows
                             if evaluator["name"] in row.scores and row.scores[evaluator["name"]].value is not None])
                  for c in columns]
        svg = distribution_svg(f"{evaluator['name']} ({evaluator['type']})", series)
        if svg:
            out.append(f"<div class='chart'>{svg}</div>")
    out.append("</div><h2>Cost vs quality</h2><div class='charts'>")
    for evaluator in evaluators:
        if evaluator["type"] in RUN_FIGURE_TYPES:
            continue
        points = []
        for column in columns:
            cost = column.evaluation_record.summary.get("cost_per_row")
            mean = column.evaluation_record.metrics.get(evaluator["name"], {}).get("mean")
            if isinstance(cost, (int, float)) and isinstance(mean, (int, float)):
                points.append((column.label, float(cost), float(mean)))
        svg = scatter_svg(f"{evaluator['name']}: mean vs flow cost per row", points, "flow cost per row ($)",
                          f"{evaluator['name']} mean")
        if svg:
            out.append(f"<div class='chart'>{svg}</div>")
    out.append("</div>")
    # changed rows
    out.append(f"<h2>Rows that changed verdict ({len(comparison.changed)})</h2>")
    if comparison.changed:
        out.append("<table><thead><tr><th>row</th><th>evaluator</th>"
                   + "".join(f"<th>{_e(c.label)}</th>" for c in columns) + "</tr></thead><tbody>")
        for row in comparison.changed[:500]:
            where = f"{row.line}" + (f" (line {row.data_line})" if row.data_line else "")
            cells = []
            for passed, value, reason in zip(row.verdicts, row.values, row.reasons):
                css = "pass" if passed else ("fail" if passed is False else "same")
                word = "pass" if passed else ("fail" if passed is False else "n/a")
                cells.append(f'<td class="{css}" title="{_e(reason)}">{word} {_e(fmt_number(value))}</td>')
            out.append(f"<tr><td>{_e(where)}</td><td>{_e(row.evaluator)}</td>{''.join(cells)}</tr>")
        out.append("</tbody></table>")
    else:
        out.append('<p class="note">No row changed verdict.</p>')
    out.append("</body></html>")
    return "\n".join(out)


def write_html(path: Path, comparison: Comparison, title: str = "Promptwise comparison") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(comparison, title), encoding="utf-8")
