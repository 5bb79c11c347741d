"""The PII detectors' faster forms (evaluation/safety.py: each pattern opens with the character
its match opens with, the look-behind after it; names looked for only in the NUL-separated parts
that hold a cue) find exactly what the plain forms find. The span writer scans every served
request's new content with them (benchmarks/README.md, "Served requests: tracing's CPU")."""

from __future__ import annotations

import random
import re

import pytest

from promptwise.evaluation import safety
from promptwise.evaluation.safety import ALL_PII_KINDS, Finding, find_pii

from pii_fuzz import random_text

# The plain forms, as they were written before (the reference).
PLAIN = {
    "card": r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    "ssn": r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])",
    "nino": r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    "nir": r"(?<![\w])([12]) ?(\d{2}) ?(\d{2}) ?(\d{2}|2[AB]) ?(\d{3}) ?(\d{3}) ?(\d{2})(?![\w])",
    "bsn": r"(?<![\w.-])\d{4}\.?\d{2}\.?\d{3}(?![\w-]|\.\d)",
    "hetu": r"(?<![\w-])([0-3]\d)([01]\d)(\d{2})([-+A-FU-Y])(\d{3})([0-9A-Y])(?![\w-])",
}
DETECTORS = {kind: pattern for kind, pattern, _ in safety._DETECTORS}

# Characters the detectors care about (digits, separators, the letters the ids use, word and
# non-word neighbours, NUL and line breaks), plus pieces that make matches likely.
ALPHABET = list("0123456789012345678901234567890123456789 -.-./()+\t\nABGKNTXYZCDEFHUVWabxé_\x00")
PIECES = ["4111 1111 1111 1111", "4111-1111-1111-1111", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
          "123-45-6789", "AB 12 34 56 C", "AB123456C", "BG123456A", "1 85 05 78 006 084 36", "1850578006084 36",
          "1234.56.782", "123456782", "12345678Z", "X1234567L", "131052-308T", "010594Y9032", "Name: Jane Doe",
          "Dear Mr. John Smith", "my name is Ana García", "Patient: Ms O'Neill", "+44 20 7946 0958",
          "(020) 7946 0958", "020 7946 0958", "555-123-4567", "jane.doe@example.com", "2026-03-04T10:22:31.877Z"]


def _random_text(rng: random.Random) -> str:
    return random_text(rng, PIECES, ALPHABET, piece_chance=0.4)


def _matches(pattern: re.Pattern, text: str) -> list:
    return [(match.span(), match.groups()) for match in pattern.finditer(text)]


@pytest.mark.parametrize("kind", sorted(PLAIN))
def test_each_faster_form_matches_where_the_plain_form_matches(kind):
    rng = random.Random(kind)
    plain, faster = re.compile(PLAIN[kind]), DETECTORS[kind]
    found = 0
    for _ in range(20_000):
        text = _random_text(rng)
        expected = _matches(plain, text)
        assert _matches(faster, text) == expected, text
        found += bool(expected)
    assert found > 50  # the texts do hold matches of this kind, not only misses


def _plain_find_pii(text: str, kinds: tuple[str, ...]) -> list[Finding]:
    """find_pii as it was: plain forms, the name detector over the whole text when any cue is in it."""
    detectors = [(kind, re.compile(PLAIN[kind]) if kind in PLAIN else pattern, valid)
                 for kind, pattern, valid in safety._DETECTORS]
    findings, taken = [], []
    if "@" not in text:
        kinds = tuple(kind for kind in kinds if kind != "email")
    if not any(cue in text for cue in safety._NAME_CUES):
        kinds = tuple(kind for kind in kinds if kind != "name")
    if any(kind in safety._NUMERIC_KINDS or kind in safety._SHORT_ID_KINDS for kind in kinds):
        gate = safety._NUMBER_GATE.search(text)
        if gate is None:
            kinds = tuple(k for k in kinds if k not in safety._NUMERIC_KINDS and k not in safety._SHORT_ID_KINDS)
        elif gate.group(1) is None and safety._NUMERIC_RUN.search(text, gate.end()) is None:
            kinds = tuple(k for k in kinds if k not in safety._NUMERIC_KINDS)
    for kind, pattern, valid in detectors:
        if kind not in kinds:
            continue
        group = 1 if kind == "name" else 0
        for match in pattern.finditer(text):
            start, end = match.span(group)
            if all(end <= s or start >= e for s, e in taken) and (valid is None or valid(match)):
                findings.append(Finding(kind, start, end, match.group(group)))
                taken.append((start, end))
    return sorted(findings, key=lambda f: f.start)


def test_find_pii_finds_what_it_found_with_the_plain_forms_in_joined_texts():
    """The policy's and the span writer's NUL-joined texts: names only in the parts with a cue."""
    rng = random.Random(7)
    found = set()
    for _ in range(4_000):
        text = "\x00" + "\x00".join(_random_text(rng) for _ in range(rng.randint(1, 5)))
        expected = _plain_find_pii(text, ALL_PII_KINDS)
        assert find_pii(text, ALL_PII_KINDS) == expected, text
        found.update(finding.kind for finding in expected)
    # Names (whose scan changed most) and most other kinds were found: the comparison covered them.
    assert "name" in found and "email" in found and len(found) >= 8, found
