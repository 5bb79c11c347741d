"""Hourly rollups of the `traces` summary table, so `promptwise monitor` over a million stored
requests reads a few thousand rows instead of sorting a million.

One row per (flow, version, consumer, UTC hour) of traffic holds the sums (requests, errors,
tokens, cost, model calls, cache hits) and two sparse log-scale histograms: latency and, for
streams, time to first token. Bucket b holds whole milliseconds in [G**b, G**(b+1)) (G = 1.02;
0 ms has its own bucket) and reads back as its geometric middle, so a percentile read from the
rollups is within RELATIVE_ERROR (0.995 %) of the exact nearest-rank value.

Built lazily by the monitor, not by the tracing writer (nothing is added to the request path):
the first run over an old store rolls up every settled hour once; later runs add only the hours
that settled since (a high-water mark in the store's meta table). An hour settles SETTLE_NS after
it ends (spans of a trace can arrive after its root: its summary row may still change). Hours
outside the rollups (window edges, the unsettled last hour or two) are read exactly from
`traces`. When retention deletes old traces, the rollups of those hours are dropped and the
hour the oldest remaining trace falls in is rebuilt.
"""

from __future__ import annotations

import json
import math
import sqlite3

HOUR_NS = 3600 * 10**9
SETTLE_NS = HOUR_NS  # a trace's summary row is taken as final an hour after its hour ends
G = 1.02
RELATIVE_ERROR = math.sqrt(G) - 1  # the most a bucket's middle differs from any value in it
_LOG_G = math.log(G)
_UNTIL = "monitor.rollups_until_ns"  # meta: rollups cover [from, until)
_FROM = "monitor.rollups_from_ns"
# meta: how rollup rows are keyed. Bumped when a key's spelling changes (2: versions as
# documents/version_label.py spells them), so rollups built before are rebuilt once.
_FORMAT, FORMAT = "monitor.rollups_format", "2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS monitor_rollups (
    hour_ns INTEGER NOT NULL, flow TEXT NOT NULL, version TEXT NOT NULL, consumer TEXT NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cost_usd REAL, llm_calls INTEGER NOT NULL, cache_hits INTEGER NOT NULL,
    first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,
    latency TEXT NOT NULL,       -- JSON {bucket: count}
    streams INTEGER NOT NULL, ttft TEXT NOT NULL,
    PRIMARY KEY (hour_ns, flow, version, consumer)
)
"""


def bucket(ms: int | float | None) -> int | None:
    """The histogram bucket of a latency in whole milliseconds (-1 for 0 ms)."""
    if ms is None:
        return None
    ms = int(ms)
    return -1 if ms < 1 else math.floor(math.log(ms) / _LOG_G)


def value(b: int) -> float:
    """What bucket `b` reads back as: its geometric middle (0 for the 0 ms bucket)."""
    return 0.0 if b < 0 else G ** (b + 0.5)


def hour_floor(ns: int) -> int:
    return ns // HOUR_NS * HOUR_NS


def hour_ceil(ns: int) -> int:
    return -(-ns // HOUR_NS) * HOUR_NS


def refresh(connection: sqlite3.Connection, now_ns: int) -> int | None:
    """Bring the rollups up to the last settled hour; returns where they end (an hour boundary),
    or None when the store cannot be written (read-only): then everything is read exactly."""
    try:
        connection.execute(SCHEMA)
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return None
    try:
        stored = meta = dict(connection.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?)",
                                                (_FROM, _UNTIL, _FORMAT)).fetchall())
        if meta.get(_FORMAT) != FORMAT:  # keyed another way (or never built): build again from scratch
            connection.execute("DELETE FROM monitor_rollups")
            connection.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                               "value = excluded.value", (_FORMAT, FORMAT))
            meta = {}
        first = connection.execute("SELECT min(start_ns) FROM traces").fetchone()[0]
        built_from, until = int(meta.get(_FROM, 0)), int(meta.get(_UNTIL, 0))
        if first is None:
            connection.execute("DELETE FROM monitor_rollups")
            built_from = until = 0
        else:
            if until and first > built_from:  # retention deleted old traces: drop their hours
                connection.execute("DELETE FROM monitor_rollups WHERE hour_ns <= ?", (hour_floor(first),))
                if hour_floor(first) < until:
                    _build(connection, hour_floor(first), hour_floor(first) + HOUR_NS)
            if not until:
                until = hour_floor(first)
            target = hour_floor(now_ns - SETTLE_NS)
            if target > until:
                _build(connection, until, target)
                until = target
            built_from = first
        if (built_from, until) != (int(stored.get(_FROM, 0)), int(stored.get(_UNTIL, 0))):
            connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                                   "value = excluded.value", ((_FROM, str(built_from)), (_UNTIL, str(until))))
        connection.execute("COMMIT")
    except sqlite3.OperationalError:  # a read-only store with hours to add: read it exactly
        connection.execute("ROLLBACK")
        return None
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return until or None


def _build(connection: sqlite3.Connection, since_ns: int, until_ns: int) -> None:
    """Roll up the traffic that started in [since_ns, until_ns) (hour boundaries)."""
    from promptwise.monitoring.aggregates import GROUP_KEY, TRAFFIC_KINDS, TTFT

    connection.create_function("pw_bucket", 1, bucket, deterministic=True)
    keys = (f"COALESCE({{p}}flow, '(unnamed)'), {GROUP_KEY['version']}, {GROUP_KEY['consumer']}, "
            f"({{p}}start_ns / {HOUR_NS}) * {HOUR_NS}")
    kinds = ", ".join("?" * len(TRAFFIC_KINDS))
    rows: dict[tuple, list] = {}
    for row in connection.execute(
            f"SELECT {keys.format(p='')}, pw_bucket(duration_ms), count(*), sum(status = 'error'), "
            f"sum(input_tokens), sum(output_tokens), sum(cost_usd), sum(llm_calls), sum(cache_hits), "
            f"min(start_ns), max(start_ns) FROM traces WHERE kind IN ({kinds}) AND start_ns >= ? AND start_ns < ? "
            f"GROUP BY 1, 2, 3, 4, 5", [*TRAFFIC_KINDS, since_ns, until_ns]):
        name = tuple(row[:4])
        acc = rows.get(name)
        if acc is None:  # requests, errors, in, out, cost, calls, hits, first, last, latency, streams, ttft
            acc = rows[name] = [0, 0, 0, 0, None, 0, 0, row[12], row[13], {}, 0, {}]
        for i, column in enumerate((5, 6, 7, 8), start=0):
            acc[i] += row[column] or 0
        if row[9] is not None:
            acc[4] = (acc[4] or 0.0) + row[9]
        acc[5] += row[10] or 0
        acc[6] += row[11] or 0
        acc[7], acc[8] = min(acc[7], row[12]), max(acc[8], row[13])
        if row[4] is not None:
            acc[9][row[4]] = acc[9].get(row[4], 0) + row[5]
    for row in connection.execute(
            f"SELECT {keys.format(p='t.')}, pw_bucket({TTFT}), count(*) FROM spans s "
            f"JOIN traces t ON t.trace_id = s.trace_id WHERE s.kind = 'request' AND {TTFT} IS NOT NULL "
            f"AND t.kind IN ({kinds}) AND t.start_ns >= ? AND t.start_ns < ? GROUP BY 1, 2, 3, 4, 5",
            [*TRAFFIC_KINDS, since_ns, until_ns]):
        acc = rows.get(tuple(row[:4]))
        if acc is not None:
            acc[10] += row[5]
            acc[11][row[4]] = acc[11].get(row[4], 0) + row[5]
    connection.execute("DELETE FROM monitor_rollups WHERE hour_ns >= ? AND hour_ns < ?", (since_ns, until_ns))
    connection.executemany(
        "INSERT INTO monitor_rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ((name[3], name[0], name[1], name[2], *acc[:9], json.dumps(acc[9]), acc[10], json.dumps(acc[11]))
         for name, acc in rows.items()))
