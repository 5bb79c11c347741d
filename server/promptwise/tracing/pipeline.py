"""The switch between the process-wide TracerProvider and the current span processors.

OpenTelemetry lets a process set its global TracerProvider once, but a language server opens
several workspaces and tests configure tracing many times: so the provider holds one
`Pipeline` whose processors `configure` replaces. While the pipeline is empty the sampler
drops every span, so the engine's spans cost what the no-op API costs.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import get_current_span

from promptwise.tracing.limits import cut_span


class Pipeline(SpanProcessor):
    def __init__(self) -> None:
        self.processors: tuple[SpanProcessor, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.processors)

    def replace(self, processors: tuple[SpanProcessor, ...]) -> tuple[SpanProcessor, ...]:
        """Swap in new processors (one assignment: spans ending meanwhile see the old or the new
        tuple, never a half-built one); returns the old ones for the caller to shut down."""
        old, self.processors = self.processors, processors
        return old

    def on_start(self, span, parent_context=None) -> None:
        for processor in self.processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span) -> None:
        for processor in self.processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.replace(()):
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self.processors)


class CuttingPipeline(Pipeline):
    """A Pipeline for a process with an attribute value length limit (OTEL_*_VALUE_LENGTH_LIMIT):
    each span's content is cut to the limit as it ends, before any processor sees it, and its
    identifying attributes are kept whole (tracing/limits.py). Only then is this class used, so
    the default path pays nothing for it."""

    def __init__(self, limit: int | None, event_limit: int | None) -> None:
        super().__init__()
        self.limit, self.event_limit = limit, event_limit

    def on_end(self, span) -> None:
        if self.processors:
            # the ended span's own containers (ReadableSpan's fields; its public views are read-only)
            cut_span(getattr(span, "_attributes", None), getattr(span, "_events", ()), self.limit, self.event_limit)
        super().on_end(span)


_RECORD = SamplingResult(Decision.RECORD_AND_SAMPLE)
_DROP = SamplingResult(Decision.DROP)


class PipelineSampler(Sampler):
    """Records every span while the pipeline has processors, none otherwise. Every span, even
    under a remote parent that was not sampled: the local store feeds monitoring, which must
    see all traffic."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        if not self.pipeline.processors:
            return _DROP
        parent_state = get_current_span(parent_context).get_span_context().trace_state
        if attributes or parent_state:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent_state)
        return _RECORD

    def get_description(self) -> str:
        return "PromptwisePipelineSampler"
