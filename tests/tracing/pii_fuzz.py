"""Generated texts for the tests that compare a faster PII detector with its plain form."""

from __future__ import annotations

import random


def random_text(rng: random.Random, pieces: list[str], alphabet: list[str], piece_chance: float) -> str:
    """One to six parts, each a piece that makes a match likely (sometimes with one character
    changed: near misses) or a few random characters of the alphabet."""
    parts = []
    for _ in range(rng.randint(1, 6)):
        if rng.random() < piece_chance:
            piece = rng.choice(pieces)
            if rng.random() < 0.3:
                at = rng.randrange(len(piece))
                piece = piece[:at] + rng.choice(alphabet) + piece[at + 1:]
            parts.append(piece)
        else:
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
    return "".join(parts)
