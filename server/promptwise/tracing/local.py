"""Spans for the local span store alone: the engine's spans while no exporter listens.

The SDK's span is built to be exported: on every start a sampler, a lock, bounded attribute and
event containers, on every end a second, read-only copy of the span for the processors. When
the only consumer is our own span store (no OTLP endpoint, no user TracerProvider, no value
length limit), `configure` hands the engine a `LocalTracer` instead: its spans are OTel API
spans (a real SpanContext with ids from the provider's generator, current in the OTel context,
so the SDK's spans nest under them and they under the SDK's) that keep their fields in plain
slots and go to the store's processor as they are when they end. Measured: about half of what
the engine's three spans per batch row cost on the rows' thread (benchmarks/README.md,
"Tracing overhead"). With an exporter every span is the SDK's, as before.
"""

from __future__ import annotations

import logging
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes, _clean_attribute_value
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

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

    def start_span(self, name, context=None, kind=trace.SpanKind.INTERNAL, attributes=None, links=None,
                   start_time=None, record_exception=True, set_status_on_exception=True) -> "LocalSpan":
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:  # every span recorded, as PipelineSampler does, under any parent
            trace_id, state = parent.trace_id, parent.trace_state
            flags = _SAMPLED_RANDOM if parent.trace_flags.random_trace_id else _SAMPLED
        else:
            parent, trace_id, state = None, self._new_trace_id(), None
            flags = _SAMPLED_RANDOM if self._random_ids else _SAMPLED
        span = LocalSpan(self, name, SpanContext(trace_id, self._new_span_id(), False, flags, state), parent,
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
        self.events: list[Event] | tuple = ()  # a list once an event comes (most spans have none)
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
            value = _clean_attribute_value(value, None)  # the SDK's own cleaning (sequences, mappings, others)
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
        self.events.append(Event(name, bounded, timestamp or time_ns()))

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

    record_exception = SdkSpan.record_exception  # the SDK's `exception` event (through add_event)

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
