"""What a run's name may be. A run's name is also a folder under `.promptwise/runs/`, so a path
separator, a leading dot (`..`, `.x`) or a control character would write elsewhere or make a
folder no one can see. The CLI (`--name`), the language server and the engine all ask here."""

from __future__ import annotations

RULE = "no / or \\, no control characters, not starting with '.'"


def is_safe_run_name(name: str) -> bool:
    return (
        bool(name.strip())
        and not name.startswith(".")
        and not any(char in "/\\" or not char.isprintable() for char in name)
    )
