"""Chat counting: OpenAI's cookbook rule for messages and its formula for tools."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from promptwise.costing.counting import count_chat, count_response_format, count_tools

ENCODINGS = ["cl100k_base", "o200k_base"]


def cookbook_count(messages, encoding):
    """The cookbook's num_tokens_from_messages, written out against raw tiktoken."""
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(encoding.encode(value, disallowed_special=()))
            if key == "name":
                total += 1
    return total + 3


# The cookbook's own example, with the usage.prompt_tokens the API reported for it.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]
COOKBOOK_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return",
                         "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize("encoding, api_reported", [("cl100k_base", 129), ("o200k_base", 124)])
def test_cookbook_messages_match_api_usage(encoding, api_reported):
    assert count_chat(COOKBOOK_MESSAGES, encoding).total == api_reported


@pytest.mark.parametrize("encoding, api_reported", [("cl100k_base", 105), ("o200k_base", 101)])
def test_cookbook_tools_match_api_usage(encoding, api_reported):
    assert count_chat(COOKBOOK_TOOL_MESSAGES, encoding, tools=COOKBOOK_TOOLS).total == api_reported


MESSAGE_LISTS = [
    [],
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise: 天気がいいですね 🌞"}],
    [{"role": "user", "name": "alice", "content": "hello"}, {"role": "assistant", "content": "hi alice"},
     {"role": "user", "name": "bob", "content": "and me?"}],
    [{"role": "system", "content": "x" * 10000}, {"role": "user", "content": "Сколько токенов? " * 500}],
    [{"role": "user", "content": "<|endoftext|> is just text here"}],
    [{"role": "tool", "name": "lookup", "content": '{"temperature": 21, "unit": "C"}'}],
    [{"role": "system", "content": "line1\nline2\r\n\n  indented"}, {"role": "assistant", "content": "ok"}] * 20,
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("messages", MESSAGE_LISTS, ids=lambda m: f"{len(m)}msgs")
def test_chat_rule_on_message_lists(raw_tiktoken, encoding, messages):
    assert count_chat(messages, encoding).total == cookbook_count(messages, raw_tiktoken[encoding])


message_strategy = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=200)},
    optional={"name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True)},
)


@settings(max_examples=100, deadline=None)
@given(messages=st.lists(message_strategy, max_size=8))
def test_chat_rule_on_generated_message_lists(raw_tiktoken, messages):
    for encoding in ENCODINGS:
        assert count_chat(messages, encoding).total == cookbook_count(messages, raw_tiktoken[encoding])


def test_breakdown_adds_up():
    counted = count_chat(COOKBOOK_MESSAGES, "o200k_base", tools=COOKBOOK_TOOLS)
    content = sum(m.content_tokens for m in counted.messages)
    assert content + counted.overhead + counted.tools + counted.response_format == counted.total
    assert set(counted.by_role()) == {"system", "user"}
    assert counted.tools > 0 and any("cookbook" in note for note in counted.notes)


def test_text_parts_are_counted_and_images_named(raw_tiktoken):
    parts = [{"type": "text", "text": "Describe "}, {"type": "image_url", "image_url": {"url": "data:..."}},
             {"type": "text", "text": "this picture."}]
    counted = count_chat([{"role": "user", "content": parts}], "o200k_base")
    expected = cookbook_count([{"role": "user", "content": "Describe this picture."}], raw_tiktoken["o200k_base"])
    assert counted.total == expected
    assert counted.notes == ["image_url parts are not counted"]


def test_functions_legacy_shape_counts_like_tools():
    legacy = [tool["function"] for tool in COOKBOOK_TOOLS]
    assert count_tools(legacy, "o200k_base") == count_tools(COOKBOOK_TOOLS, "o200k_base")


def test_tool_without_parameters_or_description(raw_tiktoken):
    tool = [{"type": "function", "function": {"name": "ping"}}]
    enc = raw_tiktoken["o200k_base"]
    assert count_tools(tool, "o200k_base") == 7 + len(enc.encode("ping:")) + 12


def test_nested_schema_adds_tokens():
    flat = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {
        "type": "object", "properties": {"items": {"type": "array", "description": "list"}}}}}
    nested = json.loads(json.dumps(flat))
    nested["function"]["parameters"]["properties"]["items"]["items"] = {
        "type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}
    assert count_tools([nested], "o200k_base") > count_tools([flat], "o200k_base")


def test_response_format_schema(raw_tiktoken):
    schema = {"name": "answer", "strict": True, "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    tokens = count_response_format({"type": "json_schema", "json_schema": schema}, "o200k_base")
    assert tokens == len(raw_tiktoken["o200k_base"].encode(json.dumps(schema, separators=(",", ":"))))
    assert count_response_format({"type": "json_object"}, "o200k_base") == 0
    counted = count_chat([{"role": "user", "content": "hi"}], "o200k_base",
                         response_format={"type": "json_schema", "json_schema": schema})
    assert counted.response_format == tokens
    assert any("approximate" in note for note in counted.notes)
