from typing import List

from promptflow.core import tool


def _total(losses: List[dict], key: str = "paid") -> float:
    return float(sum(loss.get(key, 0) or 0 for loss in losses))


@tool
def summarise_loss_history(losses: List[dict], years: int = 5) -> dict:
    """Totals the submitted loss history over the last `years` years."""
    recent = sorted(losses, key=lambda loss: loss["year"])[-years:]
    return {
        "count": len(recent),
        "total_paid": _total(recent),
        "open_claims": sum(1 for loss in recent if loss.get("open")),
        "causes": sorted({loss["cause"] for loss in recent}),
    }
