"""Tracing's CPU cost per flow row, in-process: what the engine's spans cost a batch row.

    .venv/bin/python benchmarks/tracing_cost.py [--rows 3000] [--repeat 5] [--no-capture]

Each row is what `batch_speed.py`'s flow records: a flow span (inputs and outputs), an llm
node span, and a model-call span with the rendered messages, usage, cost and the reply, written
to a real `.promptwise/traces.sqlite`. The model call itself is not made, so the figures are
tracing's own: CPU per row on the thread that runs the rows (the request path), on the span
store's writer thread, and garbage collections, with tracing off and on, alternately, `--repeat`
times (medians and spread). Less noisy on a busy machine than `batch_speed.py --tracing both`,
which shows what the same cost does to a whole batch's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from promptwise import tracing
from promptwise.engine import spans

REPLY = "The sea covers about seventy percent of the Earth."


class _Flow:
    """Stands in for a prepared one-llm-node flow: the spans its run_line opens are the engine's."""

    kind, variants = "dag", None

    def __init__(self, root: Path) -> None:
        self.path = str(root / "flow" / "flow.dag.yaml")
        self.connection = SimpleNamespace(name="local", is_azure=False)
        self.result = SimpleNamespace(
            usage=SimpleNamespace(prompt_tokens=24, completion_tokens=11, cached_tokens=0), cached=False, attempts=1,
            model="gpt-4o-mini", finish_reason="stop", message={"role": "assistant", "content": REPLY})

    async def run_line(self, inputs: dict, context) -> SimpleNamespace:
        with spans.node_span("chat", "llm", {"question": inputs["question"]}) as node:
            messages = [{"role": "system", "content": "You answer in one short sentence."},
                        {"role": "user", "content": inputs["question"]}]
            with spans.model_call_span("chat", "gpt-4o-mini", self.connection, messages, {"temperature": 0}) as call:
                spans.record_chat_result(call, self.result, 0.0000123)
            spans.node_output(node, REPLY)
        return SimpleNamespace(status="completed", outputs={"answer": REPLY}, error=None, error_kind=None)


def _measure(root: Path, rows: int, on: bool, capture: bool) -> dict:
    (root / "promptwise.yaml").write_text(
        f"tracing: {{enabled: {str(on).lower()}, capture_content: {str(capture).lower()}}}\n")
    tracing.configure(root)
    flow = _Flow(root)
    collections = [0]
    counter = lambda phase, info: collections.__setitem__(0, collections[0] + (phase == "start"))  # noqa: E731
    gc.callbacks.append(counter)

    context = SimpleNamespace(executor=None)  # what traced_line reads of a run's context

    async def run() -> None:
        for index in range(rows):
            await spans.traced_line(flow, {"question": f"What is fact number {index} about the sea?"}, context,
                                    run_id="bench", row_index=index)

    process, thread = time.process_time(), time.thread_time()
    asyncio.run(run())
    thread = time.thread_time() - thread
    tracing.shutdown()  # the writer thread finishes the last spans
    process = time.process_time() - process
    gc.callbacks.remove(counter)
    return {"main": thread / rows * 1e6, "total": process / rows * 1e6, "gc": collections[0] / rows * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-capture", action="store_true", help="without prompts, replies and values")
    args = parser.parse_args()
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="promptwise-tracing-cost-") as folder:
        root = Path(folder)
        (root / "flow").mkdir()
        (root / "flow" / "flow.dag.yaml").write_text("inputs: {}\noutputs: {}\nnodes: []\n")
        _measure(root, 200, True, not args.no_capture)  # imports and the store's creation, not measured
        for _ in range(args.repeat):
            for on in (False, True):
                runs[on].append(_measure(root, args.rows, on, not args.no_capture))
    print(f"{args.rows} rows x {args.repeat} runs each, off and on alternately; content capture "
          f"{'off' if args.no_capture else 'on'}; CPU microseconds per row, median (min-max)")
    for on in (False, True):
        def figure(name: str) -> str:
            values = [run[name] for run in runs[on]]
            return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
        print(f"tracing {'on ' if on else 'off'}: rows' thread {figure('main')}, whole process {figure('total')} "
              f"(writer thread included), gc collections per 1000 rows {figure('gc')}")
    extra = statistics.median(run["total"] for run in runs[True]) - statistics.median(run["total"] for run in runs[False])
    print(f"tracing's cost: {extra:.0f} us of CPU per row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
