"""The cheaper paths of the spans' per-row work give what the plain ones gave.

Each test compares a path made cheaper for tracing's CPU per row (benchmarks/tracing_cost.py)
with the plain algorithm it replaces, on generated values.
"""

from __future__ import annotations

import json
import random

import pytest

from promptwise.engine import spans
from promptwise.json_text import encoder

_WORDS = ["plain", 'quo"te', "back\\slash", "line\nbreak", "tab\t", "é ü ß", "\x01ctl", "\u2028sep", "emoji 🙂",
          "", "0", "https://u:p@h/x?sig=abc"]


def _value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(10 if depth < 4 else 6)
    if choice == 0:
        return rng.choice(_WORDS) + str(rng.randrange(100))
    if choice == 1:
        return rng.randrange(-10**12, 10**12)
    if choice == 2:
        return rng.choice([0.1, -2.5, 1e-7, 1e300, float("nan"), float("inf"), float("-inf"), 3.0])
    if choice == 3:
        return rng.choice([True, False, None])
    if choice == 4:
        return object()  # what JSON cannot show goes through `default`
    if choice == 5:
        return rng.choice(_WORDS)
    if choice in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 8:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys = [rng.choice(_WORDS), rng.randrange(50), 2.5, None, True]
    return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


@pytest.mark.parametrize("default", [str, lambda value: f"<{type(value).__name__}>"])
def test_prebuilt_encoder_writes_what_json_encoder_writes(default):
    fast = encoder(default)
    plain = json.JSONEncoder(ensure_ascii=False, default=default).encode
    rng = random.Random(7)
    for _ in range(3000):
        value = _value(rng)
        assert fast(value) == plain(value)


def test_prebuilt_encoder_refuses_a_value_holding_itself():
    looped: list = []
    looped.append(looped)
    with pytest.raises(RecursionError):
        encoder(str)(looped)


def _shaped_plainly(message: dict) -> dict:
    """What input_messages made of one message before its shortcut for text content."""
    role = str(message.get("role") or "user")
    parts = spans._content_parts(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                      "arguments": spans._clip(function.get("arguments"))})
    if role == "tool":
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                  "response": spans._clip(message.get("content"))}]
    return {"role": role, "parts": parts}


def test_input_messages_shortcut_shapes_as_the_plain_walk():
    long_text = "x" * (spans.MAX_TEXT_CHARS + 10)
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
    messages = [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": long_text},
        {"role": None, "content": "no role"},
        {"content": ""},
        {"role": "assistant", "content": "calling", "tool_calls": [call]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
        {"role": "user", "content": [{"type": "text", "text": "part"}, {"type": "image_url", "image_url": {"url": "https://i"}}]},
        {"role": "user", "content": "text", "name": "someone"},
    ]
    assert spans.input_messages(messages) == [_shaped_plainly(message) for message in messages]
    assert spans.input_messages(messages)[1]["parts"][0]["content"].endswith("[10 more characters]")


def test_output_message_shortcut_shapes_as_the_plain_walk():
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    replies = [{"role": "assistant", "content": "Fine."}, {"content": "no role"}, {"role": None, "content": "none"},
               {"role": "assistant", "content": "x" * (spans.MAX_TEXT_CHARS + 1)},
               {"role": "assistant", "content": "calling", "tool_calls": [call]},
               {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "content": "odd"},
               {"role": "assistant", "content": [{"type": "text", "text": "parts"}]}]
    for reply in replies:
        for finish_reason in ("stop", None, "tool_calls"):
            plain = _shaped_plainly({"role": "assistant", **reply})
            plain["finish_reason"] = finish_reason or "stop"
            assert spans.output_message(reply, finish_reason) == plain


def _strings_plainly(value) -> list[str]:
    """pii_policy._strings as it was: a list built per level."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*_strings_plainly(key), *_strings_plainly(item))]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _strings_plainly(item)]
    return []


def test_the_strings_of_nested_data_come_in_the_order_the_plain_walk_gave():
    from promptwise.evaluation.pii_policy import _strings

    rng = random.Random(5)
    for _ in range(3000):
        value = _value(rng)
        assert _strings(value) == _strings_plainly(value)
    assert _strings({("a", ("b", 1)): ["c", {"d": "e"}]}) == ["a", "b", "c", "d", "e"]


def test_a_content_value_that_recurs_whole_is_skipped_once_its_strings_are_known_clean():
    """A node returning the same lookup table on every request: after one batch has found its
    strings clean, later batches skip the value without decoding it. Records stay what the
    policy's walk makes of them; a value holding personal data never becomes such a value."""
    from promptwise import span_attributes as A
    from promptwise.tracing import processor
    from promptwise.tracing.pii import PiiPolicy
    from promptwise.tracing.processor import CleanTexts, govern_content
    from promptwise.tracing.store import SpanRecord

    table = json.dumps({"categories": {"timeout": "a call\nwaited too long", "access": "refused"}}, ensure_ascii=False)
    leaky = json.dumps({"owner": "mail\njane.doe@example.com"}, ensure_ascii=False)
    policy = PiiPolicy("redact")
    clean = CleanTexts()
    decoded = []
    plain_content_strings = processor._content_strings

    def counting(value):
        decoded.append(value)
        return plain_content_strings(value)

    processor._content_strings = counting
    try:
        for number in range(3):
            values = [{A.NODE_OUTPUT: table}, {A.NODE_OUTPUT: leaky}, {A.NODE_INPUTS: table, A.FLOW_INPUTS: f'{{"n": {number}}}'}]
            records = [SpanRecord("t" * 32, "s" * 16, None, "span", 0, 0, attributes=dict(v)) for v in values]
            govern_content(records, policy, clean)
            assert [r.attributes for r in records] == [policy.attributes(dict(v), A.CONTENT_ATTRIBUTES) for v in values]
    finally:
        processor._content_strings = plain_content_strings
    # batch 1 decodes the table twice (its strings still new), batch 2 once (all known: remembered whole), batch 3 never
    assert decoded.count(table) == 3 and table in clean.documents
    assert decoded.count(leaky) == 3 and leaky not in clean.documents
    small = CleanTexts()  # strings and documents emptied together when full
    small.MAX_CHARS = 12
    small.add("abcdef")
    small.add_document('["abcdef"]')
    small.add("ghijk")
    assert "ghijk" in small and "abcdef" not in small and not small.documents
