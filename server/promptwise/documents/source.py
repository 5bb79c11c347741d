"""Source positions and ranges: the plain types live in `promptwise.common.source` (the
bottom of the package); re-exported here for the modules that import them from documents."""

from promptwise.common.source import Position, Range

__all__ = ["Position", "Range"]
