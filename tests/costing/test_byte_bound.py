"""The checker decides "fits the context window" from UTF-8 bytes, without a tokenizer.

The claim it rests on: under o200k_base and cl100k_base a text never has more tokens than
UTF-8 bytes (byte-level BPE: every token stands for at least one byte). Checked here with
hypothesis over random unicode text, then for whole chat requests (messages, names, tools,
response_format), and finally that the checker does not load a tokenizer when the bound fits
but still counts exactly, and reports PW701, when the bound comes close.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptwise.costing import calls, checker, counting
from promptwise.costing.counting import chat_token_bound, count_chat, utf8_length
from promptwise.costing.estimate import clear_cache
from promptwise.costing.tokenizers import SHIPPED_ENCODINGS, get_encoding
from promptwise.documents.load import load_document

from costing_samples import FLOW, make_flow

# Any code point of any plane (hypothesis leaves out lone surrogates, which are not valid text).
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=400)
# Runs of one character stress BPE merges (long repeated-byte tokens).
REPEATS = st.builds(lambda char, count: char * count, st.characters(), st.integers(1, 300))


@pytest.mark.parametrize("encoding", SHIPPED_ENCODINGS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(ANY_TEXT, REPEATS, st.text(max_size=2000)))
def test_tokens_never_outnumber_utf8_bytes(encoding, text):
    assert len(get_encoding(encoding).encode_ordinary(text)) <= utf8_length(text)


MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": ANY_TEXT},
    optional={"name": st.text(alphabet="abcdefghij_", min_size=1, max_size=10)},
)
TOOL = st.builds(
    lambda name, description, keys, enum: {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {
            key: ({"type": "string", "enum": enum} if index == 0 and enum else
                  {"type": "array", "items": {"type": "string"}, "description": description})
            for index, key in enumerate(keys)}}}},
    st.text(alphabet="abcdefghij_", min_size=1, max_size=12), ANY_TEXT,
    st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=8), max_size=4, unique=True),
    st.lists(ANY_TEXT, max_size=4),
)


@pytest.mark.parametrize("encoding", SHIPPED_ENCODINGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(MESSAGE, min_size=1, max_size=5), tools=st.lists(TOOL, max_size=3),
       schema=st.none() | st.builds(lambda text: {"type": "json_schema", "json_schema": {"name": "x", "schema": {
           "type": "object", "description": text}}}, ANY_TEXT))
def test_chat_bound_is_never_below_the_exact_count(encoding, messages, tools, schema):
    exact = count_chat(messages, encoding, tools=tools, response_format=schema).total
    assert exact <= chat_token_bound(messages, encoding, tools=tools, response_format=schema)


TINY = ("models:\n  tiny: {tokenizer: o200k_base, context_window: WINDOW, max_output: 50, "
        "input_per_1m: 1, output_per_1m: 1}\n")


@pytest.fixture
def encodings_built(monkeypatch):
    """Records every tokenizer the costing code asks for."""
    asked: list[str] = []
    real = counting.get_encoding

    def recording(name):
        asked.append(name)
        return real(name)

    monkeypatch.setattr(counting, "get_encoding", recording)
    clear_cache()
    yield asked
    clear_cache()


def test_checker_needs_no_tokenizer_when_the_bound_fits(tmp_path, encodings_built):
    path = make_flow(tmp_path, FLOW)
    assert [p for p in checker.check(load_document(path)) if p.code == "PW701"] == []
    assert encodings_built == []


def test_checker_counts_exactly_when_the_bound_is_close(tmp_path, encodings_built):
    # classify's prompt has fewer tokens than bytes; windows between the two must be counted.
    flow = FLOW.replace("model: gpt-4o-mini", "model: tiny").replace("model: gpt-4.1", "model: gpt-4o-mini")
    document = load_document(make_flow(tmp_path, flow, TINY.replace("WINDOW", "100")))
    estimate = checker_estimate(document)
    call = estimate.call
    bound = chat_token_bound(call.messages, "o200k_base", tools=call.tools, response_format=call.response_format)
    exact = estimate.input_tokens
    assert exact < bound  # the flow is built so that the two differ
    for window, expect_pw701 in ((exact + 50, False), (exact + 49, True), (bound + 50, False)):
        clear_cache()
        encodings_built.clear()
        (tmp_path / "promptwise.yaml").write_text(TINY.replace("WINDOW", str(window)), encoding="utf-8")
        codes = [p.code for p in checker.check(load_document(tmp_path / "flow.dag.yaml")) if p.code == "PW701"]
        assert codes == (["PW701"] if expect_pw701 else []), window
        # a tokenizer only when the byte bound did not settle it
        assert bool(encodings_built) == (window < bound + 50), window


def checker_estimate(document) -> calls.CallEstimate:
    from promptwise.config import load_workspace
    from promptwise.costing.estimate import estimate_document

    return estimate_document(document, load_workspace(document.path)).items[0].estimate


def test_editor_estimates_arrive_counted_even_after_a_lazy_check(tmp_path, encodings_built):
    # The language server computes estimates in its executor and reads lens texts on its event
    # loop: the estimate it gets must already hold exact counts, even when the checker cached it.
    from promptwise.config import load_workspace
    from promptwise.costing.estimate import estimate_document

    path = make_flow(tmp_path, FLOW)
    document = load_document(path)
    checker.check(document)
    assert encodings_built == []
    result = estimate_document(document, load_workspace(path))
    assert all(item.estimate.counted for item in result.items)
    assert encodings_built  # counted here, not later on the reader's thread
