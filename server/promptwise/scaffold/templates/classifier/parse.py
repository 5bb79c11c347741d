"""Reads the model's JSON answer; an answer that is not JSON becomes category "other"."""

import json

from promptflow.core import tool


@tool
def parse(answer: str) -> dict:
    try:
        data = json.loads(answer)
    except (TypeError, ValueError):
        return {"category": "other", "confidence": 0.0}
    if not isinstance(data, dict):
        return {"category": "other", "confidence": 0.0}
    return {"category": str(data.get("category", "other")).strip().lower(),
            "confidence": float(data.get("confidence") or 0.0)}
