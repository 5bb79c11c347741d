"""How long the editor's "last run" lenses take to read a flow's latest trace (lsp/traces.py
`latest_figures`, run for every code-lens request of an open flow) as the span store grows:
a flow with N stored traces (a served flow collects one per request), each a flow span, three
node spans and two model calls.

    python benchmarks/trace_lens_speed.py [--traces 1000 20000 100000] [--repeat 20]

Prints, per store size: the store's size on disk, and the median and worst time of one lens
computation (open the store read-only, find the latest trace, build the span tree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from promptwise import span_attributes as A  # noqa: E402
from promptwise.lsp.traces import latest_figures  # noqa: E402
from promptwise.tracing.store import SpanRecord, SpanStore, store_path  # noqa: E402


def trace_records(index: int, flow_path: str, start_ns: int) -> list[SpanRecord]:
    trace_id = f"{index:032x}"
    flow = SpanRecord(trace_id, f"{index:012x}f000", None, "invoke_workflow triage", start_ns, start_ns + 900_000_000,
                      "ok", attributes={A.SPAN_KIND: A.SPAN_KIND_FLOW, A.FLOW_PATH: flow_path, A.FLOW_NAME: "triage"},
                      is_root=True)
    records = [flow]
    for n, node in enumerate(("lookup", "classify", "summarize")):
        node_id = f"{index:012x}a{n:03x}"
        begin = start_ns + n * 300_000_000
        records.append(SpanRecord(trace_id, node_id, flow.span_id, f"node {node}", begin, begin + 290_000_000, "ok",
                                  attributes={A.SPAN_KIND: A.SPAN_KIND_NODE, A.NODE_NAME: node}))
        if node != "lookup":
            records.append(SpanRecord(trace_id, f"{index:012x}b{n:03x}", node_id, "chat gpt-4o-mini", begin,
                                      begin + 280_000_000, "ok",
                                      attributes={A.SPAN_KIND: A.SPAN_KIND_LLM, A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                                                  A.GEN_AI_USAGE_INPUT_TOKENS: 600, A.GEN_AI_USAGE_OUTPUT_TOKENS: 40,
                                                  A.COST_USD: 0.0001}))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, nargs="+", default=[1000, 20000, 100000])
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    print(f"{'traces':>8} {'store MB':>9} {'median ms':>10} {'worst ms':>9}")
    for count in options.traces:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            flow_file = root / "flow.dag.yaml"
            flow_file.write_text("nodes: []\n")
            store = SpanStore.for_workspace(root)
            now = time.time_ns()
            batch: list[SpanRecord] = []
            for index in range(count):
                batch += trace_records(index + 1, str(flow_file.resolve()), now - (count - index) * 1_000_000_000)
                if len(batch) >= 6000:
                    store.write(batch)
                    batch = []
            store.write(batch)
            store.close()
            size = store_path(root).stat().st_size / 1e6
            timings = []
            for _ in range(options.repeat):
                started = time.perf_counter()
                figures = latest_figures(flow_file)
                timings.append((time.perf_counter() - started) * 1000)
            assert figures is not None and figures["trace_id"] == f"{count:032x}", figures
            print(f"{count:>8} {size:>9.1f} {statistics.median(timings):>10.2f} {max(timings):>9.2f}")


if __name__ == "__main__":
    main()
