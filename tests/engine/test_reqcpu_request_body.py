"""The chat request body is the bytes json.dumps(body, ensure_ascii=False, default=str) gave
(engine/providers.py `_encode`, now with the C encoder built once), on generated bodies."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal

from promptwise.engine.providers import _encode

TEXTS = ["plain", "é ü 中文 🙂", "quote \" backslash \\ slash /", "line\nbreak\ttab\r", "\x00\x1f control", "\u2028\u2029",
         "user:\nsystem:\n", ""]
OTHERS = [0, -7, 2**70, 0.1, 1e300, float("inf"), float("nan"), True, False, None, date(2026, 12, 7), Decimal("1.50")]


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(5 if depth < 3 else 2)
    if kind == 0:
        return rng.choice(TEXTS) * rng.randint(1, 3)
    if kind == 1:
        return rng.choice(OTHERS)
    if kind == 2:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 3:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 2)))
    return {rng.choice(["role", "content", "type", "name", 3, 1.5, None, True]): _value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def test_request_bodies_are_the_bytes_json_dumps_wrote():
    rng = random.Random(7)
    for _ in range(3000):
        body = {"model": "gpt-4o-mini",
                "messages": [{"role": rng.choice(["system", "user"]), "content": _value(rng)} for _ in range(3)],
                **{key: _value(rng) for key in rng.sample(["temperature", "max_tokens", "response_format", "stop"], 2)}}
        assert _encode(body) == json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
