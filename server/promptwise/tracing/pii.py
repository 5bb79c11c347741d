"""`tracing.pii` on spans: the policy (evaluation/pii_policy.py, re-exported here) applied to a
finished span's content before an exporter sends it (OTLP), as the span store applies it before
storing (tracing/processor.py)."""

from __future__ import annotations

from promptwise.evaluation.pii_policy import (  # noqa: F401 - the names tracing's callers import from here
    DROPPED,
    MODES,
    PiiKeyError,
    PiiPolicy,
    key_variable,
    policy_from_settings,
    resolve_key,
)


def governed_span(span, policy: PiiPolicy, names: frozenset[str]):
    """A copy of a finished SDK span whose content attributes, events and status message went
    through `policy`, for an exporter (the SDK's spans are read-only)."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    attributes = dict(span.attributes or {})
    governed = policy.attributes(attributes, names)
    events = [Event(event.name, policy.attributes(dict(event.attributes or {})), event.timestamp)
              for event in span.events or ()]
    status = span.status
    if status.description:
        status = Status(status.status_code, policy.text(status.description))
    return ReadableSpan(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                        attributes=governed, events=events, links=span.links, kind=span.kind, status=status,
                        start_time=span.start_time, end_time=span.end_time,
                        instrumentation_scope=span.instrumentation_scope)


class GoverningExporter:
    """A SpanExporter (by its methods: the SDK is the `otlp` extra, not imported with the policy)
    in front of another: each span's personal data handled before it leaves."""

    def __init__(self, inner, policy: PiiPolicy, names: frozenset[str]) -> None:
        self.inner, self.policy, self.names = inner, policy, names

    def export(self, spans):
        return self.inner.export([governed_span(span, self.policy, self.names) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
