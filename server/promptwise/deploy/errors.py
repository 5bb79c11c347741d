"""The one error type of deploy/: a message the user can act on, printed without a traceback."""

from __future__ import annotations


class DeployError(Exception):
    """Something the user can fix (a version that does not exist, a region not allowed, a missing
    extra...). Raised before anything is changed wherever that can be known in advance."""


class MissingExtra(DeployError):
    """A target's SDK is not installed: names the `pip install` that brings it."""

    def __init__(self, target: str, modules: list[str], extra: str) -> None:
        from promptwise.common.extras import missing_extra

        super().__init__(missing_extra(f"the {target} target", modules, extra))
        self.extra = extra


def scrub(text: str) -> str:
    """A platform's message (an engine's stderr, a cloud API's error) with known secrets and
    anything key-shaped (the secret scanner's patterns: tokens, keys, credentials in URLs)
    masked: every target passes what its platform says through this before raising."""
    from pathlib import PurePath

    from promptwise.analysis.secrets import scan_text
    from promptwise.redaction import redact

    lines = redact(text).split("\n")
    for problem in sorted(scan_text(PurePath("output"), "\n".join(lines)), key=lambda p: -p.range.start.character):
        start, end = problem.range.start, problem.range.end
        if start.line == end.line < len(lines):
            line = lines[start.line]
            lines[start.line] = line[:start.character] + "***" + line[end.character:]
    return "\n".join(lines)
