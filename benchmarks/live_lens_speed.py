"""How long the editor's live lens takes to compute (lsp/monitor_lenses.py `live_lenses`): the
live version's figures over the last 24 h of one flow, read from the span store.

Generates N traces over 7 days (benchmarks/monitor_speed.py's generator: three flows, served
requests and batch rows) into a temporary workspace, then times `live_lenses` cold (first call:
it also creates the monitor's indexes), warm (the store opened again), and through the lens's
cache (what an edit costs when nothing was written).

    python benchmarks/live_lens_speed.py [--requests 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from monitor_speed import generate  # noqa: E402
from promptwise.lsp import monitor_lenses  # noqa: E402
from promptwise.tracing.store import store_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR (reused when it already holds a store)")
    args = parser.parse_args()
    workspace = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="promptwise-lens-"))
    workspace.mkdir(parents=True, exist_ok=True)
    try:
        (workspace / "promptwise.yaml").write_text("{}\n", encoding="utf-8")
        flow = workspace / "log-triage" / "flow.dag.yaml"
        flow.parent.mkdir(exist_ok=True)
        flow.write_text("inputs: {}\noutputs: {}\nnodes: []\n", encoding="utf-8")
        if not store_path(workspace).is_file():
            seconds = generate(workspace, args.requests)
            print(f"generated {args.requests:,} traces over 7 days in {seconds:.1f} s")
        started = time.perf_counter()
        lenses = monitor_lenses.live_lenses(flow)
        print(f"cold (creates the monitor's indexes): {(time.perf_counter() - started) * 1000:.0f} ms -> "
              f"{[lens.title for lens in lenses]}")
        warm = []
        for _ in range(5):
            started = time.perf_counter()
            monitor_lenses.live_lenses(flow)
            warm.append(time.perf_counter() - started)
        print(f"warm: median {statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms (5 calls)")
        monitor_lenses._safe_live_lenses(flow)
        cached = []
        for _ in range(100):
            started = time.perf_counter()
            monitor_lenses._safe_live_lenses(flow)
            cached.append(time.perf_counter() - started)
        print(f"cached (an edit, nothing written): median {statistics.median(cached) * 1e6:.0f} µs (100 calls)")
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
