from promptflow.core import tool

NEGATIVE_MARKERS = ("still", "third time", "nothing", "complaint", "unacceptable", "again")


@tool
async def detect_sentiment(message: str) -> str:
    # Async tools are allowed: the executor awaits them.
    hits = sum(marker in message.lower() for marker in NEGATIVE_MARKERS)
    return "negative" if hits >= 2 else "neutral"
