"""The phone and DNI/NIE detectors' faster forms (evaluation/safety.py: the pattern opens with the
character its match opens with, the look-behind after it, so the regex engine skips to the
places a match can start) match exactly where the plain forms match, and find_pii finds what
it found with them. The span writer runs them over every served request's new content, where
they were the two slowest detectors on log lines (~30 ns a character each)."""

from __future__ import annotations

import random
import re

from promptwise.evaluation import safety
from promptwise.evaluation.safety import ALL_PII_KINDS, find_pii

from pii_fuzz import random_text

PLAIN_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}"
    r"|\(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}"
    r"|0\d{1,4}(?:[\s.-]\d{2,4}){2,4}"
    r"|\d{3}[-.]\d{3}[-.]\d{4}"
    r")(?![\w-])")
PLAIN_DNI = re.compile(r"(?<![\w-])([XYZ]?)(\d{7,8})-?([A-HJ-NP-TV-Z])(?![\w-])")

ALPHABET = list("0123456789012345678901234567890123456789 -.-./()+\t\nXYZABTRWxyzé_\x00")
PIECES = ["+44 20 7946 0958", "+1 (555) 123-4567", "(020) 7946 0958", "020 7946 0958", "0612 34 56 78",
          "555-123-4567", "555.123.4567", "+33612345678", "12345678Z", "12345678-Z", "X1234567L", "Y7654321-G",
          "Z12345678", "2026-03-04T10:22:31.877Z", "corr=5d0e7b42", "MTR-30-558190", "CLM-2026-0092540"]


def _random_text(rng: random.Random) -> str:
    return random_text(rng, PIECES, ALPHABET, piece_chance=0.45)


def _dni_groups(match: re.Match) -> tuple:
    """The faster form's groups as the plain form's (prefix, digits, letter)."""
    first, after_letter, after_digit, letter = match.groups()
    return (first, after_letter, letter) if after_letter is not None else ("", first + after_digit, letter)


def test_the_faster_phone_form_matches_where_the_plain_form_matches():
    rng = random.Random("phone")
    found = 0
    for _ in range(20_000):
        text = _random_text(rng)
        expected = [match.span() for match in PLAIN_PHONE.finditer(text)]
        assert [match.span() for match in safety._PHONE.finditer(text)] == expected, text
        found += bool(expected)
    assert found > 500


def test_the_faster_dni_form_matches_where_the_plain_form_matches_with_the_same_parts():
    rng = random.Random("dni")
    found = 0
    for _ in range(20_000):
        text = _random_text(rng)
        expected = [(match.span(), match.groups()) for match in PLAIN_DNI.finditer(text)]
        assert [(match.span(), _dni_groups(match)) for match in safety._DNI.finditer(text)] == expected, text
        found += bool(expected)
    assert found > 500


def test_find_pii_finds_what_it_found_with_the_plain_forms(monkeypatch):
    rng = random.Random("find")
    texts = ["\x00".join(_random_text(rng) for _ in range(rng.randint(1, 5))) for _ in range(3_000)]
    faster = [find_pii(text, ALL_PII_KINDS) for text in texts]

    def plain_dni_valid(match: re.Match) -> bool:
        prefix, digits, letter = match.groups()
        if prefix and len(digits) != 7 or not prefix and len(digits) != 8:
            return False
        number = int(str("XYZ".index(prefix)) + digits) if prefix else int(digits)
        return safety._DNI_LETTERS[number % 23] == letter

    detectors = tuple((kind, PLAIN_PHONE if kind == "phone" else PLAIN_DNI if kind == "dni" else pattern,
                       plain_dni_valid if kind == "dni" else valid) for kind, pattern, valid in safety._DETECTORS)
    monkeypatch.setattr(safety, "_DETECTORS", detectors)
    assert [find_pii(text, ALL_PII_KINDS) for text in texts] == faster
    assert sum(any(f.kind == "dni" for f in found) for found in faster) > 50
    assert sum(any(f.kind == "phone" for f in found) for found in faster) > 50
