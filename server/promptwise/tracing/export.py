"""OTLP export through the OpenTelemetry SDK's own OTLP/HTTP exporter, when the standard
environment variables ask for it.

The exporter reads its endpoint, headers, timeout and compression from the standard
OTEL_EXPORTER_OTLP_* variables itself; we only decide whether to build it, and hand it to
the SDK's BatchSpanProcessor (a bounded queue that drops when full, off the request path).
The exporter and the SDK ship in the `otlp` extra (the exporter brings protobuf), so the core
install stays light; without them a set endpoint is named once in a warning, with the
`pip install` that brings export, and traces stay in the local store.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from promptwise.common.extras import missing_extra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXTRA = "otlp"
EXTRA_PACKAGES = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http")
_missing_said = False  # the warning about the missing extra, once per process
# Set by a process that said that warning for the worker processes it starts (serve --workers N),
# which inherit it: the user reads it once, not once per worker.
SAID_VARIABLE = "PROMPTWISE_OTLP_EXTRA_WARNED"
EXPORT_MODULES = ("opentelemetry.sdk.trace.export", "opentelemetry.exporter.otlp.proto.http.trace_exporter")


def otlp_requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def otlp_processor(queue_size: int = 2048, pii=None) -> SpanProcessor | None:
    """A BatchSpanProcessor with the SDK's OTLP/HTTP exporter, or None when no endpoint is set
    (or the exporter is not installed: then a warning says which extra brings it). With a `pii`
    policy (tracing/pii.py) every span's content goes through it in the exporter's thread."""
    if not otlp_requested():
        return None
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()
    if protocol != "http/protobuf":
        log.warning("tracing: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; Promptwise exports OTLP over "
                    "http/protobuf (set the variable to http/protobuf and point the endpoint at port 4318)", protocol)
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _say_missing()
        return None
    exporter = OTLPSpanExporter()
    if pii is not None:
        from promptwise.span_attributes import CONTENT_ATTRIBUTES
        from promptwise.tracing.pii import GoverningExporter

        exporter = GoverningExporter(exporter, pii, CONTENT_ATTRIBUTES)
    batch = BatchSpanProcessor(exporter, max_queue_size=queue_size)
    return SampledExport(batch) if os.environ.get("OTEL_TRACES_SAMPLER", "").strip() else batch


class SampledExport:
    """OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (parentbased_traceidratio 0.1...) applied to
    the OTLP export alone. Our provider records every span (tracing/pipeline.PipelineSampler): the
    local store feeds metering, monitoring, `traces show` of a request id and the editor's lenses,
    so it keeps every trace; only what leaves the machine is sampled. The SDK's sampler decides
    once per trace, at its local root (no parent, or a caller's traceparent, whose sampled flag the
    parentbased_* samplers follow), and the trace's other spans go with that decision: a trace is
    exported whole or not at all."""

    _MAX_OPEN = 100_000  # open traces remembered; past it (roots that never end) the memory is reset

    def __init__(self, processor) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.sdk.trace.sampling import _get_from_env_or_default  # the SDK's own reading

        self.processor = processor
        self.sampler = _get_from_env_or_default()
        self._open: dict[int, bool] = {}  # trace id -> exported, while its local root is open
        self._no_parent = Context()  # a root's: not whatever context is current when it starts
        self._in_context, self._remote = trace.set_span_in_context, trace.NonRecordingSpan

    def _decide(self, span) -> bool:
        parent = span.parent
        context = self._no_parent if parent is None else self._in_context(self._remote(parent))
        # The variables name only the SDK's built-in samplers, which decide on the trace id and the
        # parent alone: the span's attributes (a copy, 1.5 us) are not read.
        result = self.sampler.should_sample(context, span.context.trace_id, span.name, span.kind)
        return result.decision.is_sampled()

    def on_start(self, span, parent_context=None) -> None:
        parent = span.parent
        if parent is None or parent.is_remote:  # the trace's root in this process
            if len(self._open) >= self._MAX_OPEN:
                self._open.clear()
            self._open[span.context.trace_id] = self._decide(span)

    def on_end(self, span) -> None:
        parent = span.parent
        trace_id = span.context.trace_id
        if parent is None or parent.is_remote:
            exported = self._open.pop(trace_id, None)
        else:
            exported = self._open.get(trace_id)
        if exported is None:  # its root ended first, or began before this processor
            exported = self._decide(span)
        if exported:
            self.processor.on_end(span)

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)


def warn_before_workers() -> None:
    """For a process about to start workers that each configure tracing (`serve --workers N`):
    say here, once, that OTLP export lacks its extra (when an endpoint asks for it), and mark
    the environment the workers inherit so that none of them says it again."""
    if not otlp_requested():
        return
    import importlib.util

    try:
        installed = all(importlib.util.find_spec(name) is not None for name in EXPORT_MODULES)
    except (ImportError, ValueError):
        installed = False
    if not installed:
        _say_missing()
        os.environ[SAID_VARIABLE] = "1"


def _say_missing() -> None:
    """Once per process (a language server configures tracing per workspace), and not in the
    workers of a process that said it (warn_before_workers): which variable asks for export,
    what it needs, the `pip install` that brings it, and that tracing goes on locally."""
    global _missing_said
    if _missing_said or os.environ.get(SAID_VARIABLE):
        return
    _missing_said = True
    variable = next(name for name in ENDPOINT_VARIABLES if os.environ.get(name, "").strip())
    log.warning("tracing: %s; traces are kept in the local store only until then",
                missing_extra(f"OTLP export ({variable} is set)", EXTRA_PACKAGES, EXTRA))
