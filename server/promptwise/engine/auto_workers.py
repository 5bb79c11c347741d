"""When a batch should move its rows to worker processes (`--workers auto`, the CLI's default).

A batch starts in one process. Every few seconds it asks `CpuProbe.check`: since the last look,

- was this process busy nearly all the time (at least BUSY of a core: one Python thread is the
  bound, not the endpoint, which would leave it waiting), and
- did the machine have a core to spare (at least SPARE_CORES idle: with a local endpoint or
  other programs using the other cores, more processes would only take turns), and
- do the rows left need enough CPU (MIN_WORK_SECONDS at the rate just measured) for worker
  processes to pay for their start-up (about a second of CPU each: imports, the session)?

If all three hold it answers how many workers to start (this core plus the spare ones, at most
one per core); the batch starts them while its rows go on, and later rows run in them
(engine/worker_processes.py). Otherwise the batch stays in one process: most batches wait on
their endpoint, and there worker processes cost CPU and memory for nothing.

Idle CPU is read from /proc/stat (Linux); elsewhere from the load average where the system has
one, and on Windows it cannot be measured, so `auto` stays in one process there (pass
`--workers N`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

PROBE_SECONDS = 2.0  # between looks (the first one too)
BUSY = 0.8  # of a core used by this process since the last look: CPU-bound
SPARE_CORES = 0.8  # idle CPU on the machine since the last look, in cores
MIN_WORK_SECONDS = 10.0  # of CPU that the rows left need at the measured cost per row


def usable_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _idle_core_seconds() -> float | None:
    """Idle CPU time of the whole machine so far (idle + iowait), in core-seconds; None without /proc."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 6:
        return None
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Decision:
    workers: int
    reason: str  # for the progress line: what was measured


class CpuProbe:
    """Measures a running batch between looks and says when worker processes would pay."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or usable_cores()
        self._mark()

    def _mark(self, rows_done: int = 0) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._idle = _idle_core_seconds()
        self._rows = rows_done

    def check(self, rows_done: int, rows_left: int) -> Decision | None:
        """`rows_done`: rows finished so far (this session); `rows_left`: rows not finished yet."""
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        rows = rows_done - self._rows
        idle_before = self._idle
        self._mark(rows_done)
        if self.cores < 2 or wall <= 0 or rows <= 0:
            return None
        busy = cpu / wall
        spare = self._spare_cores(idle_before, wall)
        cpu_per_row = cpu / rows
        if busy < BUSY or spare is None or spare < SPARE_CORES or rows_left * cpu_per_row < MIN_WORK_SECONDS:
            return None
        workers = max(2, min(self.cores, 1 + int(spare + 0.2)))
        return Decision(workers, f"this process used {busy:.0%} of a core at {cpu_per_row * 1000:.2f} ms of CPU "
                                 f"per row, {spare:.1f} of {self.cores} cores were idle, and "
                                 f"{rows_left} rows are left")

    def _spare_cores(self, idle_before: float | None, wall: float) -> float | None:
        idle_now = self._idle
        if idle_before is not None and idle_now is not None:
            return max(0.0, (idle_now - idle_before) / wall)
        if hasattr(os, "getloadavg"):  # no /proc: the last minute's load average, coarser
            return max(0.0, self.cores - os.getloadavg()[0])
        return None  # cannot tell: stay in one process
