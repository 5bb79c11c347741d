"""Figures per flow and version / consumer / day, computed in SQLite over the span store.

Everything reads the `traces` summary table (one row per trace, kept by tracing/store.py), so
a million served requests are a million rows, not millions of spans. Only traces whose root
is a served request or a flow execution count as traffic (a batch row is a flow trace);
evaluator calls and stray @trace functions do not.

One scan answers everything: sums per flow, group and whole millisecond of latency, which
is also the latency histogram. Percentiles are read from it by nearest rank (the value at
rank ceil(q * n)), exact to the millisecond, so no latency list is sorted or loaded.

A window holding EXACT_BELOW requests or more is read mostly from the hourly rollups
(rollups.py): its whole settled hours from them, its edges and recent hours exactly. Sums are
then still exact; percentiles are within rollups.RELATIVE_ERROR (under 1 %) of the exact ones,
and each group says so in `percentile_error`. `exact=True` always reads every row.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import asdict, dataclass, field

from promptwise import span_attributes as attrs
from promptwise.documents.version_label import label_sql, version_match_sql

GROUPINGS = ("version", "consumer", "day", "flow", "consumer-day")
PERCENTILES = (0.5, 0.95, 0.99)

# Root kinds that are traffic: a served request, or one execution of a flow (run, batch row).
TRAFFIC_KINDS = (attrs.SPAN_KIND_REQUEST, attrs.SPAN_KIND_FLOW)

GROUP_KEY = {  # {p} is the traces table's prefix in a join
    # A version is the deployed version id when serving names one, else the flow's content hash,
    # spelt as the server's x-promptwise-version header spells it (documents/version_label.py).
    "version": f"COALESCE({label_sql('{p}version', '{p}content_hash')}, '(unknown)')",
    # Batch runs have no consumer: they are shown as such, apart from unnamed served callers.
    "consumer": "COALESCE({p}consumer, CASE WHEN {p}run_id IS NOT NULL THEN '(batch)' ELSE '(anonymous)' END)",
    "day": "date({p}start_ns / 1000000000, 'unixepoch')",  # UTC days
    "flow": "'(all)'",
}
# Chargeback: each consumer's figures per UTC day ("billing 2026-12-07").
GROUP_KEY["consumer-day"] = f"({GROUP_KEY['consumer']} || ' ' || {GROUP_KEY['day']})"

# Indexes the monitor's filters need beyond the store's own (time, flow, version, consumer).
# Kept here, created on first use by a writer; a read-only opener simply goes without.
MONITOR_INDEXES = (
    # Time to first token lives only on streamed request spans: a small partial index finds them.
    "CREATE INDEX IF NOT EXISTS spans_time_to_first_token ON spans(trace_id, "
    f"json_extract(attributes, '$.\"{attrs.TIME_TO_FIRST_TOKEN_MS}\"')) "
    f"WHERE kind = '{attrs.SPAN_KIND_REQUEST}' AND "
    f"json_extract(attributes, '$.\"{attrs.TIME_TO_FIRST_TOKEN_MS}\"') IS NOT NULL",
)
_MS_SLOTS = 1 << 24  # latencies in whole ms; longer than 4.6 hours counted as 4.6 hours
TTFT = f"json_extract(s.attributes, '$.\"{attrs.TIME_TO_FIRST_TOKEN_MS}\"')"


@dataclass(frozen=True)
class Selection:
    """Which traffic: a flow (its name as traces record it), a time window, optional filters."""

    since_ns: int | None = None
    until_ns: int | None = None
    flow: str | None = None
    version: str | None = None
    consumer: str | None = None

    def where(self, table: str = "", *, traffic_only: bool = True) -> tuple[str, list]:
        p = f"{table}." if table else ""
        clauses = [f"{p}kind IN ({', '.join('?' * len(TRAFFIC_KINDS))})"] if traffic_only else ["1"]
        params: list = list(TRAFFIC_KINDS) if traffic_only else []
        for clause, value in ((f"{p}start_ns >= ?", self.since_ns), (f"{p}start_ns < ?", self.until_ns),
                              (f"{p}flow = ?", self.flow), (f"{p}consumer = ?", self.consumer)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.version is not None:
            clause, values = version_match_sql(label_sql(f"{p}version", f"{p}content_hash"), self.version)
            clauses.append(clause)
            params += values
        return " AND ".join(clauses), params


def resolve_version(connection: sqlite3.Connection, typed: str) -> str:
    """The version label a typed --version names: a shorter content hash prefix becomes the one
    label of the stored traffic it starts (ValueError naming them when several do); anything
    else, or a prefix no traffic has, is returned as typed (the filter then finds nothing)."""
    label = label_sql("version", "content_hash")
    clause, params = version_match_sql(label, typed)
    if not clause.startswith("substr("):  # a whole label or id: nothing to resolve
        return typed
    kinds = ", ".join("?" * len(TRAFFIC_KINDS))
    found = [row[0] for row in connection.execute(
        f"SELECT DISTINCT {label} FROM traces WHERE kind IN ({kinds}) AND {clause} LIMIT 4",
        [*TRAFFIC_KINDS, *params])]
    if len(found) > 1:
        more = ", …" if len(found) > 3 else ""
        raise ValueError(f"--version {typed}: several versions start with it ({', '.join(sorted(found)[:3])}{more}); "
                         f"give more digits")
    return found[0] if found else typed


@dataclass
class GroupFigures:
    flow: str
    key: str  # the version, consumer or day (or "(all)")
    requests: int = 0
    errors: int = 0
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # p50/p95/p99
    time_to_first_token_ms: dict[str, float | None] = field(default_factory=dict)  # streams only
    streams: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    llm_calls: int = 0
    cache_hits: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    percentile_error: float = 0.0  # the most a percentile may differ from the exact one (relative)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.llm_calls if self.llm_calls else 0.0

    def document(self) -> dict:
        document = asdict(self)
        document["error_rate"] = round(self.error_rate, 6)
        document["cache_hit_rate"] = round(self.cache_hit_rate, 6)
        return document


def ensure_indexes(connection: sqlite3.Connection) -> None:
    """Create the monitor's indexes on a writable connection (once; cheap when they exist)."""
    for statement in MONITOR_INDEXES:
        connection.execute(statement)


