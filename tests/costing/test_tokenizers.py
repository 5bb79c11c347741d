"""Offline tokenizers: our encodings equal tiktoken's, and loading them never downloads."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from promptwise.costing import tokenizers
from promptwise.costing.tokenizers import (
    PUBLISHED_SHA256, TokenizerDataError, count_text, get_encoding, read_verified_bpe,
)

ENCODINGS = ["cl100k_base", "o200k_base"]

TEXTS = [
    "",
    " ",
    "hello world",
    "Hello, World! How's it going? I'd say we'll've done it.",
    "  leading and trailing spaces  \n\n\n",
    "tabs\tand\r\nwindows\r\nline endings\r",
    "numbers 1234567890 3.14159 -42 1e10 0x1F",
    "héllo café naïve façade Ångström",
    "Привет, мир! Как дела?",
    "你好，世界。我们今天去哪里吃饭？",
    "お誕生日おめでとう",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷",
    "combining: e\u0301 a\u0308 \u200b zero\u200dwidth",
    "<|endoftext|> <|fim_prefix|> <|endofprompt|> special-looking strings are text",
    "def f(x):\n    return {'a': [1, 2, 3]}  # code\n",
    '{"json": true, "nested": {"list": [1, "two", null]}}',
    "a" * 5000,
    "word " * 4000,
    ("The quick brown fox jumps over the lazy dog. " * 300) + "终",
    "\U0010ffff \ufffd \x00 control\x07chars",
]


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("text", TEXTS, ids=lambda t: repr(t[:20]))
def test_counts_and_ids_equal_raw_tiktoken(raw_tiktoken, name, text):
    expected = raw_tiktoken[name].encode(text, disallowed_special=())
    assert get_encoding(name).encode_ordinary(text) == expected
    assert count_text(text, name) == len(expected)


@pytest.mark.parametrize("name", ENCODINGS)
def test_long_mixed_input_equals_raw_tiktoken(raw_tiktoken, name):
    text = "\n".join(TEXTS) * 40  # ~250k characters of mixed scripts
    assert count_text(text, name) == len(raw_tiktoken[name].encode(text, disallowed_special=()))


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_any_unicode_text_equals_raw_tiktoken(raw_tiktoken, text):
    for name in ENCODINGS:
        assert count_text(text, name) == len(raw_tiktoken[name].encode(text, disallowed_special=()))


@pytest.mark.parametrize("name", ENCODINGS)
def test_encoding_matches_tiktoken_definition(raw_tiktoken, name):
    ours, reference = get_encoding(name), raw_tiktoken[name]
    assert ours._pat_str == reference._pat_str
    assert ours._special_tokens == reference._special_tokens
    assert ours.n_vocab == reference.n_vocab


def test_encodings_are_built_once_per_process():
    assert get_encoding("o200k_base") is get_encoding("o200k_base")


@pytest.mark.parametrize("name", ENCODINGS)
def test_shipped_file_matches_published_hash(name):
    import hashlib

    assert hashlib.sha256(read_verified_bpe(name)).hexdigest() == PUBLISHED_SHA256[name]


def test_pinned_hashes_are_tiktoken_constructor_hashes():
    import tiktoken_ext.openai_public as openai_public

    seen = {}
    for name in ENCODINGS:
        def capture(url, expected_hash=None, _name=name):
            seen[_name] = expected_hash
            return {b"a": 0}
        constructor = getattr(openai_public, name)
        globals_copy = dict(constructor.__globals__, load_tiktoken_bpe=capture)
        import types
        types.FunctionType(constructor.__code__, globals_copy)()
    assert seen == PUBLISHED_SHA256


@pytest.mark.parametrize("name", ENCODINGS)
def test_shipped_file_is_the_compact_form_of_the_published_one(name):
    assert lzma.decompress(tokenizers.bpe_path(name).read_bytes()) == tokenizers.compact_bpe(read_verified_bpe(name))


def test_tampered_file_is_refused(tmp_path, monkeypatch):
    original = lzma.decompress(tokenizers.bpe_path("cl100k_base").read_bytes())
    swapped = original.replace(b"!", b"?", 1)  # one token's byte changed: same size, other text
    assert swapped != original
    (tmp_path / "cl100k_base.tiktoken.xz").write_bytes(lzma.compress(swapped))
    monkeypatch.setattr(tokenizers, "BPE_DIR", tmp_path)
    monkeypatch.setattr(tokenizers, "_encodings", {})
    with pytest.raises(TokenizerDataError, match="does not match the shipped"):
        read_verified_bpe("cl100k_base")
    with pytest.raises(TokenizerDataError, match="does not match the shipped"):
        get_encoding("cl100k_base")


def test_missing_file_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(tokenizers, "BPE_DIR", tmp_path)
    with pytest.raises(TokenizerDataError, match="cl100k_base.tiktoken.xz: cannot read"):
        read_verified_bpe("cl100k_base")


def test_ranks_out_of_order_cannot_be_made_compact():
    with pytest.raises(ValueError, match="line 2: rank 5, not 1"):
        tokenizers.compact_bpe(b"YQ== 0\nYg== 5\n")


def test_unknown_encoding_is_a_clear_error():
    with pytest.raises(KeyError, match="shipped: cl100k_base, o200k_base"):
        get_encoding("p50k_base")


def test_fresh_process_loads_offline_without_tiktoken_cache(tmp_path):
    """A fresh interpreter with an empty tiktoken cache and sockets disabled still counts,
    writes nothing to tiktoken's cache and never imports an HTTP client."""
    cache = tmp_path / "cache"
    cache.mkdir()
    script = """
import json, socket, sys
def refuse(*a, **k):
    raise SystemExit("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
from promptwise.costing.tokenizers import count_text
print(json.dumps({"o200k": count_text("hello world", "o200k_base"),
                  "cl100k": count_text("hello world", "cl100k_base"),
                  "requests_imported": "requests" in sys.modules}))
"""
    env = {"TIKTOKEN_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures == {"o200k": 2, "cl100k": 2, "requests_imported": False}
    assert list(cache.iterdir()) == []
