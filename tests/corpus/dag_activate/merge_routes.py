from typing import Optional

from promptflow.core import tool


@tool
def merge_routes(large_loss: Optional[str] = None, fast_track: Optional[str] = None, broker: Optional[str] = None) -> str:
    # Bypassed nodes hand over None; keep the routes that ran.
    return "; ".join(route for route in (large_loss, fast_track, broker) if route)
