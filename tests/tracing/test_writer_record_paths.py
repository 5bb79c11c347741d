"""The span writer's cheaper checks per span (tracing/processor.py) decide as the plain walk
does, on generated spans: whether a span holds a registered secret or a URL credential."""

from __future__ import annotations

import random

from promptwise.engine.spans import RedactedText
from promptwise.redaction import forget_secret, redact, redact_value, register_secret
from promptwise.tracing.processor import _needs_redaction

SECRET = "sk-test-0123456789abcdef"
TEXTS = ["plain", SECRET, f"key={SECRET}", "https://user:pa55word@example.com/x", "?subscription-key=abc123",
         "a\nb", "", "claims-intake", "mail jane@example.com"]


def _value(rng: random.Random):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice(TEXTS)
    if kind == 1:
        return RedactedText(rng.choice(TEXTS))  # the engine's masked content: left out of the check
    if kind == 2:
        return [rng.choice(TEXTS), rng.randint(0, 9)]
    if kind == 3:
        return tuple(rng.choice(TEXTS) for _ in range(2))
    return rng.choice([7, 2.5, True, None])


def _plain_needs_redaction(name: str, description: str | None, attributes: dict) -> bool:
    """The reference: the walk over every text the check reads, RedactedText left out."""
    texts = [name, description or "", *attributes]
    for value in attributes.values():
        if isinstance(value, str) and type(value) is not RedactedText:
            texts.append(value)
        elif isinstance(value, (tuple, list)):
            texts += [item for item in value if isinstance(item, str)]
    return redact_value(texts) != texts


def test_the_secret_check_decides_as_the_walk_on_generated_spans():
    rng = random.Random(3)
    register_secret(SECRET)
    try:
        answers = set()
        for _ in range(3_000):
            attributes = {rng.choice(["a", "b", "c", "d", f"k{rng.randint(0, 3)}", SECRET]): _value(rng)
                          for _ in range(rng.randint(0, 6))}
            name, description = rng.choice(TEXTS), rng.choice([None, *TEXTS])
            expected = _plain_needs_redaction(name, description, attributes)
            assert _needs_redaction(name, description, attributes) == expected, (name, description, attributes)
            answers.add(expected)
        assert answers == {True, False}
    finally:
        forget_secret(SECRET)
    assert redact(SECRET) == SECRET  # forgotten: other tests see no registered secret
