"""The batch progress bar on stderr: done, failed, rows/s, tokens, cost so far, ETA.

On a terminal it redraws one line at most 10 times a second; otherwise (CI logs, pipes) it
prints a plain line every 10% so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from promptwise.costing.formatting import format_usd
from promptwise.engine.batch import BatchProgress


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    if count >= 1000:
        return f"{count / 1000:.1f}k"
    return str(count)


def describe(progress: BatchProgress, width: int = 24) -> str:
    fraction = progress.done / progress.total if progress.total else 1.0
    filled = int(fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    parts = [f"[{bar}] {progress.done}/{progress.total}", f"{progress.failed} failed",
             f"{progress.rows_per_second:.1f} rows/s", f"{_tokens(progress.tokens)} tokens",
             format_usd(progress.cost)]
    if progress.retries:
        parts.append(f"{progress.retries} retries")
    if progress.cache_hits:
        parts.append(f"{progress.cache_hits} cached")
    parts.append(f"ETA {_duration(progress.eta_seconds)}" if progress.done < progress.total
                 else f"in {_duration(progress.elapsed)}")
    return " · ".join(parts)


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self._last_draw = 0.0
        self._last_decile = -1
        self._latest: BatchProgress | None = None

    def __call__(self, progress: BatchProgress) -> None:
        self._latest = progress
        now = time.monotonic()
        if self.interactive:
            if now - self._last_draw >= self.interval or progress.done == progress.total:
                self._last_draw = now
                self.stream.write("\r\x1b[2K" + describe(progress))
                self.stream.flush()
            return
        decile = int(10 * progress.done / progress.total) if progress.total else 10
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(describe(progress) + "\n")
            self.stream.flush()

    def interrupt(self) -> None:
        """Before another message on the same stream: clear the bar's line (redrawn at the next row)."""
        if self.interactive and self._latest is not None:
            self.stream.write("\r\x1b[2K")
            self._last_draw = 0.0

    def close(self) -> None:
        if self.interactive and self._latest is not None:
            self.stream.write("\r\x1b[2K" + describe(self._latest) + "\n")
            self.stream.flush()
