"""A store on a disk that refuses writes (full, past a file-size limit, over quota).

Each of the server's stores — the trace store's writer, metering, online evaluation's scores —
keeps one DiskGate: the first refusal is one error saying what stopped and what to do, no write
is attempted for RETRY_S seconds after it (what would be written is dropped and counted, or kept
in memory, by the store's own choice), then one try; the first write that succeeds again says so
once. A full disk is then one clear message per store, not a warning per write attempt, and
serving never waits on it.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from pathlib import Path

RETRY_S = 60.0  # after the disk refused a write: no try for this long, then one


def disk_refusal(error: BaseException | None) -> BaseException | None:
    """The error saying the disk is full or refuses to grow the file (SQLite's FULL or IOERR,
    ENOSPC, EFBIG past a file-size limit, EDQUOT): `error` or what it was raised from (a failed
    ROLLBACK hides the write's own error). None for any other failure."""
    seen = 0
    while error is not None and seen < 5:
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in (sqlite3.SQLITE_FULL,
                                                                                      sqlite3.SQLITE_IOERR):
            return error
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return error
        error, seen = error.__context__ or error.__cause__, seen + 1
    return None


class DiskGate:
    """Whether a store tries its next write, and the one error / one resumed line around a refusal.

    `what` prefixes the messages ("tracing", "metering"); `stopped` says what stops and what
    happens meanwhile ("span recording stopped. Requests are still served; ...")."""

    def __init__(self, logger: logging.Logger, what: str, path: Path | str, stopped: str,
                 retry_s: float = RETRY_S) -> None:
        self.logger, self.what, self.path, self.stopped, self.retry_s = logger, what, path, stopped, retry_s
        self.refused_until: float | None = None  # no write before this (monotonic seconds)

    def open(self) -> bool:
        """False while the disk refused a write less than `retry_s` ago: do not try yet."""
        return self.refused_until is None or time.monotonic() >= self.refused_until

    def succeeded(self) -> None:
        if self.refused_until is not None:
            self.refused_until = None
            self.logger.warning("%s: the disk takes writes again; recording resumed in %s", self.what, self.path)

    def failed(self, error: BaseException) -> bool:
        """True when `error` is the disk refusing writes (said once, writes paused for retry_s);
        False for any other failure, which the caller reports itself."""
        refusal = disk_refusal(error)
        if refusal is None:
            return False
        if self.refused_until is None:  # said once, not once per write
            from promptwise.redaction import redact

            self.logger.error("%s: the disk holding %s refuses writes (%s); %s. Free space on that disk: recording "
                              "resumes by itself (tried again every %g s)", self.what, self.path,
                              redact(str(refusal)), self.stopped, self.retry_s)
        self.refused_until = time.monotonic() + self.retry_s
        return True
