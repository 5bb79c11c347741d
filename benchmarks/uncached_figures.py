"""Cost of counting cached calls at their original price and latency (evaluation.uncached).

    .venv/bin/python benchmarks/uncached_figures.py [--rows 1000,10000] [--nodes 3]

Stores a run whose every row has `--nodes` model calls served from the response cache, then
times `uncached_rows` (what `promptwise eval` does once per evaluation before scoring) and
prints seconds per run and microseconds per row. No model is called.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from promptwise.config import load_workspace  # noqa: E402
from promptwise.evaluation.uncached import uncached_rows  # noqa: E402
from promptwise.store.run_store import NodeResult, RowResult, RunStore  # noqa: E402


def stored_run(folder: Path, rows: int, nodes: int) -> None:
    with RunStore(folder / ".promptwise") as store:
        store.create_run("cached", str(folder / "flow.dag.yaml"), total_rows=rows,
                         connection={"name": "local", "type": "openai_compatible"})
        for line in range(rows):
            calls = [NodeResult(f"n{i}", "completed", "answer", model="gpt-4o-mini", prompt_tokens=400,
                                completion_tokens=80, total_tokens=480, cost=0.0, latency_ms=350.0, attempts=0,
                                cache_hit=True) for i in range(nodes)]
            store.record_row("cached", RowResult(line, "completed", {"q": line}, {"a": "x"}, nodes=calls,
                                                 latency_ms=2.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    print(f"{'rows':>8} {'nodes/row':>9} {'seconds':>8} {'µs/row':>8}")
    for rows in (int(n) for n in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            stored_run(folder, rows, args.nodes)
            workspace = load_workspace(folder)
            with RunStore.for_workspace(workspace, readonly=True) as store:
                info, records = store.get_run("cached"), store.get_rows("cached")
                started = time.perf_counter()
                figures = uncached_rows(store, info, records, workspace)
                elapsed = time.perf_counter() - started
            assert all(f.cost and f.cost > 0 for f in figures.values())
            print(f"{rows:>8} {args.nodes:>9} {elapsed:>8.3f} {elapsed / rows * 1e6:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
