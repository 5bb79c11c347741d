"""Plain-text rendering of an evaluation for the terminal (and the figures the editor shows)."""

from __future__ import annotations


def fmt_number(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, int)):
        return str(value)
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.2e}"
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# The unit of the values of these evaluator types (their mean, median and threshold).
FIGURE_UNITS = {"latency": "ms", "cost": "$"}


def fmt_figure(value, unit: str = "", *, signed: bool = False) -> str:
    """A figure in its unit: `$0.00036`, `548 ms`, or a plain number; `signed` for deltas (+/-)."""
    from promptwise.costing.formatting import format_ms, format_usd

    if value is None:
        return "–"
    if unit == "$":
        return format_usd(value, signed=signed)
    sign = "+" if signed and value > 0 else ""
    if unit == "ms":
        return sign + format_ms(value)
    return sign + fmt_number(value)


def fmt_percent(value) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def fmt_usd(value) -> str:
    """Dollars as every report writes them (costing.calls.format_usd); `–` when unknown."""
    from promptwise.costing.formatting import format_usd

    return "–" if value is None else format_usd(value)


def fmt_seconds(ms) -> str:
    return "–" if ms is None else f"{ms / 1000:.2f} s"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def metrics_table(evaluators: list[dict], metrics: dict) -> list[str]:
    rows = []
    for evaluator in evaluators:
        m = metrics.get(evaluator["name"], {})
        threshold = m.get("threshold")
        unit = FIGURE_UNITS.get(evaluator["type"], "")
        comparison = (("≥ " if m.get("higher_is_better", True) else "≤ ") + fmt_figure(threshold, unit)
                      if threshold is not None else "–")
        rows.append([evaluator["name"], evaluator["type"], fmt_figure(m.get("mean"), unit),
                     fmt_figure(m.get("p50"), unit), comparison, fmt_percent(m.get("pass_rate")),
                     str(m.get("errors", 0))])
    return _table(["evaluator", "type", "mean", "median", "threshold", "pass", "errors"], rows)


def classification_block(name: str, figures: dict) -> list[str]:
    lines = [f"{name}: accuracy {fmt_percent(figures.get('accuracy'))}, macro F1 {fmt_number(figures.get('macro_f1'))}"]
    per_class = figures.get("per_class") or {}
    if per_class:
        rows = [[label, fmt_number(c["precision"]), fmt_number(c["recall"]), fmt_number(c["f1"]), str(c["support"])]
                for label, c in per_class.items()]
        lines += ["  " + line for line in _table(["class", "precision", "recall", "f1", "support"], rows)]
    confusion = figures.get("confusion") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if labels:
        lines.append("  confusion (rows: label, columns: predicted)")
        rows = [[label, *(str(n) for n in matrix[i])] for i, label in enumerate(labels)]
        lines += ["  " + line for line in _table(["", *labels], rows)]
    return lines


def summary_line(summary: dict) -> str:
    parts = [f"{summary.get('rows', 0)} rows"]
    if summary.get("rows_failed_in_run"):
        parts.append(f"{summary['rows_failed_in_run']} failed in the run")
    parts.append(f"latency p50 {fmt_seconds(summary.get('latency_p50_ms'))}, p95 {fmt_seconds(summary.get('latency_p95_ms'))}")
    parts.append(f"flow cost {fmt_usd(summary.get('cost_per_row'))}/row")
    parts.append(f"evaluation cost {fmt_usd(summary.get('eval_cost'))}")
    hits, judge_hits = summary.get("cache_hits") or 0, summary.get("eval_cache_hits") or 0
    if hits or judge_hits:
        cached = " and ".join(part for part in (
            f"{hits} of {summary.get('llm_calls') or hits} model calls" if hits else "",
            f"{judge_hits} judge call{'s' if judge_hits != 1 else ''}" if judge_hits else "") if part)
        parts.append(f"{cached} from the response cache, counted at their original cost and latency")
    return " · ".join(parts)


def render_evaluation(evaluation: str, run: str, evaluators: list[dict], metrics: dict, summary: dict,
                      rows=None, worst: int = 5) -> str:
    lines = [f"evaluation {evaluation} of run {run}", summary_line(summary), ""]
    lines += metrics_table(evaluators, metrics)
    for evaluator in evaluators:
        figures = metrics.get(evaluator["name"], {})
        if "accuracy" in figures and "per_class" in figures:
            lines += ["", *classification_block(evaluator["name"], figures)]
        if "corpus_bleu" in figures:
            lines += ["", f"{evaluator['name']}: corpus BLEU {fmt_number(figures['corpus_bleu'], 2)}"]
    if rows:
        failing = []
        for row in rows:
            for name, score in row.scores.items():
                if score.error is not None or score.passed is False:
                    failing.append((row, name, score))
        if failing:
            lines += ["", f"rows below threshold or not scored ({len(failing)}; first {min(worst, len(failing))}):"]
            for row, name, score in failing[:worst]:
                what = f"error: {score.error}" if score.error else f"{fmt_number(score.value)} — {score.reason}"
                if score.error and score.details.get("raw"):
                    what += f" (answer: {str(score.details['raw'])[:60]!r})"
                where = f"row {row.line}" + (f" (data line {row.data_line})" if row.data_line else "")
                lines.append(f"  {where} {name}: {what[:220]}")
    return "\n".join(lines)
