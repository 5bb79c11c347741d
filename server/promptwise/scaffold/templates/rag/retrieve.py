"""Retrieval for the flow: the passages of docs.jsonl sharing the most words with the question.

Word overlap keeps the example self-contained; swap in a vector index when the documents grow.
"""

import json
import re
from pathlib import Path

from promptflow.core import tool

DOCS = Path(__file__).with_name("docs.jsonl")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@tool
def retrieve(question: str, top_k: int = 2) -> list:
    with DOCS.open(encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle if line.strip()]
    asked = _words(question)
    ranked = sorted(docs, key=lambda doc: len(asked & _words(doc["text"])), reverse=True)
    return [{"id": doc["id"], "text": doc["text"]} for doc in ranked[:top_k]]
