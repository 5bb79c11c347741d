import math
from typing import List

from promptflow.core import tool

# A tiny in-code index: clause text with a pre-computed 4-dimensional embedding, enough to
# exercise the flow without a vector store.
CLAUSES = [
    ("4.2 Missed departure: we pay extra travel costs if public transport fails to run to timetable.", [0.12, 0.80, 0.05, 0.31]),
    ("4.5 Strikes or industrial action known before you booked are not covered.", [0.10, 0.71, 0.22, 0.40]),
    ("6.1 Baggage delayed by more than 12 hours: up to 250 EUR for essentials.", [0.64, 0.05, 0.70, 0.02]),
    ("7.3 Medical emergencies abroad are covered up to 5,000,000 EUR.", [0.90, 0.10, 0.11, 0.08]),
]


def _cosine(a: List[float], b: List[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@tool
def find_clauses(vector: List[float], top_k: int = 3) -> List[str]:
    query = list(vector[: len(CLAUSES[0][1])])
    ranked = sorted(CLAUSES, key=lambda clause: _cosine(query, clause[1]), reverse=True)
    return [text for text, _ in ranked[:top_k]]