EXACT_BELOW = 50_000  # windows with fewer requests are always read exactly


def figures(connection: sqlite3.Connection, selection: Selection, by: str = "version", *,
            exact: bool = False, now_ns: int | None = None) -> list[GroupFigures]:
    """One GroupFigures per (flow, group key), ordered by flow then key."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    if not exact:
        from promptwise.monitoring import rollups

        built_until = rollups.refresh(connection, now_ns if now_ns is not None else time.time_ns())
        if built_until is not None:
            first = rollups.hour_ceil(selection.since_ns) if selection.since_ns is not None else 0
            last = min(built_until, rollups.hour_floor(selection.until_ns)
                       if selection.until_ns is not None else built_until)
            if first < last and _rolled_requests(connection, selection, first, last) >= EXACT_BELOW:
                return _from_rollups(connection, selection, by, first, last)
    groups, latency, ttft = _exact(connection, selection, by)
    for name, histogram in latency.items():
        groups[name].latency_ms = percentiles(histogram)
    for name, histogram in ttft.items():
        groups[name].time_to_first_token_ms = percentiles(histogram)
    return [groups[name] for name in sorted(groups)]


def _rolled_filters(selection: Selection, first: int, last: int) -> tuple[str, list]:
    clauses, params = ["hour_ns >= ?", "hour_ns < ?"], [first, last]
    for column, wanted in (("flow", selection.flow), ("consumer", selection.consumer)):
        if wanted is not None:
            clauses.append(f"{column} = ?")
            params.append(wanted)
    if selection.version is not None:  # rollups store the version's label
        clause, values = version_match_sql("version", selection.version)
        clauses.append(clause)
        params += values
    return " AND ".join(clauses), params


def _rolled_requests(connection: sqlite3.Connection, selection: Selection, first: int, last: int) -> int:
    where, params = _rolled_filters(selection, first, last)
    return connection.execute(f"SELECT COALESCE(sum(requests), 0) FROM monitor_rollups WHERE {where}",
                              params).fetchone()[0]


def _from_rollups(connection: sqlite3.Connection, selection: Selection, by: str, first: int,
                  last: int) -> list[GroupFigures]:
    """Whole hours [first, last) from the rollups; the rest of the window exactly from `traces`."""
    from promptwise.monitoring import rollups

    edges = [Selection(selection.since_ns, first, selection.flow, selection.version, selection.consumer),
             Selection(last, selection.until_ns, selection.flow, selection.version, selection.consumer)]
    groups: dict[tuple[str, str], GroupFigures] = {}
    latency: dict[tuple[str, str], dict[int, int]] = {}
    ttft: dict[tuple[str, str], dict[int, int]] = {}

    def fold(target: dict, name, histogram) -> None:
        buckets = target.setdefault(name, {})
        for b, count in histogram:
            buckets[b] = buckets.get(b, 0) + count

    for edge in edges:
        if edge.until_ns is not None and (edge.since_ns is None or edge.since_ns >= edge.until_ns):
            continue  # no window before the rolled-up hours, or an empty one
        part, part_latency, part_ttft = _exact(connection, edge, by)
        for name, group in part.items():
            _add(groups, group)
        for name, histogram in part_latency.items():
            fold(latency, name, ((rollups.bucket(ms), n) for ms, n in histogram))
        for name, histogram in part_ttft.items():
            fold(ttft, name, ((rollups.bucket(ms), n) for ms, n in histogram))
    where, params = _rolled_filters(selection, first, last)
    key = {"version": "version", "consumer": "consumer", "flow": "'(all)'",
           "day": "date(hour_ns / 1000000000, 'unixepoch')",
           "consumer-day": "(consumer || ' ' || date(hour_ns / 1000000000, 'unixepoch'))"}[by]
    for row in connection.execute(
            f"SELECT flow, {key} AS key, sum(requests) AS requests, sum(errors) AS errors, sum(streams) AS streams, "
            f"sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, "
            f"sum(llm_calls) AS llm_calls, sum(cache_hits) AS cache_hits, min(first_ns) AS first_ns, "
            f"max(last_ns) AS last_ns FROM monitor_rollups WHERE {where} GROUP BY 1, 2", params):
        _add(groups, GroupFigures(
            flow=row["flow"], key=row["key"], requests=row["requests"], errors=row["errors"], streams=row["streams"],
            input_tokens=row["input_tokens"], output_tokens=row["output_tokens"], cost_usd=row["cost_usd"],
            llm_calls=row["llm_calls"], cache_hits=row["cache_hits"], first_ns=row["first_ns"], last_ns=row["last_ns"]))
    # A week of hourly rows holds a few hundred thousand histogram buckets: this loop is kept
    # tight (bucket numbers stay JSON's text keys until the end). SQLite's json_each + GROUP BY
    # measured three times slower.
    merged: dict[tuple, dict[str, int]] = {}
    for flow, group_key, latency_json, ttft_json in connection.execute(
            f"SELECT flow, {key}, latency, ttft FROM monitor_rollups WHERE {where}", params):
        for column, text in (("latency", latency_json), ("ttft", ttft_json)):
            histogram = merged.setdefault((column, flow, group_key), {})
            get = histogram.get
            for b, count in json.loads(text).items():
                histogram[b] = get(b, 0) + count
    for column, target in (("latency", latency), ("ttft", ttft)):
        for name in groups:
            fold(target, name, ((int(b), count) for b, count in merged.get((column, *name), {}).items()))
    for name, group in groups.items():
        group.percentile_error = round(rollups.RELATIVE_ERROR, 5)
        group.latency_ms = _bucket_percentiles(latency.get(name, {}))
        group.time_to_first_token_ms = _bucket_percentiles(ttft.get(name, {}))
    return [groups[name] for name in sorted(groups)]


def _bucket_percentiles(buckets: dict[int, int]) -> dict[str, float | None]:
    from promptwise.monitoring import rollups

    result = percentiles(list(buckets.items()))
    return {name: None if b is None else round(rollups.value(int(b)), 3) for name, b in result.items()}


def _add(groups: dict[tuple[str, str], GroupFigures], part: GroupFigures) -> None:
    """Add one part's sums into the group of the same (flow, key)."""
    group = groups.get((part.flow, part.key))
    if group is None:
        groups[(part.flow, part.key)] = part
        return
    for name in ("requests", "errors", "streams", "input_tokens", "output_tokens", "llm_calls", "cache_hits"):
        setattr(group, name, getattr(group, name) + getattr(part, name))
    if part.cost_usd is not None:
        group.cost_usd = (group.cost_usd or 0.0) + part.cost_usd
    group.first_ns = min(group.first_ns, part.first_ns)
    group.last_ns = max(group.last_ns, part.last_ns)


