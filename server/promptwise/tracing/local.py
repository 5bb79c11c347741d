"""Spans for the local span store alone: the engine's spans while no exporter listens.

The SDK's span is built to be exported: on every start a sampler, a lock, bounded attribute and
event containers, on every end a second, read-only copy of the span for the processors. When
the only consumer is our own span store (no OTLP endpoint, no user TracerProvider; a value
length limit cuts content as each span ends, tracing/limits.py), `configure` hands the engine a `LocalTracer` instead: its spans are OTel API
spans (a real SpanContext with ids from the provider's generator, current in the OTel context,
so the SDK's spans nest under them and they under the SDK's) that keep their fields in plain
slots and go to the store's processor as they are when they end. Measured: about half of what
the engine's three spans per batch row cost on the rows' thread (benchmarks/README.md,
"Tracing overhead"). With an exporter every span is the SDK's, as before.

Without the SDK (the core install: it comes with the `otlp` extra, for export) every span is a
LocalSpan: `LocalProvider` is then the process's TracerProvider, with the ids, resource and
span limits the SDK's would have (the standard OTEL_* limit variables included).
"""

from __future__ import annotations

import logging
import os
import random
import traceback
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes, _clean_attribute_value
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from promptwise.tracing.limits import cut_span

log = logging.getLogger(__name__)

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_UNSET = Status(StatusCode.UNSET)
_PLAIN = (str, bool, int, float)  # attribute values taken as they are (others go through the SDK's cleaning)


class LocalTracer(trace.Tracer):
    """Starts LocalSpans that end into `processor` (the store's StoreSpanProcessor)."""

    def __init__(self, processor, resource, id_generator, limits) -> None:
        self.processor = processor
        self.resource = resource
        self._new_trace_id = id_generator.generate_trace_id
        self._new_span_id = id_generator.generate_span_id
        self._random_ids = id_generator.is_trace_id_random()
        self.max_attributes = limits.max_span_attributes
        self.max_events = limits.max_events
        self.max_event_attributes = limits.max_event_attributes
        self.max_value_length = limits.max_span_attribute_length  # None: values kept whole
        self.max_event_value_length = limits.max_attribute_length
        # With a value length limit, spans cut their content as they end (tracing/limits.py): ids kept whole.
        self._span = LocalSpan if self.max_value_length is None and self.max_event_value_length is None \
            else CuttingLocalSpan

    def start_span(self, name, context=None, kind=trace.SpanKind.INTERNAL, attributes=None, links=None,
                   start_time=None, record_exception=True, set_status_on_exception=True) -> "LocalSpan":
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:  # every span recorded, as PipelineSampler does, under any parent
            trace_id, state = parent.trace_id, parent.trace_state
            flags = _SAMPLED_RANDOM if parent.trace_flags.random_trace_id else _SAMPLED
        else:
            parent, trace_id, state = None, self._new_trace_id(), None
            flags = _SAMPLED_RANDOM if self._random_ids else _SAMPLED
        span = self._span(self, name, SpanContext(trace_id, self._new_span_id(), False, flags, state), parent,
                         start_time or time_ns(), record_exception, set_status_on_exception)
        if attributes:
            span.set_attributes(attributes)
        return span

    def start_as_current_span(self, name, context=None, kind=trace.SpanKind.INTERNAL, attributes=None, links=None,
                              start_time=None, record_exception=True, set_status_on_exception=True,
                              end_on_exit=True):
        span = self.start_span(name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)
        return trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                              set_status_on_exception=set_status_on_exception)


