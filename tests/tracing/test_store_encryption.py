"""Encryption at rest of the span store's content (`tracing.encrypt`, store/encryption.py): a real
flow run against the fake OpenAI server writes sealed prompts, replies, inputs and outputs; the
store's files never hold them in the clear; readers open them with the key from the environment
and say what to set without it; keys rotate (`traces rekey`)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys

import pytest
from test_otlp_export import FLOW, OtlpReceiver, attributes

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.cli import main
from promptwise.config import ConfigError
from promptwise.engine.runner import run_flow
from promptwise.store.encryption import PREFIX, Keyring, StoreKey, StoreKeyError, is_sealed, sealed_key_id
from promptwise.tracing.store import SpanStore, store_path

MARKER = "ZEBRAPLUM"  # in the question: must never be in the store's files in the clear
QUESTION = f"capital of France? codeword {MARKER}, mail jane.doe@example.com"
KEY, OLD_KEY, OTHER_KEY = "k" * 40, "o" * 40, "z" * 40
ENCRYPT = "tracing:\n  encrypt:\n    key: ${env:PROMPTWISE_STORE_KEY}\n"
ROTATED = ENCRYPT + "    previous_keys:\n      - ${env:PROMPTWISE_STORE_KEY_OLD}\n"


def _store_bytes(root) -> bytes:
    return b"".join(path.read_bytes() for path in (root / ".promptwise").glob("traces.sqlite*"))


def _run(root, question: str = QUESTION) -> None:
    assert tracing.configure(root)
    result = asyncio.run(run_flow(root / "hello", {"question": question}, use_cache=False))
    assert result.status == "completed"
    tracing.shutdown()


def _only_trace(root) -> dict:
    store = SpanStore.for_workspace(root, readonly=True)
    try:
        [summary] = store.list_traces()
        return store.get_trace(summary["trace_id"])
    finally:
        store.close()


def _content_values(root) -> list[str]:
    """Every content attribute, events and error text as stored (sealed or not)."""
    connection = sqlite3.connect(store_path(root))
    values = []
    for attributes, events, error in connection.execute("SELECT attributes, events, error_message FROM spans"):
        values += [value for name, value in json.loads(attributes).items() if name in A.CONTENT_ATTRIBUTES]
        values += [json.loads(events)] if events else []
        values += [error] if error else []
    connection.close()
    return values


def test_content_is_sealed_on_disk_and_opened_by_readers_with_the_key(traced_workspace, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        _run(root)
    stored = _store_bytes(root)
    assert MARKER.encode() not in stored and b"Paris" not in stored and b"jane.doe" not in stored
    values = _content_values(root)
    assert values and all(is_sealed(value) for value in values)
    assert len({sealed_key_id(value) for value in values}) == 1

    trace = _only_trace(root)  # the plain columns: figures, model, names
    assert trace["llm_calls"] == 1 and trace["input_tokens"] > 0 and trace["flow"] == "hello"
    [call] = [span for span in trace["spans"] if span["kind"] == A.SPAN_KIND_LLM]
    assert call["model"] and call["attributes"][A.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert MARKER in call["attributes"][A.GEN_AI_INPUT_MESSAGES]  # opened with the key
    assert "Paris" in call["attributes"][A.GEN_AI_OUTPUT_MESSAGES]
    assert "[EMAIL]" in call["attributes"][A.GEN_AI_INPUT_MESSAGES]  # PII handled before sealing

    # export is not the store: the OTLP copy is plain (redacted), for the collector to keep
    exported = [attributes(span) for _, span in receiver.spans() if span.name.startswith("chat ")]
    assert MARKER in exported[0][A.GEN_AI_INPUT_MESSAGES] and "jane.doe" not in exported[0][A.GEN_AI_INPUT_MESSAGES]

    monkeypatch.chdir(root)
    assert main(["traces", "show", trace["trace_id"], "--format", "json"]) == 0
    assert MARKER in capsys.readouterr().out


def test_without_the_key_readers_show_what_to_set_and_writers_refuse(traced_workspace, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    _run(root)
    monkeypatch.delenv("PROMPTWISE_STORE_KEY")
    trace = _only_trace(root)
    assert trace["llm_calls"] == 1  # figures need no key
    [call] = [span for span in trace["spans"] if span["kind"] == A.SPAN_KIND_LLM]
    placeholder = call["attributes"][A.GEN_AI_INPUT_MESSAGES]
    assert MARKER not in placeholder and "tracing.encrypt.key" in placeholder and "PROMPTWISE_STORE_KEY" in placeholder

    monkeypatch.chdir(root)
    assert main(["traces", "show", trace["trace_id"]]) == 0
    shown = capsys.readouterr()
    assert "> [encrypted with key" in shown.out and "PROMPTWISE_STORE_KEY" in shown.out
    assert "encrypted value(s) of this trace are not shown" in shown.err and "Traceback" not in shown.err

    with pytest.raises(ConfigError, match=r"promptwise\.yaml:\d+: `tracing\.encrypt\.key`.*PROMPTWISE_STORE_KEY.*not set"):
        tracing.configure(root)  # never stored in the clear instead
    assert main(["run", "hello", "--inputs", "question=capital of France"]) == 2
    assert "PROMPTWISE_STORE_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("settings, message", [
    ("tracing:\n  encrypt:\n    key: my-secret-key-written-in-the-file\n", "environment reference"),
    ("tracing:\n  encrypt:\n    key: ${env:PROMPTWISE_STORE_KEY}\n    previous_keys: [plain]\n", r"previous_keys\[0\]"),
    ("tracing:\n  encrypt:\n    keys: ${env:PROMPTWISE_STORE_KEY}\n", r"tracing\.encrypt"),
    ("tracing:\n  encrypt:\n    key: ${env:SHORT_STORE_KEY}\n", "at least 32"),
])
def test_unusable_key_settings_are_clear_errors_naming_the_setting(traced_workspace, monkeypatch, settings, message):
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    monkeypatch.setenv("SHORT_STORE_KEY", "short")
    root = traced_workspace(FLOW, settings=settings)
    with pytest.raises(ConfigError, match=message) as raised:
        tracing.configure(root)
    assert "promptwise.yaml:" in str(raised.value)  # the file and line of the `tracing` section


def test_a_wrong_key_is_told_apart_and_previous_keys_rotate(traced_workspace, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", OLD_KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    _run(root)
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)  # the key was changed, the old one forgotten
    [call] = [s for s in _only_trace(root)["spans"] if s["kind"] == A.SPAN_KIND_LLM]
    assert "previous_keys" in call["attributes"][A.GEN_AI_OUTPUT_MESSAGES]

    (root / "promptwise.yaml").write_text((root / "promptwise.yaml").read_text() + ROTATED.split("\n", 3)[3])
    monkeypatch.setenv("PROMPTWISE_STORE_KEY_OLD", OLD_KEY)
    _run(root, "capital of France? second")  # new spans under the new key, old ones still read
    store = SpanStore.for_workspace(root, readonly=True)
    opened = [store.get_trace(summary["trace_id"]) for summary in store.list_traces()]
    store.close()
    replies = [s["attributes"][A.GEN_AI_OUTPUT_MESSAGES] for t in opened for s in t["spans"]
               if s["kind"] == A.SPAN_KIND_LLM]
    assert len(replies) == 2 and all("Paris" in reply for reply in replies)
    assert len({sealed_key_id(value) for value in _content_values(root)}) == 2

    monkeypatch.chdir(root)
    assert main(["traces", "rekey"]) == 0
    assert "resealed" in capsys.readouterr().out
    new_id = StoreKey(KEY).id
    assert {sealed_key_id(value) for value in _content_values(root)} == {new_id}
    assert StoreKey(OLD_KEY).id.encode() not in _store_bytes(root)  # no page keeps the old ciphertext
    monkeypatch.delenv("PROMPTWISE_STORE_KEY_OLD")
    store = SpanStore.for_workspace(root, readonly=True)
    assert all("Paris" in s["attributes"][A.GEN_AI_OUTPUT_MESSAGES] for summary in store.list_traces()
               for s in store.get_trace(summary["trace_id"])["spans"] if s["kind"] == A.SPAN_KIND_LLM)
    store.close()


def test_rekey_seals_what_was_stored_before_encryption_was_switched_on(traced_workspace, monkeypatch, capsys):
    from promptwise.monitoring.online_eval import _SCHEMA as SCORES

    root = traced_workspace(FLOW)
    _run(root)
    with sqlite3.connect(store_path(root)) as scores:  # an online evaluator's error, stored in the clear
        scores.executescript(SCORES)
        scores.execute("INSERT INTO scores (trace_id, time_ns, evaluator, error) VALUES ('t', 1, 'j', ?)",
                       (f"unreadable answer about {MARKER}",))
    scores.close()
    assert MARKER.encode() in _store_bytes(root)
    (root / "promptwise.yaml").write_text((root / "promptwise.yaml").read_text() + ENCRYPT)
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    monkeypatch.chdir(root)
    assert main(["traces", "rekey"]) == 0
    assert MARKER.encode() not in _store_bytes(root)
    assert all(is_sealed(value) for value in _content_values(root))
    [error] = [row[0] for row in sqlite3.connect(store_path(root)).execute("SELECT error FROM scores")]
    assert is_sealed(error) and MARKER in Keyring(StoreKey(KEY)).open(error, "scores.error")
    [call] = [s for s in _only_trace(root)["spans"] if s["kind"] == A.SPAN_KIND_LLM]
    assert MARKER in call["attributes"][A.GEN_AI_INPUT_MESSAGES]


def test_rekey_without_a_usable_key_is_a_clear_error(traced_workspace, monkeypatch, capsys):
    root = traced_workspace(FLOW, settings=ENCRYPT)
    monkeypatch.delenv("PROMPTWISE_STORE_KEY", raising=False)
    monkeypatch.chdir(root)
    assert main(["traces", "rekey"]) == 2
    assert "PROMPTWISE_STORE_KEY" in capsys.readouterr().err
    (root / "promptwise.yaml").write_text("tracing: {}\n")
    assert main(["traces", "rekey"]) == 2
    assert "tracing.encrypt" in capsys.readouterr().err


def test_a_sealed_value_moved_or_damaged_does_not_open_and_does_not_raise():
    keyring = Keyring(StoreKey(KEY))
    sealed = keyring.seal({"question": "hi"}, A.FLOW_INPUTS)
    assert sealed.startswith(PREFIX) and keyring.open(sealed, A.FLOW_INPUTS) == {"question": "hi"}
    assert "damaged or moved" in keyring.open(sealed, A.FLOW_OUTPUTS)  # the field is the associated data
    cut = sealed[:-8] + ("A" * 8 if not sealed.endswith("A" * 8) else "B" * 8)
    assert "damaged or moved" in keyring.open(cut, A.FLOW_INPUTS)
    assert keyring.unreadable == 2
    assert keyring.open("plain text", A.FLOW_INPUTS) == "plain text"
    assert keyring.seal(sealed, A.FLOW_INPUTS) == sealed  # never sealed twice
    assert keyring.seal("same", "f") != keyring.seal("same", "f")  # a fresh nonce each time


def test_without_the_encrypt_extra_the_error_names_the_pip_install(monkeypatch):
    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "cryptography" or name.startswith("cryptography."):
                raise ImportError(f"No module named {name!r}")
            return None

    for name in [name for name in sys.modules if name == "cryptography" or name.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])
    with pytest.raises(StoreKeyError, match=r"promptwise\[encrypt\]"):
        StoreKey(KEY)


def test_drift_and_rollout_read_sealed_inputs_and_outputs_with_the_key(traced_workspace, monkeypatch):
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.rollout import _opened_outputs
    from promptwise.monitoring.aggregates import Selection
    from promptwise.monitoring.drift import DriftError, traffic
    from promptwise.monitoring.source import open_traces

    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    _run(root)
    connection = open_traces(root)
    inputs, outputs = traffic(connection, Selection())
    assert inputs == [{"question": QUESTION.replace("jane.doe@example.com", "[EMAIL]")}]
    assert outputs and "Paris" in json.dumps(outputs)
    [sealed] = [row[0] for row in connection.execute(
        f"SELECT json_extract(attributes, '$.\"{A.FLOW_OUTPUTS}\"') FROM spans WHERE kind = 'flow'")]
    assert is_sealed(sealed) and "Paris" in json.dumps(_opened_outputs(connection, {"r1": sealed}))

    monkeypatch.delenv("PROMPTWISE_STORE_KEY")
    with pytest.raises(DriftError, match="PROMPTWISE_STORE_KEY"):  # not "no inputs recorded"
        traffic(connection, Selection())
    with pytest.raises(DeployError, match="PROMPTWISE_STORE_KEY"):  # never compared as answers
        _opened_outputs(connection, {"r1": sealed})
    connection.close()


def test_the_editors_trace_view_opens_sealed_content_and_says_what_to_set_without_the_key(traced_workspace,
                                                                                          monkeypatch):
    from promptwise.lsp.traces import find_trace

    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    _run(root)
    flow = (root / "hello" / "flow.dag.yaml").as_uri()

    def call_content(document):
        [call] = [span for root_span in document["spans"] for span in _walk(root_span) if span["kind"] == "llm"]
        return call["content"]

    content = call_content(find_trace(root, {"uri": flow}))
    assert content["input_messages"][0]["parts"][0]["content"].startswith("capital of France")
    monkeypatch.delenv("PROMPTWISE_STORE_KEY")
    content = call_content(find_trace(root, {"uri": flow}))
    assert isinstance(content["input_messages"], str) and "PROMPTWISE_STORE_KEY" in content["input_messages"]


def _walk(span):
    yield span
    for child in span["children"]:
        yield from _walk(child)


def test_rekey_that_cannot_finish_says_what_to_do(traced_workspace, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    _run(root)

    def busy(self, chunk=2000):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(SpanStore, "reseal", busy)
    monkeypatch.chdir(root)
    assert main(["traces", "rekey"]) == 2
    err = capsys.readouterr().err
    assert "resealing stopped" in err and "run `promptwise traces rekey` again" in err and "Traceback" not in err


def test_an_unset_previous_key_does_not_stop_writers_and_readers_say_which_one(monkeypatch):
    from promptwise.store.encryption import keyring_from_settings
    from promptwise.tracing.settings import EncryptSettings

    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    monkeypatch.delenv("PROMPTWISE_STORE_KEY_OLD", raising=False)
    settings = EncryptSettings(key="${env:PROMPTWISE_STORE_KEY}", previous_keys=("${env:PROMPTWISE_STORE_KEY_OLD}",))
    keyring = keyring_from_settings(settings, strict=True)
    assert keyring.sealing
    old = Keyring(StoreKey(OLD_KEY)).seal("old reply", A.GEN_AI_OUTPUT_MESSAGES)
    placeholder = keyring.open(old, A.GEN_AI_OUTPUT_MESSAGES)
    assert "previous_keys[0]" in placeholder and "PROMPTWISE_STORE_KEY_OLD" in placeholder


def test_the_store_key_is_masked_wherever_it_would_be_written(monkeypatch):
    from promptwise.redaction import redact
    from promptwise.store.encryption import key_from_reference

    secret = "q9" * 20
    monkeypatch.setenv("PROMPTWISE_STORE_KEY_MASKED", secret)
    key_from_reference("${env:PROMPTWISE_STORE_KEY_MASKED}", "tracing.encrypt.key")
    assert secret not in redact(f"oops, the key {secret} leaked")


def test_online_evaluation_errors_are_stored_like_trace_content(traced_workspace, monkeypatch):
    import time

    from promptwise.config import load_workspace
    from promptwise.evaluation.base import Evaluator
    from promptwise.monitoring.online_eval import Finished, OnlineEvaluation, error_protection
    from promptwise.tracing.settings import store_keyring, tracing_settings

    class Quoting(Evaluator):  # a judge whose unreadable answer quotes the request
        kind = "quoting"
        required_inputs = ("text",)

        def score(self, inputs):
            raise ValueError(f"unreadable answer: 'write to jane.doe@example.com about {MARKER}'")

    monkeypatch.setenv("PROMPTWISE_STORE_KEY", KEY)
    root = traced_workspace(FLOW, settings=ENCRYPT)
    workspace = load_workspace(root)
    online = OnlineEvaluation(store_path(root), [Quoting("q")], sample_rate=1.0,
                              protect_error=error_protection(workspace, tracing_settings(workspace)))
    online.start()
    assert online.offer(Finished({"q": "x"}, {"a": "y"}, "ab" * 16, "v1", "local", time.time_ns()))
    assert online.wait_idle(30)
    online.stop()
    [error] = [row[0] for row in sqlite3.connect(store_path(root)).execute("SELECT error FROM scores")]
    assert is_sealed(error) and MARKER not in error
    opened = store_keyring(root).open(error, "scores.error")
    assert MARKER in opened and "[EMAIL]" in opened and "jane.doe" not in opened
