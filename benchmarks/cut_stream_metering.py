"""What metering a cut streamed call by estimate costs (engine/usage.py, engine/llm.py).

    .venv/bin/python benchmarks/cut_stream_metering.py [--pieces 200000] [--rounds 5]

Prints, min of `--rounds`, with the load average:
- the normal path: TokenSink.emit per streamed piece, today's (keeps the text received) against
  the same class without that list append, alternated A/B/A/B;
- the cut path only: the tokenizer's first load in a fresh process, then estimate_cut_call on a
  ~2 KB prompt and a ~400-token reply received so far (tokenizer loaded);
- the export sampler (tracing/export.SampledExport, only when OTEL_TRACES_SAMPLER is set): the
  on_start + on_end of one span of a 3-span trace, forwarded to a processor that does nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from promptwise.engine.streaming import TokenSink


class SinkBefore(TokenSink):
    """TokenSink.emit as it was before the text received was kept."""

    def emit(self, text: str) -> None:
        if text:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self.queue.put_nowait(text)


def per_piece_ns(sink_class, pieces: int) -> float:
    sink = sink_class()
    emit = sink.emit
    started = time.perf_counter_ns()
    for _ in range(pieces):
        emit("word ")
    return (time.perf_counter_ns() - started) / pieces


def estimate_ms(rounds: int) -> float:
    from promptwise.costing.catalog import load_catalog
    from promptwise.engine.usage import estimate_cut_call

    entry = load_catalog().lookup("gpt-4o-mini").model
    messages = [{"role": "system", "content": "You triage logs. " * 20},
                {"role": "user", "content": "ERROR disk full on /var at 03:12; " * 50}]
    received = ["the disk ", "filled up ", "because "] * 130
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        estimate_cut_call(entry, messages, {}, received)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def sampled_export_us(spans: int) -> float:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from promptwise.tracing.export import SampledExport

    class Nothing:
        def on_end(self, span) -> None:
            pass

    os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    os.environ["OTEL_TRACES_SAMPLER_ARG"] = "0.1"
    export = SampledExport(Nothing())
    tracer = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False).get_tracer("bench")  # records all, as ours
    trace_spans = []
    for _ in range(spans // 3):
        root = tracer.start_span("root")
        context = trace.set_span_in_context(root)
        trace_spans.append((root, tracer.start_span("node", context=context),
                            tracer.start_span("call", context=context)))
    started = time.perf_counter_ns()
    for trio in trace_spans:
        for span in trio:
            export.on_start(span)
        for span in reversed(trio):
            export.on_end(span)
    return (time.perf_counter_ns() - started) / (3 * len(trace_spans)) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")
    before, after = [], []
    for _ in range(args.rounds):  # A/B alternated on a shared machine
        before.append(per_piece_ns(SinkBefore, args.pieces))
        after.append(per_piece_ns(TokenSink, args.pieces))
    print(f"normal path, TokenSink.emit per piece: before {min(before):.0f} ns, now {min(after):.0f} ns "
          f"(+{min(after) - min(before):.0f} ns)")
    load = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                           "from promptwise.costing.tokenizers import get_encoding; get_encoding('o200k_base'); "
                           "print(round((time.perf_counter() - t) * 1000))"], capture_output=True, text=True)
    print(f"cut path: tokenizer first load {load.stdout.strip()} ms (in a thread, once per process)")
    print(f"cut path: estimate_cut_call, ~2 KB prompt + ~400 tokens received: {estimate_ms(args.rounds):.2f} ms")
    print(f"export sampler (only with OTEL_TRACES_SAMPLER): {sampled_export_us(30_000):.2f} us per span")
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")


if __name__ == "__main__":
    main()
