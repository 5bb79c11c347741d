"""The one error type of deploy/: a message the user can act on, printed without a traceback."""

from __future__ import annotations


class DeployError(Exception):
    """Something the user can fix (a version that does not exist, a region not allowed, a missing
    extra...). Raised before anything is changed wherever that can be known in advance."""


class MissingExtra(DeployError):
    """A target's SDK is not installed: names the `pip install` that brings it."""

    def __init__(self, target: str, modules: list[str], extra: str) -> None:
        super().__init__(f"the {target} target needs {', '.join(modules)}; install it with: "
                         f"pip install 'promptwise[{extra}]'")
        self.extra = extra
