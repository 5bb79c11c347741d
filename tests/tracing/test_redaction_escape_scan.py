"""redaction.escapes_may_hide_secrets finds a `\\uXXXX` or `\\b` escape with one precompiled search
instead of two two-character scans: the same answer as the two scans, on generated texts (JSON
of random strings with control characters, quotes, backslashes, letters u/b and a registered
secret that holds a quote; and raw texts with stray backslashes)."""

from __future__ import annotations

import json
import random

import pytest

from promptwise import redaction
from promptwise.redaction import escapes_may_hide_secrets, forget_secret, register_secret

SECRET = 'sk-"quoted"-secret-4411'  # its JSON form differs from it: the loop over escaped forms runs too
ALPHABET = ["a", "u", "b", "x", "\\", '"', "\n", "\t", "\b", "\x01", "\x7f", "é", "€", " ", "/", "ub", "\\u", "\\b",
            "0", "f"]


def _two_scans(json_text: str) -> bool:
    """The function as it was before the one search (97aab56)."""
    if "\\" not in json_text:
        return False
    if "\\u" in json_text or "\\b" in json_text:
        return True
    return any(escaped in json_text for escaped in redaction._escaped_differently)


@pytest.fixture
def secret():
    register_secret(SECRET)
    yield SECRET
    forget_secret(SECRET)


def _texts(rng: random.Random, count: int):
    for index in range(count):
        pieces = [rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))]
        if index % 7 == 0:
            pieces.insert(rng.randint(0, len(pieces)), SECRET)
        text = "".join(pieces)
        yield json.dumps({"content": text}, ensure_ascii=False) if index % 2 else text


def test_one_search_answers_as_the_two_scans_did(secret):
    rng = random.Random(20261207)
    answers = []
    for text in _texts(rng, 10_000):
        expected = _two_scans(text)
        assert escapes_may_hide_secrets(text) is expected, repr(text)
        answers.append(expected)
    assert 1_000 < sum(answers) < 9_000  # both answers were tried, many times


@pytest.mark.parametrize(("text", "expected"), [
    ('{"content": "line one\\nline two"}', False),  # escaped line breaks alone
    ('{"content": "bell\\u0007"}', True),
    ('{"content": "back\\bspace"}', True),
    ('{"content": "a \\\\ backslash, then ub"}', False),
    ('{"content": "an escaped backslash before u: \\\\u"}', True),  # as the two scans answered
    ("no backslash at all: ub", False),
])
def test_known_texts(text, expected):
    assert escapes_may_hide_secrets(text) is expected is _two_scans(text)
