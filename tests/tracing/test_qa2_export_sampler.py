"""OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG apply to the OTLP export, as users of the OTel
SDK expect, while the local store keeps every trace (metering, monitoring, `traces show` of a
request id and the editor's lenses read it). A trace is exported whole or not at all. Before,
the variables were ignored: our provider's own sampler records everything, so every trace left
the machine. Received by the real OTLP/HTTP receiver of test_otlp_export."""

from __future__ import annotations

import asyncio

from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from promptwise import tracing
from promptwise.engine.runner import run_flow
from promptwise.tracing.store import SpanStore
from test_otlp_export import FLOW, OtlpReceiver

SPANS_PER_TRACE = 3  # flow, node, model call


def run_traced(root, monkeypatch, sampler: str, arg: str | None, runs: int, parents=()) -> tuple[dict, set]:
    """`runs` runs (then one per caller traceparent in `parents`) with the sampler variables set:
    (exported trace id -> its span count, the trace ids in the local store)."""
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
        if arg is not None:
            monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
        assert tracing.configure(root, service_name="promptwise-test")

        async def runs_of() -> None:
            for i in range(runs):
                result = await run_flow(root / "hello", {"question": f"capital of France {i}"}, use_cache=False)
                assert result.status == "completed"
            for parent in parents:
                token = otel_context.attach(extract({"traceparent": parent}))
                try:
                    result = await run_flow(root / "hello", {"question": "capital of France"}, use_cache=False)
                finally:
                    otel_context.detach(token)
                assert result.status == "completed"

        asyncio.run(runs_of())
        tracing.shutdown()  # flushes the export
    exported: dict[str, int] = {}
    for _, span in receiver.spans():
        exported[span.trace_id.hex()] = exported.get(span.trace_id.hex(), 0) + 1
    store = SpanStore.for_workspace(root, readonly=True)
    stored = {summary["trace_id"] for summary in store.list_traces(limit=1000)}
    store.close()
    return exported, stored


def test_a_trace_id_ratio_samples_the_export_and_the_local_store_keeps_every_trace(traced_workspace, monkeypatch):
    root = traced_workspace(FLOW)
    exported, stored = run_traced(root, monkeypatch, "traceidratio", "0.5", runs=8)
    assert len(stored) == 8  # every trace, locally
    ratio = TraceIdRatioBased(0.5)
    chosen = {trace_id for trace_id in stored if ratio.should_sample(None, int(trace_id, 16), "x").decision.is_sampled()}
    assert set(exported) == chosen  # exactly the traces the SDK's sampler takes at that ratio
    assert all(count == SPANS_PER_TRACE for count in exported.values()), exported  # whole traces


def test_always_off_exports_nothing_and_parentbased_follows_the_callers_sampled_flag(traced_workspace, monkeypatch):
    root = traced_workspace(FLOW)
    exported, stored = run_traced(root, monkeypatch, "always_off", None, runs=2)
    assert exported == {} and len(stored) == 2
    tracing.shutdown()

    sampled = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    not_sampled = "00-" + "c" * 32 + "-" + "d" * 16 + "-00"
    exported, stored = run_traced(root, monkeypatch, "parentbased_always_on", None, runs=0,
                                  parents=(sampled, not_sampled))
    assert exported == {"a" * 32: SPANS_PER_TRACE}
    assert {"a" * 32, "c" * 32} <= stored  # the caller's unsampled trace is kept locally all the same


def test_traces_help_says_the_sampler_applies_to_the_export_only():
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "--help"], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "OTEL_TRACES_SAMPLER" in text and "the local store keeps every trace" in text