def _exact(connection: sqlite3.Connection, selection: Selection, by: str):
    """Every row of the selection: the groups' sums, and their latency and time-to-first-token
    histograms as (whole ms, count) pairs."""
    key = GROUP_KEY[by].format(p="")
    where, params = selection.where()
    # One pass: the sums per (flow, key, whole millisecond of latency). The millisecond rows are
    # the latency histogram the percentiles are read from, exact to the millisecond, so no
    # latency list is ever sorted or loaded. A whole-window scan beats the time index (whose
    # every hit is a lookup in the table); a narrow window or one flow uses the indexes.
    hint = "NOT INDEXED" if _mostly_everything(connection, selection) else ""
    # SQLite's GROUP BY sorts every row: sorting one integer per row costs a third of sorting
    # (flow, key, ms) as text, so the distinct flows and keys are numbered first (a cheap pass
    # with no sort) and the grouping runs on group number * 2^24 + ms.
    names = connection.execute(
        f"SELECT DISTINCT COALESCE(flow, '(unnamed)'), {key} FROM traces {hint} WHERE {where}", params).fetchall()
    if not names:
        return {}, {}, {}
    flows = sorted({name[0] for name in names})
    keys = sorted({name[1] for name in names})
    flow_number = "CASE COALESCE(flow, '(unnamed)') " + " ".join("WHEN ? THEN " + str(i) for i in range(len(flows)))
    key_number = f"CASE {key} " + " ".join("WHEN ? THEN " + str(i) for i in range(len(keys)))
    rows = connection.execute(
        f"SELECT (({flow_number} END) * {len(keys)} + ({key_number} END)) * {_MS_SLOTS} "
        f"+ COALESCE(min(CAST(duration_ms AS INTEGER), {_MS_SLOTS - 2}), {_MS_SLOTS - 1}) AS slot, "
        f"count(*) AS requests, sum(status = 'error') AS errors, sum(input_tokens) AS input_tokens, "
        f"sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, sum(llm_calls) AS llm_calls, "
        f"sum(cache_hits) AS cache_hits, min(start_ns) AS first_ns, max(start_ns) AS last_ns "
        f"FROM traces {hint} WHERE {where} GROUP BY 1", [*flows, *keys, *params])
    groups: dict[tuple[str, str], GroupFigures] = {}
    histograms: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in rows:
        number, ms = divmod(row["slot"], _MS_SLOTS)
        name = (flows[number // len(keys)], keys[number % len(keys)])
        group = groups.get(name)
        if group is None:
            group = groups[name] = GroupFigures(
                flow=name[0], key=name[1], first_ns=row["first_ns"], last_ns=row["last_ns"],
                latency_ms=dict.fromkeys(_names()), time_to_first_token_ms=dict.fromkeys(_names()))
            histograms[name] = []
        group.requests += row["requests"]
        group.errors += row["errors"] or 0
        group.input_tokens += row["input_tokens"] or 0
        group.output_tokens += row["output_tokens"] or 0
        group.llm_calls += row["llm_calls"] or 0
        group.cache_hits += row["cache_hits"] or 0
        if row["cost_usd"] is not None:
            group.cost_usd = (group.cost_usd or 0.0) + row["cost_usd"]
        group.first_ns = min(group.first_ns, row["first_ns"])
        group.last_ns = max(group.last_ns, row["last_ns"])
        if ms != _MS_SLOTS - 1:  # the last slot holds traces without a duration
            histograms[name].append((ms, row["requests"]))
    twhere, tparams = selection.where("t")
    # A narrow window starts from its traces (time index) and looks up their spans; a wide one
    # walks the small index of streamed request spans instead.
    join = "spans s JOIN traces t" if hint else "traces t CROSS JOIN spans s"
    rows = connection.execute(
        f"SELECT COALESCE(t.flow, '(unnamed)') AS flow, {GROUP_KEY[by].format(p='t.')} AS key, "
        f"CAST({TTFT} AS INTEGER) AS ms, count(*) AS n FROM {join} ON t.trace_id = s.trace_id "
        f"WHERE s.kind = '{attrs.SPAN_KIND_REQUEST}' AND {TTFT} IS NOT NULL AND {twhere} GROUP BY 1, 2, 3", tparams)
    streams: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in rows:
        streams.setdefault((row["flow"], row["key"]), []).append((row["ms"], row["n"]))
    streams = {name: histogram for name, histogram in streams.items() if name in groups}
    for name, histogram in streams.items():
        groups[name].streams = sum(count for _, count in histogram)
    return groups, histograms, streams


def _mostly_everything(connection: sqlite3.Connection, selection: Selection) -> bool:
    """Whether the selection covers most of the store (then a plain scan is the fastest way)."""
    if selection.flow is not None or selection.version is not None or selection.consumer is not None:
        return False
    if selection.since_ns is None and selection.until_ns is None:
        return True
    # Asked apart: SQLite reads a lone min() or max() from the index's end, but scans for the pair.
    first = connection.execute("SELECT min(start_ns) FROM traces").fetchone()[0]
    last = connection.execute("SELECT max(start_ns) FROM traces").fetchone()[0]
    if first is None or last <= first:
        return True
    since = max(selection.since_ns or first, first)
    until = min(selection.until_ns or last, last)
    return (until - since) / (last - first) > 0.25


def _names() -> list[str]:
    return [f"p{round(q * 100)}" for q in PERCENTILES]


def percentiles(histogram: list[tuple[int, int]]) -> dict[str, float | None]:
    """Nearest-rank percentiles (the value at rank ceil(q * n)) from (value, count) pairs."""
    histogram = sorted(histogram)
    total = sum(count for _, count in histogram)
    result: dict[str, float | None] = dict.fromkeys(_names())
    if not total:
        return result
    wanted = [(name, max(1, math.ceil(q * total))) for q, name in zip(PERCENTILES, _names())]
    seen = 0
    for value, count in histogram:
        seen += count
        while wanted and wanted[0][1] <= seen:
            result[wanted.pop(0)[0]] = float(value)
        if not wanted:
            break
    return result


def totals(groups: list[GroupFigures]) -> dict:
    """Sums over all groups (percentiles do not add up, so they are left out)."""
    requests = sum(g.requests for g in groups)
    errors = sum(g.errors for g in groups)
    costs = [g.cost_usd for g in groups if g.cost_usd is not None]
    return {"requests": requests, "errors": errors, "error_rate": round(errors / requests, 6) if requests else 0.0,
            "input_tokens": sum(g.input_tokens for g in groups), "output_tokens": sum(g.output_tokens for g in groups),
            "cost_usd": sum(costs) if costs else None, "llm_calls": sum(g.llm_calls for g in groups),
            "cache_hits": sum(g.cache_hits for g in groups)}


def report_document(window: dict, by: str, flow: str | None, groups: list[GroupFigures], *,
                    drift: dict | None = None, online: list | None = None, online_daily: list | None = None,
                    drift_settings: dict | None = None) -> dict:
    """The monitor's report as `monitor --format json` prints it and the HTML page (CLI and the
    editor's Monitor view) renders it: the groups, their totals, and drift and online scores when
    there are any."""
    document = {"window": window, "by": by, "flow": flow, "totals": totals(groups),
                "groups": [group.document() for group in groups]}
    if drift is not None:
        document["drift"] = drift
    if online:
        document["online_eval"] = online
        document["online_daily"] = online_daily or []
        document["metric_drift"] = drift_settings
    return document


def example_traces(connection: sqlite3.Connection, selection: Selection, *, errors_only: bool = False,
                   slowest: bool = False, limit: int = 3) -> list[str]:
    """A few trace ids to look at: the latest errors, or the slowest requests, of the selection."""
    where, params = selection.where()
    if errors_only:
        where += " AND status = 'error'"
    order = "duration_ms DESC" if slowest else "start_ns DESC"
    return [row[0] for row in connection.execute(
        f"SELECT trace_id FROM traces WHERE {where} ORDER BY {order} LIMIT ?", [*params, limit])]
