"""Personal data in stored and exported traffic (`tracing.pii: redact|hash|drop`): a real flow
run against the fake OpenAI server, whose input and reply both carry personal data; the span
store's files and the bytes a real OTLP/HTTP receiver got never hold the raw values."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_otlp_export import FLOW, OtlpReceiver, attributes

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.config import ConfigError
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.runner import run_flow
from promptwise.evaluation.safety import ALL_PII_KINDS, bsn_valid, find_pii
from promptwise.tracing.pii import DROPPED, PiiPolicy
from promptwise.tracing.store import SpanStore

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
SSN = "123-45-6789"
NIR = "1 85 05 78 006 084 91"
DNI, HETU, BSN, NINO, PHONE = "12345678Z", "131052-308T", "111222333", "AB 12 34 56 C", "+31 20 123 4567"
RAW = (EMAIL, CARD, IBAN, SSN, NIR, DNI, HETU, BSN, NINO, PHONE, "Jane Doe", "Pekka Virtanen")
QUESTION = (f"capital of France? Name: Jane Doe, mail {EMAIL}, IBAN {IBAN}, SSN {SSN}, DNI {DNI}, HETU {HETU}, "
            f"BSN {BSN}, NINO {NINO}, phone {PHONE}, cc Mr Pekka Virtanen")
KEY = "k" * 32


@pytest.fixture(scope="module")
def fake_server():
    with FakeOpenAI(rules=[(r"capital of France", f"Paris. I wrote to {EMAIL}; card {CARD}; NIR {NIR}")]) as server:
        yield server


def _store_bytes(root) -> bytes:
    return b"".join(path.read_bytes() for path in (root / ".promptwise").glob("traces.sqlite*"))


def _run(root) -> None:
    result = asyncio.run(run_flow(root / "hello", {"question": QUESTION}, use_cache=False))
    assert result.status == "completed"


@pytest.mark.parametrize("mode", ["redact", "hash", "drop"])
def test_stored_and_exported_spans_never_hold_the_raw_personal_data(traced_workspace, monkeypatch, mode):
    monkeypatch.setenv("TRACE_PII_KEY", KEY)
    settings = f"tracing:\n  pii: {mode}\n" + ("  pii_key: ${env:TRACE_PII_KEY}\n" if mode == "hash" else "")
    root = traced_workspace(FLOW, settings=settings)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        assert tracing.configure(root)
        _run(root)
        _run(root)
        tracing.shutdown()
    stored = _store_bytes(root)
    exported = b"".join(request.SerializeToString() for request in receiver.requests)
    assert stored and exported
    for raw in RAW:
        assert raw.encode() not in stored, (mode, raw)
        assert raw.encode() not in exported, (mode, raw)
    assert b"Paris" in stored or mode == "drop"  # what is not personal stays readable

    calls = [attributes(span) for _, span in receiver.spans() if span.name.startswith("chat ")]
    assert len(calls) == 2
    reply = calls[0][A.GEN_AI_OUTPUT_MESSAGES]
    json.loads(reply)  # still JSON after processing
    if mode == "redact":
        assert "[EMAIL]" in reply and "[CARD]" in reply and "[NIR]" in reply
        sent = calls[0][A.GEN_AI_INPUT_MESSAGES]
        for token in ("[SSN]", "[NAME]", "[DNI]", "[HETU]", "[BSN]", "[NINO]", "[PHONE]", "[IBAN]", "[EMAIL]"):
            assert token in sent, token
    elif mode == "hash":
        # equal values hash alike: the same e-mail joins across the two traces
        tokens = {token for call in calls for token in call[A.GEN_AI_OUTPUT_MESSAGES].split() if "[EMAIL:" in token}
        assert len(tokens) == 1
    else:
        assert DROPPED in reply

    store = SpanStore.for_workspace(root, readonly=True)
    [trace_id, _] = [summary["trace_id"] for summary in store.list_traces()]
    trace = store.get_trace(trace_id)
    store.close()
    assert trace is not None and EMAIL not in json.dumps(trace)


def test_hash_mode_without_a_key_is_a_clear_settings_error(traced_workspace, monkeypatch):
    monkeypatch.delenv("TRACE_PII_KEY", raising=False)
    root = traced_workspace(FLOW, settings="tracing:\n  pii: hash\n  pii_key: ${env:TRACE_PII_KEY}\n")
    with pytest.raises(ConfigError, match="TRACE_PII_KEY"):
        tracing.configure(root)
    root = traced_workspace(FLOW, settings="tracing:\n  pii: hash\n  pii_key: literal-key-in-the-file\n")
    with pytest.raises(ConfigError, match="environment reference"):
        tracing.configure(root)
    root = traced_workspace(FLOW, settings="tracing:\n  pii: scramble\n")
    with pytest.raises(ConfigError, match="tracing.pii"):
        tracing.configure(root)


def test_national_ids_are_found_only_when_their_rules_hold():
    def kinds(text):
        return [finding.kind for finding in find_pii(text, ALL_PII_KINDS)]

    assert kinds("SSN 123-45-6789") == ["ssn"]
    assert kinds("SSN 666-45-6789 and 123-00-6789 and 900-12-3456") == []  # never issued
    assert kinds("NINO AB 12 34 56 C") == ["nino"]
    assert kinds("NINO GB 12 34 56 C") == []  # a prefix HMRC does not issue
    assert kinds("NIR 1 85 05 78 006 084 91") == ["nir"]
    assert "nir" not in kinds("NIR 1 85 05 78 006 084 92")  # wrong key
    assert kinds("NIR 2 69 05 2A 123 456 88") == ["nir"]  # Corsica: 2A counts as 19 in the key
    assert "nir" not in kinds("NIR 2 69 05 2A 123 456 87")
    assert bsn_valid("111222333") and not bsn_valid("111222334") and not bsn_valid("000000000")
    assert kinds("BSN 111222333") == ["bsn"]
    assert kinds("order 111222334") == []
    assert kinds("Dear Mr. John Smith, thanks") == ["name"]
    assert kinds("The Eiffel Tower is tall") == []


def test_hash_tokens_depend_on_the_key_and_normalise_the_value():
    one, other = PiiPolicy("hash", b"a" * 32), PiiPolicy("hash", b"b" * 32)
    assert one.text("mail JANE@x.org") == one.text("mail jane@x.org")
    assert one.text("card 4111 1111 1111 1111") == one.text("card 4111-1111-1111-1111")
    assert one.text("mail jane@x.org") != other.text("mail jane@x.org")
    assert PiiPolicy("drop").text("plain text 42") == "plain text 42"


def test_status_messages_and_events_are_processed_too():
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanContext, Status, StatusCode

    from promptwise.tracing.pii import governed_span
    from promptwise.tracing.processor import to_record

    span = ReadableSpan(
        name="node ask", context=SpanContext(1, 2, False),
        attributes={A.NODE_INPUTS: json.dumps({"q": f"mail {EMAIL}"}), A.NODE_NAME: "ask"},
        events=[Event("exception", {"exception.message": f"no account for {EMAIL}"}, 5)],
        status=Status(StatusCode.ERROR, f"failed for {EMAIL}"), start_time=1, end_time=2)
    policy = PiiPolicy("redact")
    record = to_record(span, pii=policy)
    exported = governed_span(span, policy, A.CONTENT_ATTRIBUTES)
    for text in (json.dumps(record.attributes), json.dumps(record.events), record.error_message,
                 json.dumps(dict(exported.attributes)), exported.status.description,
                 json.dumps([dict(event.attributes) for event in exported.events])):
        assert EMAIL not in text and "[EMAIL]" in text
    assert record.attributes[A.NODE_NAME] == "ask"
