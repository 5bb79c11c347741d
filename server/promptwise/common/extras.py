"""Optional extras: whether one is installed, and the one wording that says which to install.

The core install (`pip install promptwise`) leaves out what only some features use (BLEU and
ROUGE, JSON Schema, serving, cloud targets...). A feature whose extra is missing says so with
`missing_extra(...)`, so every such message names the packages and the same `pip install`.
"""

from __future__ import annotations

import importlib.util


def install_command(extra: str) -> str:
    return f"pip install 'promptwise[{extra}]'"


def missing_modules(*modules: str) -> list[str]:
    """The modules among `modules` that cannot be imported. Only looks for them: importing one
    can cost a tenth of a second (sacrebleu) that a check of eval.yaml need not pay."""
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a broken one
            found = False
        if not found:
            missing.append(module)
    return missing


def missing_extra(what: str, packages: list[str] | tuple[str, ...], extra: str) -> str:
    """`what` needs `packages`, which the core install leaves out: the message that says how to get them."""
    return (f"{what} needs {', '.join(packages)}, which the core install leaves out; "
            f"install it with: {install_command(extra)}")
