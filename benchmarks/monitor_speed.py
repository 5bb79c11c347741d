"""How long `promptwise monitor` takes over a large span store.

Generates N served requests and batch rows (default 1,000,000 traces: a root span each - a
served request or a batch row's flow span - plus its model-call span) into a temporary
workspace's .promptwise/traces.sqlite with the span store's own writer, then times the
command itself (a fresh process, so start-up is included) for each grouping, text and JSON,
and the in-process query alone.

    python benchmarks/monitor_speed.py [--requests 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from promptwise import span_attributes as A  # noqa: E402
from promptwise.tracing.store import SpanRecord, SpanStore  # noqa: E402

FLOWS = ("log-triage", "claim-summary", "report-assistant")
VERSIONS = ("v1", "v2", "v3")
CONSUMERS = ("billing", "claims", "portal", "ops", "partner-a")


def generate(workspace: Path, requests: int, days: float = 7.0, seed: int = 7) -> float:
    rng = random.Random(seed)
    store = SpanStore.for_workspace(workspace)
    now_ns = time.time_ns()
    span_ns = int(days * 86400e9 / requests)
    started = time.perf_counter()
    batch: list[SpanRecord] = []
    for i in range(requests):
        start = now_ns - int(days * 86400e9) + i * span_ns
        # Time-ordered ids (start time, then random bits) append to the primary-key B-trees: random
        # ones made generating a million traces IO-bound. The monitor's queries never read ids.
        trace_id = f"{start:020x}{rng.getrandbits(48):012x}"
        duration = int(rng.lognormvariate(6.5, 0.6) * 1e6)  # ~650 ms median
        flow = FLOWS[i % len(FLOWS)]
        served = i % 10 != 0  # one in ten is a batch row
        attributes = {A.SPAN_KIND: A.SPAN_KIND_REQUEST if served else A.SPAN_KIND_FLOW, A.FLOW_NAME: flow,
                      A.FLOW_CONTENT_HASH: f"{hash((flow, i % 3)) & 0xFFFFFFFFFFFF:012x}"}
        if served:
            attributes[A.CONSUMER] = CONSUMERS[rng.randrange(len(CONSUMERS))]
            attributes[A.VERSION_ID] = VERSIONS[i % 3]
            if i % 7 == 0:
                attributes[A.STREAMED] = True
                attributes[A.TIME_TO_FIRST_TOKEN_MS] = round(duration / 1e6 * rng.uniform(0.1, 0.4), 1)
        else:
            attributes[A.RUN_ID] = f"batch-{i // 10000}"
            attributes[A.ROW_INDEX] = i % 10000
        error = rng.random() < 0.02
        if error:
            attributes[A.ERROR_TYPE] = "RateLimitError"
        root_id = f"{rng.getrandbits(64):016x}"
        batch.append(SpanRecord(trace_id, root_id, None, "POST /score" if served else flow, start, start + duration,
                                status="error" if error else "ok", attributes=attributes, is_root=True))
        batch.append(SpanRecord(trace_id, f"{rng.getrandbits(64):016x}", root_id, "chat gpt-4o-mini",
                                start + 1000, start + duration - 1000, status="ok", attributes={
                                    A.SPAN_KIND: A.SPAN_KIND_LLM, A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                                    A.GEN_AI_USAGE_INPUT_TOKENS: rng.randrange(200, 2000),
                                    A.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randrange(20, 400),
                                    A.COST_USD: rng.uniform(0.0001, 0.002), A.CACHE_HIT: rng.random() < 0.1}))
        if len(batch) >= 20000:
            store.write(batch)
            batch.clear()
    store.write(batch)
    store.close()
    return time.perf_counter() - started


def timed(argv: list[str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "promptwise", *argv], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "server")})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout, result.stderr, file=sys.stderr)
    return elapsed, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR (reused when it already holds a store)")
    args = parser.parse_args()
    workspace = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pw-monitor-"))
    try:
        (workspace / "promptwise.yaml").write_text("{}\n")
        if not (workspace / ".promptwise" / "traces.sqlite").is_file():
            seconds = generate(workspace, args.requests)
            print(f"generated {args.requests:,} traces ({2 * args.requests:,} spans) in {seconds:.1f} s")
        size = (workspace / ".promptwise" / "traces.sqlite").stat().st_size
        print(f"store: {size / 1e6:.0f} MB")
        # The first run creates the monitor's own index and rolls up every settled hour once;
        # time it apart from the steady state (later runs add only newly settled hours).
        first, _ = timed(["monitor", "--since", "30d"], workspace)
        print(f"first monitor (creates the monitor's index and the hourly rollups): {first:.2f} s")
        for argv in (["monitor", "--since", "30d"], ["monitor", "--since", "30d", "--by", "consumer"],
                     ["monitor", "--since", "30d", "--by", "day"], ["monitor", "--since", "24h"],
                     ["monitor", "log-triage", "--since", "24h"], ["monitor", "--since", "30d", "--exact"],
                     ["monitor", "--since", "30d", "--format", "json"]):
            runs = [timed(argv, workspace) for _ in range(3)]
            best = min(seconds for seconds, _ in runs)
            print(f"promptwise {' '.join(argv):<48} best of 3: {best:.2f} s (exit {runs[0][1]})")
        from promptwise.monitoring.aggregates import Selection, figures
        from promptwise.monitoring.source import open_traces

        connection = open_traces(workspace)
        results = {}
        for label, exact in (("exact, every row", True), ("rollups + exact edges", False)):
            started = time.perf_counter()
            results[exact] = {(g.flow, g.key): g for g in figures(connection, Selection(), by="version", exact=exact)}
            print(f"query alone (all traffic, by version, {label}, {len(results[exact])} groups): "
                  f"{time.perf_counter() - started:.2f} s")
        worst = 0.0
        for name, group in results[True].items():
            rolled = results[False][name]
            assert (rolled.requests, rolled.errors, rolled.cache_hits) == (group.requests, group.errors, group.cache_hits)
            for figure in ("latency_ms", "time_to_first_token_ms"):
                for p, exact_value in getattr(group, figure).items():
                    if exact_value:
                        worst = max(worst, abs(getattr(rolled, figure)[p] - exact_value) / exact_value)
        print(f"largest relative percentile difference, rollups vs exact: {worst * 100:.3f} % "
              f"(bound {next(iter(results[False].values())).percentile_error * 100:.3f} %)")
        connection.close()
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