class LocalSpan(trace.Span):
    """An OTel API span with what the span store reads of a finished SDK span (name, context,
    parent, times, status, attributes, events, resource)."""

    __slots__ = ("_tracer", "name", "context", "parent", "start_time", "end_time", "attributes", "events",
                 "_status", "dropped_attributes", "_record_exception", "_set_status_on_exception")

    def __init__(self, tracer: LocalTracer, name: str, context: SpanContext, parent: SpanContext | None,
                 start_time: int, record_exception: bool, set_status_on_exception: bool) -> None:
        self._tracer = tracer
        self.name = name
        self.context = context
        self.parent = parent
        self.start_time = start_time
        self.end_time: int | None = None
        self.attributes: dict[str, Any] = {}
        self.events: list[LocalEvent] | tuple = ()  # a list once an event comes (most spans have none)
        self._status = _UNSET
        self.dropped_attributes = 0
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception

    @property
    def resource(self):
        return self._tracer.resource

    @property
    def status(self) -> Status:
        return self._status

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attributes(self, attributes) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_checked_attributes(self, attributes: dict[str, Any]) -> None:
        """Attributes whose names and values are known to be what OTel accepts (the engine's own:
        engine/spans.py `_set_attributes`): stored as they are when there is room for them."""
        room = self._tracer.max_attributes
        if self.end_time is None and (room is None or len(self.attributes) + len(attributes) <= room):
            self.attributes.update(attributes)
        else:
            self.set_attributes(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if self.end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        if not key or not isinstance(key, str):
            log.warning("invalid attribute key `%s`: must be a non-empty string; dropped", key)
            self.dropped_attributes += 1
            return
        if type(value) not in _PLAIN:
            # the SDK's own cleaning (sequences, mappings, others); a length limit is applied at the end
            value = _clean_attribute_value(value, None)
            if value is None:  # a value OTel does not take: dropped, as the SDK drops it
                return
        attributes = self.attributes
        if key not in attributes and self._tracer.max_attributes is not None \
                and len(attributes) >= self._tracer.max_attributes:
            if not attributes:
                self.dropped_attributes += 1
                return
            del attributes[next(iter(attributes))]  # as the SDK: the oldest makes room
            self.dropped_attributes += 1
        attributes[key] = value

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self.end_time is not None:
            return
        if self._tracer.max_events is not None and len(self.events) >= self._tracer.max_events:
            return
        bounded = BoundedAttributes(self._tracer.max_event_attributes, attributes, immutable=True)
        if not self.events:
            self.events = []
        self.events.append(LocalEvent(name, bounded, timestamp or time_ns()))

    def add_link(self, context, attributes=None) -> None:  # links are not stored locally
        return None

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK's: OK is final, UNSET is ignored."""
        if self.end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(self, exception: BaseException, attributes=None, timestamp: int | None = None,
                         escaped: bool = False) -> None:
        """The `exception` event, with the attributes the SDK's span gives it (OTel's exception
        conventions; the names are written here: the semantic-conventions package is not needed)."""
        kind = type(exception)
        module = kind.__module__
        values = {
            "exception.type": f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            values.update(attributes)
        self.add_event("exception", values, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            log.warning("Calling end() on an ended span.")
            return
        self.end_time = end_time or time_ns()
        self._tracer.processor.on_end(self)

    def __exit__(self, kind, error, traceback) -> None:
        if error is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(error, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        self.end()

    def __repr__(self) -> str:
        return f'LocalSpan(name="{self.name}", context={self.context})'


class CuttingLocalSpan(LocalSpan):
    """A LocalSpan under a value length limit: its content cut as it ends, ids kept whole
    (tracing/limits.py), as CuttingPipeline cuts the SDK's spans."""

    __slots__ = ()

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            tracer = self._tracer
            cut_span(self.attributes, self.events, tracer.max_value_length, tracer.max_event_value_length)
        super().end(end_time)


class LocalEvent:
    """A span event as processors read the SDK's (name, attributes, timestamp)."""

    __slots__ = ("name", "attributes", "timestamp")

    def __init__(self, name: str, attributes, timestamp: int) -> None:
        self.name, self.attributes, self.timestamp = name, attributes, timestamp


# --- without the SDK: the process's provider ----------------------------------------------
class LocalSpanLimits:
    """The span limits the SDK reads from the standard environment variables (same defaults:
    128 attributes, 128 events, 128 attributes per event, values whole). A value that is no
    count is refused (ValueError naming the variable), as the SDK refuses it."""

    def __init__(self) -> None:
        shared = _limit("OTEL_ATTRIBUTE_COUNT_LIMIT", None)
        count = 128 if shared is None else shared
        self.max_span_attributes = _limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", count)
        self.max_events = _limit("OTEL_SPAN_EVENT_COUNT_LIMIT", 128)
        self.max_event_attributes = _limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", count)
        self.max_attribute_length = _limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", None)
        self.max_span_attribute_length = _limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", self.max_attribute_length)


def _limit(variable: str, default: int | None) -> int | None:
    text = os.environ.get(variable)
    if text is None:
        return default
    text = text.strip().lower()
    if text == "unset":  # the SDK's word for no limit
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{variable} must be a whole number, 0 or more (or 'unset'), but is {text!r}")
    return value


class RandomIds:
    """Trace and span ids as the SDK's default generator makes them: random, never zero (the
    invalid id)."""

    @staticmethod
    def generate_span_id() -> int:
        return _random_bits(64)

    @staticmethod
    def generate_trace_id() -> int:
        return _random_bits(128)

    @staticmethod
    def is_trace_id_random() -> bool:
        return True


def _random_bits(bits: int) -> int:
    value = 0
    while value == 0:
        value = random.getrandbits(bits)
    return value


class LocalResource:
    """What the span store reads of the SDK's resource: its attributes (service.name)."""

    __slots__ = ("attributes",)

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.attributes = attributes


class LocalProvider(trace.TracerProvider):
    """The process's TracerProvider when the OpenTelemetry SDK is not installed, and the switch
    `tracing.configure` turns, as it turns the SDK provider's Pipeline (tracing/pipeline.py):
    `replace((store_processor,))` records spans into the local store, `replace(())` stops.
    Without the SDK there is no exporter, so the store's processor is the only one. Callers keep
    the tracer `trace.get_tracer` gave them for the life of the process: it starts the current
    LocalTracer's spans, or spans that record nothing while tracing is off (OTEL_SDK_DISABLED
    too, as it silences the SDK's provider)."""

    def __init__(self, service_name: str) -> None:
        self.resource = LocalResource({"service.name": service_name})
        self.id_generator = RandomIds()
        self.limits = LocalSpanLimits()
        self.disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        self.processors: tuple = ()
        self.tracer: LocalTracer | None = None  # the tracer of the current processor (None: off)
        self._front = _CurrentTracer(self)

    @property
    def active(self) -> bool:
        return bool(self.processors)

    def replace(self, processors: tuple) -> tuple:
        """Record into `processors` from now on (at most one: the store's); returns the old ones
        for the caller to shut down. A span started before ends into the processor it started with."""
        old, self.processors = self.processors, tuple(processors)
        self.tracer = (LocalTracer(self.processors[0], self.resource, self.id_generator, self.limits)
                       if self.processors and not self.disabled else None)
        return old

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self.processors)

    def get_tracer(self, instrumenting_module_name: str = "", *args, **kwargs) -> trace.Tracer:
        return self._front

    def unrecorded_span(self, context=None) -> trace.Span:
        """A span that records nothing, with ids as the SDK gives a span its sampler dropped
        (the parent's trace), so code that reads the current span's ids still finds some."""
        parent = trace.get_current_span(context).get_span_context()
        trace_id = parent.trace_id if parent.is_valid else self.id_generator.generate_trace_id()
        return trace.NonRecordingSpan(SpanContext(trace_id, self.id_generator.generate_span_id(), False,
                                                  TraceFlags(TraceFlags.DEFAULT)))


class _CurrentTracer(trace.Tracer):
    """The tracer LocalProvider hands out: the spans of its current LocalTracer."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    def start_span(self, name, context=None, kind=trace.SpanKind.INTERNAL, attributes=None, links=None,
                   start_time=None, record_exception=True, set_status_on_exception=True) -> trace.Span:
        tracer = self._provider.tracer
        if tracer is None:
            return self._provider.unrecorded_span(context)
        return tracer.start_span(name, context, kind, attributes, links, start_time, record_exception,
                                 set_status_on_exception)

    start_as_current_span = LocalTracer.start_as_current_span  # through this class's start_span
