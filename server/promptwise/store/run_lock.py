"""One process at a time per run: an exclusive `fcntl` lock on `.promptwise/locks/NAME.lock`.

The lock is held while a process runs or resumes a batch, so a second `--resume NAME` is told
who has it instead of racing the first one on the same rows. The kernel drops the lock when
the holder dies (even by `kill -9`), so a crashed run never stays locked.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; the run store's own checks still apply
    fcntl = None

LOCKS_DIR = "locks"


class RunBusy(Exception):
    """Another live process holds the run."""

    def __init__(self, name: str, pid: int | None, action: str) -> None:
        doing = "resumed" if action == "resume" else "run"
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"run {name} is being {doing} by {who}; wait for it or stop it")
        self.pid, self.action = pid, action


class RunLock:
    def __init__(self, state_dir: Path | str, name: str) -> None:
        self.name = name
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.path = Path(state_dir) / LOCKS_DIR / f"{safe}.lock"
        self._handle = None

    def acquire(self, action: str) -> "RunLock":
        """Take the lock for `action` (run | resume), or raise RunBusy naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().split()
                handle.close()
                pid = int(holder[0]) if holder and holder[0].isdigit() else None
                raise RunBusy(self.name, pid, holder[2] if len(holder) > 2 else "run") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()} {action}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        # The file stays: deleting it would let a waiting process lock an unlinked file.
        if self._handle is not None:
            if fcntl is not None:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
