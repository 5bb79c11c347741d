from promptflow.core import tool


@tool
def route(team: str, reason: str) -> str:
    return f"{team}: {reason}"
