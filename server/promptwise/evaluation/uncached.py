"""A run's rows as they would cost and take without the response cache.

A call served from the cache costs nothing and returns at once, so a run that reuses another
run's answers (two variants sharing their first node, an evaluation repeated) looks cheaper
and faster than the flow is. The store keeps each cached call's original usage and latency:
here they are priced again and added back, so evaluations and comparisons describe the flow,
not the state of the cache.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RowFigures:
    cost: float | None  # USD as if no call were cached; None when a price is unknown
    latency_ms: float | None  # the row's time plus the original time of its cached calls
    cache_hits: int  # model calls of the row served from the cache


def uncached_rows(store, run, records, workspace) -> dict[int, RowFigures]:
    """{line: figures} for the stored rows `records` of `run` (a RunInfo)."""
    if not any(record.cache_hits for record in records):
        return {r.line: RowFigures(r.cost, r.latency_ms, 0) for r in records}
    from promptwise.costing.catalog import catalog_for

    catalog = catalog_for(workspace)
    azure = "azure" in str((run.connection or {}).get("type") or "").lower()
    extra_cost: dict[int, float | None] = {}
    extra_ms: dict[int, float] = {}
    entries: dict[str | None, object] = {}  # model -> catalog entry (or None): one lookup per model
    cached = [(r.line, node) for r in records if r.cache_hits for node in store.get_node_results(run.name, r.line)]
    for line, node in cached:
        if not node.cache_hit:
            continue
        extra_ms[line] = extra_ms.get(line, 0.0) + (node.latency_ms or 0.0)
        if node.model not in entries:
            match = catalog.lookup(node.model, azure=azure) if node.model else None
            entries[node.model] = match.model if match is not None else None
        entry = entries[node.model]
        price = None if entry is None else entry.cost(node.prompt_tokens, node.completion_tokens, node.cached_tokens)
        known = extra_cost.get(line, 0.0)
        extra_cost[line] = None if price is None or known is None else known + price
    figures = {}
    for record in records:
        extra = extra_cost.get(record.line, 0.0)
        cost = None if record.cost is None or extra is None else record.cost + extra
        latency = None if record.latency_ms is None else record.latency_ms + extra_ms.get(record.line, 0.0)
        figures[record.line] = RowFigures(cost, latency, record.cache_hits)
    return figures


def cache_summary(rows, scored) -> dict:
    """How many calls behind an evaluation's figures came from the cache (they are counted at
    their original cost and latency): the flow's model calls, from the rows' run context, and
    the judges' calls, from the scores."""
    runs = [row.run for row in rows if row.run]
    return {
        "llm_calls": sum(run.get("llm_calls") or 0 for run in runs),
        "cache_hits": sum(run.get("cache_hits") or 0 for run in runs),
        "eval_cache_hits": sum(int(score.details.get("cached_calls") or 0)
                               for row in scored for score in row.scores.values()),
    }
