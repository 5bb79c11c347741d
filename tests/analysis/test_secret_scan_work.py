"""The secret scanner's work is linear in the text it reads (issue 9 part 3).

The quadratic scanner took 39 s on one line of 20,000 letters, because its patterns could
start a match at every letter of a run and read to the run's end from each. Two checks, none
of them timed:
- counted work: every pattern the scanner uses is wrapped to count the characters it is
  handed; scanning 4x the text must hand the patterns about 4x the characters, and never more
  than a fixed number of passes over the text;
- a fresh interpreter scans, and analyses as a .prompty, a 200,000-character line of letters,
  of hex and of base64 within a generous limit (the quadratic scanner needed about 20 minutes
  for the letters alone, the fixed one milliseconds), so a pattern that backtracks inside the
  regular-expression engine, where no counter can see, fails this test.
"""

from __future__ import annotations

import base64
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptwise.analysis import secrets
from promptwise.analysis.secrets import scan_text

PATTERNS = ("_OPENAI", "_AWS_ACCESS_KEY", "_HEX32", "_CONNECTION_SECRET", "_URL_PASSWORD", "_ASSIGNMENT")


def _blob(kind: str, size: int) -> str:
    raw = random.Random(size).randbytes(size)
    if kind == "letters":
        return "a" * size
    if kind == "hex":
        return raw.hex()[:size]
    if kind == "base64":
        return base64.b64encode(raw).decode()[:size]
    # letters and `://` / `=` markers, so every pattern gets to run on the line
    return ("x" * 997 + "://")[: size] * (size // 1000) + "Password = " + "b" * 20


class _Counting:
    """A compiled pattern that counts the characters every call hands it."""

    def __init__(self, pattern, counter: list[int]):
        self._pattern, self._counter = pattern, counter

    def __getattr__(self, name):
        method = getattr(self._pattern, name)

        def counted(string, *args, **kwargs):
            self._counter[0] += len(string)
            return method(string, *args, **kwargs)

        return counted


def _scanned_characters(monkeypatch, text: str) -> int:
    counter = [0]
    with monkeypatch.context() as patch:
        for name in PATTERNS:
            patch.setattr(secrets, name, _Counting(getattr(secrets, name), counter))
        scan_text(Path("blob.jinja2"), text)
    return counter[0]


@pytest.mark.parametrize("kind", ["letters", "hex", "base64", "markers"])
def test_pattern_work_grows_linearly_with_the_line(monkeypatch, kind):
    small = _scanned_characters(monkeypatch, _blob(kind, 50_000))
    large = _scanned_characters(monkeypatch, _blob(kind, 200_000))
    assert small > 0
    assert large <= 6 * len(_blob(kind, 200_000))  # a few passes, one per pattern at most
    assert large <= 4.5 * small  # 4x the text, about 4x the work


def test_rewritten_patterns_find_what_a_leftmost_search_found():
    """The linear patterns start a name or URL scheme at the first letter of its run, as the
    old patterns' leftmost search did: a digit or dot before it changes nothing."""
    found = scan_text(Path("t.jinja2"), '1.api_key = "Zx8vQ2mN7pL4kR9sT1wY6uB3"\nsee 9+http://admin:Xk29vLq77@db.example.org/app')
    assert [(p.code, p.range.start.line, p.range.start.character, p.range.end.character) for p in found] == [
        ("PW605", 0, 13, 37),
        ("PW604", 1, 19, 28),
    ]
    assert "under `api_key`" in found[0].message


_SCRIPT = textwrap.dedent(
    """
    import base64, random, sys, tempfile
    from pathlib import Path
    from promptwise.analysis import analyze
    from promptwise.analysis.secrets import scan_text

    size = 200_000
    raw = random.Random(1).randbytes(size)
    blobs = ["a" * size, raw.hex()[:size], base64.b64encode(raw).decode()[:size]]
    for blob in blobs:
        scan_text(Path("blob.jinja2"), blob)
    folder = Path(tempfile.mkdtemp())
    head = "---\\nname: blob\\nmodel:\\n  api: chat\\n  configuration:\\n    type: openai\\n    model: gpt-4o-mini\\n---\\n"
    for index, blob in enumerate(blobs):
        problems = analyze(folder / f"blob{index}.prompty", head + "system:\\n" + blob + "\\nuser:\\n{{q}}\\n")
        assert not any(p.code == "PW000" for p in problems), problems
    print("scanned", len(blobs))
    """
)


def test_a_200k_character_line_is_scanned_and_analysed_in_bounded_time():
    # A generous bound on a shared machine: the fixed scanner needs a few seconds here,
    # including interpreter start-up and loading a tokenizer; the quadratic one ~20 minutes.
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "scanned 3"
