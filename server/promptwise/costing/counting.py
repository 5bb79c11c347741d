"""Counting the input tokens of a chat completion request.

Raw text is counted with tiktoken (`encode_ordinary`: strings such as "<|endoftext|>" in a
prompt are ordinary text to the API, never control tokens).

Chat messages follow OpenAI's documented rule from the cookbook "How to count tokens with
tiktoken" (openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb,
`num_tokens_from_messages`), which the cookbook checks against the API's reported
`usage.prompt_tokens` for gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini:
  - every message costs 3 tokens (`tokens_per_message`) plus the tokens of each of its
    string values (role, content, name, ...);
  - a `name` costs 1 more (`tokens_per_name`);
  - every reply is primed with `<|start|>assistant<|message|>`: 3 tokens once per request.

Tool (function) definitions follow the same notebook's `num_tokens_for_tools`, the formula
widely reported to match the API: per function `func_init` (7 on o200k models, 10 on
cl100k models) + tokens of "name:description" (one trailing "." dropped); if it has
properties, `prop_init` (3) and per property `prop_key` (3) + tokens of
"key:type:description"; an enum adds `enum_init` (-3) and per item `enum_item` (3) + its
tokens; `func_end` (12) once after all functions. The notebook only walks top-level
properties; we also count nested schemas (objects' properties, arrays' items) as their
compact JSON — our approximation, stated here and in the breakdown.

`response_format` JSON schemas have no published rule: we count the compact JSON of the
`json_schema` object (name, schema, strict) — an approximation, labelled as such.
Images and audio parts in message content are not counted (we say so in the breakdown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from promptwise.costing.tokenizers import get_encoding

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# num_tokens_for_tools constants from the cookbook (see module docstring).
FUNC_INIT = {"o200k_base": 7, "cl100k_base": 10}
PROP_INIT = 3
PROP_KEY = 3
ENUM_INIT = -3
ENUM_ITEM = 3
FUNC_END = 12


def count_text(text: str, encoding: str) -> int:
    """Tokens in `text` under `encoding` (a shipped tiktoken encoding name)."""
    return len(get_encoding(encoding).encode_ordinary(text))


@dataclass
class MessageCount:
    role: str
    tokens: int  # this message's share, including its per-message overhead
    content_tokens: int


@dataclass
class ChatCount:
    """Input tokens of one chat request, with the parts a hover can explain."""

    total: int
    messages: list[MessageCount]
    overhead: int  # per-message and reply-priming tokens
    tools: int = 0
    response_format: int = 0
    notes: list[str] = field(default_factory=list)

    def by_role(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for message in self.messages:
            totals[message.role] = totals.get(message.role, 0) + message.content_tokens
        return totals


def _content_text(content: Any, notes: list[str]) -> str:
    """The text of a message's content: a string, or the text parts of a parts list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, Mapping):
                kind = part.get("type", "non-text")
                note = f"{kind} parts are not counted"
                if note not in notes:
                    notes.append(note)
            else:
                texts.append(str(part))
        return "".join(texts)
    return str(content)


def utf8_length(text: str) -> int:
    """UTF-8 bytes of `text`: never fewer than its tokens under a byte-level BPE (each token
    stands for at least one byte, and the tokens of a text spell out exactly its bytes)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _token_length(encoding: str):
    encode = get_encoding(encoding).encode_ordinary
    return lambda text: len(encode(text))


def _message_value_tokens(key: str, value: Any, length, notes: list[str]) -> int:
    if key == "content":
        return length(_content_text(value, notes))
    if key == "tool_calls" and isinstance(value, list):
        total = 0
        for call in value:
            function = call.get("function", {}) if isinstance(call, Mapping) else {}
            for part in (call.get("id") if isinstance(call, Mapping) else None, function.get("name"),
                         function.get("arguments"), call.get("type") if isinstance(call, Mapping) else None):
                if isinstance(part, str):
                    total += length(part)
        return total
    if isinstance(value, str):
        return length(value)
    if value is None:
        return 0
    return length(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def count_messages(messages: Iterable[Mapping[str, Any]], encoding: str,
                   notes: list[str] | None = None, *, length=None) -> tuple[list[MessageCount], int]:
    """Per-message counts under the cookbook rule, and the total including reply priming.
    `length` (text -> tokens) defaults to the encoding's exact count."""
    length = length or _token_length(encoding)
    notes = notes if notes is not None else []
    counted: list[MessageCount] = []
    total = 0
    for message in messages:
        tokens = TOKENS_PER_MESSAGE
        content_tokens = 0
        for key, value in message.items():
            value_tokens = _message_value_tokens(key, value, length, notes)
            tokens += value_tokens
            if key == "content":
                content_tokens = value_tokens
            if key == "name":
                tokens += TOKENS_PER_NAME
        counted.append(MessageCount(role=str(message.get("role", "user")), tokens=tokens,
                                    content_tokens=content_tokens))
        total += tokens
    return counted, total + REPLY_PRIMING


