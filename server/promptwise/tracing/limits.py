"""The attribute value length limit (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)
as a user of Promptwise means it: bound the size of what is stored and exported (prompts, replies,
inputs, outputs, anything we do not know), never our identifying attributes.

Left to the SDK, the limit cuts every string attribute: a run id `chat-bot_202`, a content hash
`sha256:841bc`, a flow path cut to 12 characters, and `traces list --run`, monitoring by version
or flow, and the trace view's lookups no longer find the trace; plus one SDK warning line per cut
value. So while the provider is ours, `tracing.configure` gives the SDK no value length limit and
cuts here instead, once per span as it ends, before any processor (local store, OTLP exporter)
sees it: tracing/pipeline.py for the SDK's spans, tracing/local.py for ours. Without a limit
variable nothing here runs. Cutting is what the user asked for, so it is not logged.
"""

from __future__ import annotations

from typing import Any

from promptwise import span_attributes as a

# Identifiers, names and small enumerations: what finds, groups and joins traces. Kept whole under
# any limit, with every `promptwise.*` name that is not content (ids, hashes, paths, versions...).
KEPT_WHOLE = frozenset({
    a.GEN_AI_OPERATION_NAME, a.GEN_AI_PROVIDER_NAME, a.GEN_AI_REQUEST_MODEL, a.GEN_AI_RESPONSE_MODEL,
    a.GEN_AI_RESPONSE_ID, a.GEN_AI_RESPONSE_FINISH_REASONS, a.GEN_AI_TOOL_NAME, a.GEN_AI_WORKFLOW_NAME,
    a.GEN_AI_CONVERSATION_ID, a.GEN_AI_EVALUATION_NAME, a.GEN_AI_EVALUATION_SCORE_LABEL, a.ERROR_TYPE,
    a.HTTP_ROUTE, a.HTTP_REQUEST_METHOD, a.URL_PATH, a.URL_SCHEME, a.SERVER_ADDRESS, a.NETWORK_PROTOCOL_VERSION,
    "exception.type",  # on exception events: the class that failed (its message and stack are content)
})


def kept_whole(key: str) -> bool:
    """Whether the attribute `key` is never cut by a value length limit."""
    return key in KEPT_WHOLE or (key.startswith("promptwise.") and key not in a.CONTENT_ATTRIBUTES)


def cut_attributes(attributes: dict, limit: int) -> None:
    """Cut, in place, every string in `attributes` (a plain dict) longer than `limit`, except in
    the attributes kept whole: as the SDK cuts (strings and the strings in sequences), silently.
    Short strings and numbers are passed over before the name is looked at (most values are)."""
    for key, value in attributes.items():
        if isinstance(value, str):
            if len(value) > limit and not kept_whole(key):
                attributes[key] = value[:limit]  # a new value for a key already there: safe while iterating
        elif isinstance(value, (tuple, list)) and not kept_whole(key):
            cut = _cut(value, limit)
            if cut is not value:
                attributes[key] = cut


def cut_span(attributes, events, limit: int | None, event_limit: int | None) -> None:
    """Cut an ended span's attribute values (`limit`) and its events' (`event_limit`), in place:
    the containers of a span that just ended (no code writes to them again). `attributes`: a dict
    or the SDK's BoundedAttributes; `events`: objects with such `.attributes`."""
    if limit is not None:
        cut_attributes(_plain(attributes), limit)
    if event_limit is not None:
        for event in events or ():
            cut_attributes(_plain(event.attributes), event_limit)


def _plain(attributes) -> dict:
    """The dict inside the SDK's BoundedAttributes (immutable once the span ended: its dict is not)."""
    if attributes is None:
        return {}
    inner = getattr(attributes, "_dict", attributes)
    return inner if isinstance(inner, dict) else {}


def _cut(value: Any, limit: int) -> Any:
    """`value` with its strings cut to `limit` (the same object when nothing is longer)."""
    if isinstance(value, str):
        return value[:limit] if len(value) > limit else value
    if isinstance(value, (tuple, list)):
        cut = tuple(_cut(item, limit) for item in value)
        return value if all(new is old for new, old in zip(cut, value)) else cut
    return value
