from promptflow.core import tool

EXAMPLES = [
    {"log": "No space left on device", "category": "storage"},
    {"log": "Connection reset by peer", "category": "network"},
    {"log": "NullPointerException in OrderService", "category": "application"},
]


@tool
def find_examples(text: str, limit: int = 2) -> list:
    """Examples of classified logs that share words with `text`."""
    words = set(text.lower().split())
    scored = sorted(EXAMPLES, key=lambda e: -len(words & set(e["log"].lower().split())))
    return scored[:limit]