def _strip_final_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _nested_schema_tokens(schema: Mapping[str, Any], length) -> int:
    nested = {key: schema[key] for key in ("properties", "items") if key in schema}
    if not nested:
        return 0
    return length(json.dumps(nested, separators=(",", ":"), ensure_ascii=False))


def count_tools(tools: Iterable[Mapping[str, Any]] | None, encoding: str, *, length=None) -> int:
    """Tokens of tool/function definitions (cookbook `num_tokens_for_tools`, see above).

    Accepts both `tools` entries ({"type": "function", "function": {...}}) and legacy
    `functions` entries ({name, description, parameters})."""
    tools = list(tools or [])
    if not tools:
        return 0
    length = length or _token_length(encoding)
    total = 0
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, Mapping) else {}
        total += FUNC_INIT.get(encoding, FUNC_INIT["o200k_base"])
        name = str(function.get("name", ""))
        description = _strip_final_period(str(function.get("description") or ""))
        total += length(f"{name}:{description}")
        parameters = function.get("parameters") or {}
        properties = parameters.get("properties") or {} if isinstance(parameters, Mapping) else {}
        if properties:
            total += PROP_INIT
            for key, spec in properties.items():
                spec = spec if isinstance(spec, Mapping) else {}
                total += PROP_KEY
                enum = spec.get("enum")
                if isinstance(enum, list):
                    total += ENUM_INIT
                    for item in enum:
                        total += ENUM_ITEM + length(str(item))
                kind = spec.get("type", "")
                if isinstance(kind, list):
                    kind = "|".join(map(str, kind))
                description = _strip_final_period(str(spec.get("description") or ""))
                total += length(f"{key}:{kind}:{description}")
                total += _nested_schema_tokens(spec, length)
    return total + FUNC_END


def count_response_format(response_format: Any, encoding: str, *, length=None) -> int:
    """Approximate tokens of a `response_format` JSON schema (compact JSON of json_schema)."""
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return 0
    schema = response_format.get("json_schema") or {}
    length = length or _token_length(encoding)
    return length(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))


def count_chat(messages: Iterable[Mapping[str, Any]], encoding: str, *,
               tools: Iterable[Mapping[str, Any]] | None = None,
               response_format: Any = None) -> ChatCount:
    """Input tokens of a chat request: messages (cookbook rule) + tools + response_format."""
    notes: list[str] = []
    counted, messages_total = count_messages(messages, encoding, notes)
    # Everything that is not message content: roles, names, per-message framing, priming.
    overhead = messages_total - sum(m.content_tokens for m in counted)
    tool_tokens = count_tools(tools, encoding)
    schema_tokens = count_response_format(response_format, encoding)
    if tool_tokens:
        notes.append("tools counted with the cookbook's function formula")
    if schema_tokens:
        notes.append("response_format schema counted as compact JSON (approximate)")
    return ChatCount(total=messages_total + tool_tokens + schema_tokens, messages=counted,
                     overhead=overhead, tools=tool_tokens, response_format=schema_tokens,
                     notes=notes)


def chat_token_bound(messages: Iterable[Mapping[str, Any]], encoding: str, *,
                     tools: Iterable[Mapping[str, Any]] | None = None, response_format: Any = None) -> int:
    """An upper bound of `count_chat(...).total` that needs no tokenizer: the same rule with
    every text's tokens replaced by its UTF-8 bytes (tokens never outnumber bytes under
    o200k_base or cl100k_base, see `utf8_length`; tests/costing checks it). Deciding "fits
    the context window" from this bound spares loading a tokenizer (~0.4 s) on most checks."""
    messages = list(messages)
    _, messages_total = count_messages(messages, encoding, [], length=utf8_length)
    return (messages_total + count_tools(tools, encoding, length=utf8_length)
            + count_response_format(response_format, encoding, length=utf8_length))
