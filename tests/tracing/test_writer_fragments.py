"""The span writer's PII scan cuts content into fragments at characters no detector's match
holds (tracing/processor.py `_fragments`), scans each distinct new fragment once and remembers
the clean ones: a served request's log line, repeated in its inputs, its prompts and its
replies, is scanned once, and a prompt's fixed parts are never scanned again. These tests hold
it to what the policy's walk alone stores, on generated text."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from promptwise import span_attributes as A
from promptwise.engine.spans import RedactedText, _json
from promptwise.evaluation.safety import ALL_PII_KINDS, find_pii
from promptwise.tracing.pii import PiiPolicy
from promptwise.tracing.processor import CleanTexts, _fragments, _unescaped, govern_content
from promptwise.tracing.store import SpanRecord

from pii_fuzz import random_text

# Digits, separators, the letters ids use, word and non-word neighbours, whitespace of several
# kinds, and every fragment break.
ALPHABET = list("0123456789012345678901234567 -.-./()+:'\t\n\r\xa0ABGKNTXYZCDabxé_@\x00\"`,;=<>{}[]|*#!?&%$^~\\")
PIECES = ["4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "123-45-6789", "AB 12 34 56 C", "AB123456C",
          "1 85 05 78 006 084 36", "1234.56.782", "12345678Z", "X1234567L", "010594Y9032", "Name: Jane Doe",
          "Dear Mr. John Smith", "my name is Ana García", "Patient: Ms O'Neill", "+44 20 7946 0958",
          "+44\n20\n7946\n0958", "+44\xa020\xa07946\xa00958", "(020) 7946 0958", "555-123-4567",
          "jane.doe@example.com", "2026-03-04T10:22:31.877Z ERROR claims-intake [corr=5d0e7b42]", "```\n", "\n```"]


def _text(rng: random.Random) -> str:
    return random_text(rng, PIECES, ALPHABET, piece_chance=0.5)


def _found(text: str) -> Counter:
    return Counter((finding.kind, finding.text) for finding in find_pii(text, ALL_PII_KINDS))


def test_a_phone_with_line_breaks_or_no_break_spaces_between_its_groups_is_found_alone():
    """The number gate takes any whitespace: before, such a phone was found only when another
    number in the same scan opened the gate."""
    for separator in ("\n", "\xa0", "\r"):
        phone = separator.join(("+44", "20", "7946", "0958"))
        assert [finding.kind for finding in find_pii(f"call {phone} now", ALL_PII_KINDS)] == ["phone"]


def test_a_texts_findings_are_its_fragments_findings():
    """No finding crosses a break or a fragment's edge whitespace, and each fragment scanned
    alone (as the writer joins them, NUL-separated) finds what it found inside the text."""
    rng = random.Random(11)
    kinds = Counter()
    for _ in range(6_000):
        text = "".join(_text(rng) for _ in range(rng.randint(1, 4)))
        fragments = _fragments(text)
        expected = _found(text)
        assert _found("\x00" + "\x00".join(fragments)) == expected, text
        assert sum((_found(fragment) for fragment in fragments), Counter()) == expected, text
        kinds.update(kind for kind, _ in expected)
    assert len(kinds) >= 9 and kinds["name"] and kinds["phone"] and kinds["email"], kinds


def _value(rng: random.Random):
    """A content value as a flow produces one: messages, inputs or outputs with text, numbers,
    nested lists and the characters JSON escapes (quotes, backslashes, line breaks, controls)."""
    def text() -> str:
        value = _text(rng)
        if rng.random() < 0.3:
            value += rng.choice(['"quoted"', "back\\slash", "tab\there", "\x01ctl", "a/b", "line\r\nbreak", "\b\f"])
        return value
    shape = rng.randrange(3)
    if shape == 0:
        return [{"role": rng.choice(["system", "user"]), "parts": [{"type": "text", "content": text()}]}
                for _ in range(rng.randint(1, 3))]
    if shape == 1:
        return {text(): text(), "n": rng.randint(0, 10**16), "items": [text(), 4111111111111111, None, True]}
    return {"answer": text(), "score": rng.random()}


def test_the_engines_json_unescaped_holds_the_fragments_of_its_decoded_strings():
    """`_unescaped` (line breaks, tabs, slashes: the usual escapes of a prompt) gives the
    fragments the decoded strings give, plus JSON's punctuation and numbers; other escapes are
    decoded instead (None)."""
    rng = random.Random(5)
    unescaped_count = 0
    for _ in range(3_000):
        value = _value(rng)
        encoded = _json(value)
        unescaped = _unescaped(encoded)
        if unescaped is None:
            assert any(escape in encoded for escape in ("\\\\", "\\u", "\\b", "\\f"))
            continue
        unescaped_count += 1
        decoded = json.loads(encoded)
        strings = []
        _walk(decoded, strings)
        expected = Counter(piece for string in strings for piece in _fragments(string))
        got = Counter(_fragments(unescaped))
        assert not expected - got, encoded  # every fragment of the strings, as many times
        extra = got - expected
        assert all(json.loads(f"[{piece.strip(':')}]") is not None for piece in extra if piece.strip(":")), extra
    assert unescaped_count > 1_000


def _walk(value, found: list) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            found.append(key)
            _walk(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found)


@pytest.mark.parametrize("mode", ["redact", "hash", "drop"])
def test_governed_batches_store_what_the_policys_walk_makes(mode):
    """Batch after batch with one memory of clean text, content the engine encoded (escapes of
    every kind), plain text, JSON it did not encode and values that are no text: each record
    holds exactly what `PiiPolicy.attributes` makes of it alone, and no text with a finding is
    remembered clean."""
    rng = random.Random(hash(mode) % 1000)
    policy = PiiPolicy(mode, key=b"k" * 32)
    clean = CleanTexts()
    names = sorted(A.CONTENT_ATTRIBUTES)
    template = _json([{"role": "system", "parts": [{"type": "text", "content": "Sort this log.\n```\n"}]}])
    for _ in range(60):
        batch = []
        for _ in range(rng.randint(1, 12)):
            attributes = {}
            for name in rng.sample(names, rng.randint(1, 3)):
                kind = rng.randrange(6)
                if kind == 0:
                    attributes[name] = _json(_value(rng))
                elif kind == 1:
                    attributes[name] = _text(rng)
                elif kind == 2:
                    attributes[name] = json.dumps(_value(rng))  # JSON the engine did not encode
                elif kind == 3:
                    attributes[name] = RedactedText(_json(_value(rng))[:-3] + "…")  # cut short
                elif kind == 4:
                    attributes[name] = template if rng.random() < 0.5 else _json(
                        [{"role": "user", "parts": [{"type": "text", "content": f"```\n{_text(rng)}\n```"}]}])
                else:
                    attributes[name] = [_text(rng), "x"]
            batch.append(attributes)
        records = [SpanRecord("t" * 32, "s" * 16, None, "span", 0, 0, attributes=dict(values)) for values in batch]
        govern_content(records, policy, clean)
        assert [record.attributes for record in records] == [policy.attributes(dict(values), A.CONTENT_ATTRIBUTES)
                                                             for values in batch]
    remembered = list(clean._texts)
    assert remembered and not [text for text in remembered if find_pii(text, ALL_PII_KINDS)]
