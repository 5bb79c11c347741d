"""The PII detectors that govern stored and exported traffic (`tracing.pii`) and the `pii`
evaluator: each kind found in the shapes people write it, and near misses (a wrong check digit,
an impossible date, a prefix never issued, a capitalised word with no cue) left alone."""

from __future__ import annotations

import pytest

from promptwise.evaluation.safety import ALL_PII_KINDS, find_pii
from promptwise.tracing.pii import PiiPolicy

FOUND = [
    ("email", "write to jane.doe+news@example.co.uk today", "jane.doe+news@example.co.uk"),
    ("phone", "call +31 20 123 4567 after nine", "+31 20 123 4567"),
    ("phone", "call (555) 123-4567 after nine", "(555) 123-4567"),
    ("phone", "bel 020 123 45 67 na negen", "020 123 45 67"),
    ("card", "paid with 4111 1111 1111 1111 yesterday", "4111 1111 1111 1111"),
    ("card", "paid with 5500-0000-0000-0004 yesterday", "5500-0000-0000-0004"),
    ("iban", "to NL91 ABNA 0417 1643 00 please", "NL91 ABNA 0417 1643 00"),
    ("iban", "to DE89370400440532013000 please", "DE89370400440532013000"),
    ("ssn", "SSN 123-45-6789 on file", "123-45-6789"),
    ("nino", "NI number AB 12 34 56 C on file", "AB 12 34 56 C"),
    ("nino", "NI number JZ123456D on file", "JZ123456D"),
    ("nir", "NIR 1 85 05 78 006 084 91 on file", "1 85 05 78 006 084 91"),
    ("bsn", "BSN 111222333 on file", "111222333"),
    ("bsn", "BSN 1112.22.333 on file", "1112.22.333"),
    ("dni", "DNI 12345678Z on file", "12345678Z"),
    ("dni", "NIE X1234567L on file", "X1234567L"),
    ("dni", "NIE Y1234567X on file", "Y1234567X"),
    ("hetu", "HETU 131052-308T on file", "131052-308T"),
    ("hetu", "born 010594Y9032 in Espoo", "010594Y9032"),
    ("name", "Name: Jane Doe\nAge: 41", "Jane Doe"),
    ("name", "Surname: Virtanen", "Virtanen"),
    ("name", "Dear Dr. Anna Smith, thank you", "Anna Smith"),
    ("name", "Hello, my name is Pekka Virtanen.", "Pekka Virtanen"),
    ("name", "Ms María José García called", "María José García"),
    ("name", "Attn: John O'Neill", "John O'Neill"),
    ("name", "Customer: Jean-Luc McDonald", "Jean-Luc McDonald"),
]

NEAR_MISSES = [
    ("email", "user@localhost and @handle and a@b"),           # no domain with a dot
    ("phone", "version 1.2.3, 2024-01-15, 12:30:45, order 12345"),
    ("phone", "pi is 3.14159265"),
    ("card", "ref 4111 1111 1111 1112"),                        # fails Luhn
    ("card", "id 1234567890123"),                               # 13 digits, fails Luhn
    ("iban", "to NL91 ABNA 0417 1643 01"),                      # fails mod 97
    ("iban", "code AB12 CDEF GHIJ"),                            # too short for any IBAN
    ("ssn", "000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000"),  # never issued
    ("ssn", "phone 555-123-4567"),                              # 3-3-4 is a phone, not an SSN
    ("nino", "DA 12 34 56 C, GB 12 34 56 A, QQ 12 34 56 C"),    # D first, GB, QQ (the example): never issued
    ("nino", "AB 12 34 56 E"),                                  # suffix beyond D
    ("nir", "NIR 1 85 05 78 006 084 92"),                       # wrong key
    ("bsn", "order 111222334"),                                 # fails the 11-proof
    ("bsn", "order 000000000"),
    ("dni", "DNI 12345678A"),                                   # wrong control letter
    ("dni", "NIE X1234567A"),
    ("dni", "SKU 1234567Z"),                                    # 7 digits without X/Y/Z
    ("hetu", "HETU 131052-308U"),                               # wrong control character
    ("hetu", "ticket 482913 and order 1234567 shipped"),       # short numbers alone are no id
    ("hetu", "HETU 321352-308T"),                               # day 32, month 13
    ("name", "The Eiffel Tower is tall; we visited Paris and Berlin."),
    ("name", "name: gpt-4o-mini; dear customer, thanks"),      # no capitalised words after the cue
    ("name", "Customer Service will reply"),                    # a cue word without the colon
]


@pytest.mark.parametrize("kind, text, value", FOUND, ids=[f"{k}-{v}" for k, _, v in FOUND])
def test_each_kind_is_found_where_people_write_it(kind, text, value):
    findings = [(finding.kind, finding.text) for finding in find_pii(text, ALL_PII_KINDS)]
    assert findings == [(kind, value)]


@pytest.mark.parametrize("kind, text", NEAR_MISSES, ids=[f"{k}-{t[:24]}" for k, t in NEAR_MISSES])
def test_near_misses_are_not_personal_data(kind, text):
    assert [finding for finding in find_pii(text, ALL_PII_KINDS) if finding.kind == kind] == []


@pytest.mark.parametrize("kind, text, value", FOUND, ids=[f"{k}-{v}" for k, _, v in FOUND])
def test_every_kind_is_redacted_hashed_and_dropped_by_the_tracing_policy(kind, text, value):
    redacted = PiiPolicy("redact").text(text)
    assert value not in redacted and f"[{kind.upper()}]" in redacted
    hashed = PiiPolicy("hash", b"k" * 32).text(text)
    assert value not in hashed and f"[{kind.upper()}:" in hashed
    assert PiiPolicy("drop").text(text) == "[dropped: personal data]"


def test_every_kind_is_covered_by_the_table():
    assert {kind for kind, _, _ in FOUND} == set(ALL_PII_KINDS)
    assert {kind for kind, _ in NEAR_MISSES} == set(ALL_PII_KINDS)


def test_a_short_id_before_a_long_number_leaves_both_found():
    """The cheap gate sees the NIE's 7 digits first; the card after it must still be looked for."""
    text = "NIE X1234567L, paid with 4111 1111 1111 1111, BSN 111222333"
    assert [(f.kind, f.text) for f in find_pii(text, ALL_PII_KINDS)] == [
        ("dni", "X1234567L"), ("card", "4111 1111 1111 1111"), ("bsn", "111222333")]
