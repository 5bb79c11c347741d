"""The event loop a batch runs on: uvloop's when it is installed, else asyncio's own.

    result = run(run_batch(...))

Why: against a fast endpoint a batch is bound by its own CPU, and a good part of it is the
event loop (timers, callbacks, socket reads and writes). uvloop (libuv, in C) does that work
for less: measured with benchmarks/batch_speed.py at 5 ms and 64 in flight, about a tenth less
CPU per row. It comes with `promptwise[serve]` (uvicorn uses it too) and is optional: without
it (or on Windows, where it does not exist) asyncio's loop runs the same code.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Coroutine

# PROMPTWISE_EVENT_LOOP=asyncio forces asyncio's own loop (to compare, or to rule uvloop out).
_CHOICE = "PROMPTWISE_EVENT_LOOP"


def loop_factory():
    """uvloop's loop factory when it is installed and not turned off, else None (asyncio's)."""
    if os.environ.get(_CHOICE, "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run(main), on uvloop's loop when it is available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The loop run() would use, for reports: "uvloop" or "asyncio"."""
    return "uvloop" if loop_factory() is not None else "asyncio"


# --- the loop thread's CPU slice (Linux) ---------------------------------------------------------
# A served request's work comes in bursts on the loop thread (read it, call the model, read the
# reply, answer), between which the thread sleeps. Linux's fair scheduler (EEVDF, 6.6+) lets a
# waking thread take a busy core only when its virtual deadline comes first; with the default
# slice (0.7 ms x (1 + log2 cores)) a thread that used its share recently often does not, and
# then waits for the running task's slice to end, noticed at the next timer tick: up to 4 ms at
# HZ=250, several times per request, behind a span writer's or any neighbour's CPU-bound work.
# Since Linux 6.12 a thread can ask for a shorter slice (sched_setattr's sched_runtime for
# SCHED_OTHER, 0.1-100 ms, no privilege needed): its deadlines come sooner, so it takes the core
# when it wakes. Its share of the CPU stays what its nice value gives (the weight is unchanged);
# only the order changes. Measured on a 2-core VM (kernel 6.18, HZ=250): a thread doing 0.8 ms
# of work every 2.8 ms beside two CPU-bound processes woke p99 3.7-3.9 ms late with the default
# slice, 0.11 ms with 0.1 ms (benchmarks/serve_speed.py has the serving figures).
# PROMPTWISE_SLICE_US=0 leaves the kernel's default (to compare); another number asks for that.
SLICE_CHOICE = "PROMPTWISE_SLICE_US"
DEFAULT_SLICE_US = 100  # the kernel's smallest
_SCHED_ATTR_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}  # sched_setattr, sched_getattr


def _sched_attr_type():
    import ctypes

    class SchedAttr(ctypes.Structure):  # struct sched_attr, SCHED_ATTR_SIZE_VER1 (56 bytes)
        _fields_ = [("size", ctypes.c_uint32), ("policy", ctypes.c_uint32), ("flags", ctypes.c_uint64),
                    ("nice", ctypes.c_int32), ("priority", ctypes.c_uint32), ("runtime", ctypes.c_uint64),
                    ("deadline", ctypes.c_uint64), ("period", ctypes.c_uint64), ("util_min", ctypes.c_uint32),
                    ("util_max", ctypes.c_uint32)]

    return SchedAttr


def _fair_policies() -> set[int]:
    return {os.SCHED_OTHER, getattr(os, "SCHED_BATCH", os.SCHED_OTHER)}


def _sched_attr_syscalls() -> tuple[int, int] | None:
    import platform

    return _SCHED_ATTR_SYSCALLS.get(platform.machine()) if sys.platform == "linux" else None


def thread_slice_ns(tid: int = 0) -> int | None:
    """The fair-scheduler slice of thread `tid` (0: the calling thread) in ns, as sched_getattr
    reports it (Linux 6.12+: the thread's own or the default); None where it cannot be read or
    the thread is not under a fair policy (SCHED_OTHER, SCHED_BATCH)."""
    import ctypes

    numbers = _sched_attr_syscalls()
    if numbers is None:
        return None
    attr = _sched_attr_type()()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(numbers[1], tid, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        return None
    return int(attr.runtime) if attr.policy in _fair_policies() else None


def set_thread_slice(microseconds: int, policies: tuple[int, ...] | None = None) -> int | None:
    """Ask for a slice of `microseconds` (the kernel keeps it within 100 us-100 ms) for the
    calling thread, its policy and nice value kept; threads it starts afterwards inherit it.
    Only a thread whose policy is one of `policies` (default SCHED_OTHER) is touched, so an
    operator's other choice stays. Returns the slice now in effect in microseconds, or None
    when it is not the one asked for (not Linux, a kernel before 6.12, another policy, or
    refused, e.g. by a seccomp filter: the thread runs as before)."""
    wanted = min(100_000, max(100, microseconds))  # the kernel's bounds
    if not _set_runtime(wanted * 1000, policies or (os.SCHED_OTHER,)):
        return None
    return wanted if thread_slice_ns() == wanted * 1000 else None  # older kernels ignore the field


def reset_slice() -> None:
    """The calling thread back on the kernel's default slice (sched_runtime 0), its policy and
    nice kept: what a serve lifespan that shortened it puts back at shutdown (tests serve
    in-process, in pytest's main thread, and every thread started later would inherit it)."""
    _set_runtime(0, tuple(_fair_policies()))


def _set_runtime(runtime_ns: int, policies: tuple[int, ...]) -> bool:
    """sched_setattr of the calling thread's sched_runtime, when its policy is one of `policies`."""
    import ctypes

    numbers = _sched_attr_syscalls()
    if numbers is None:
        return False
    attr = _sched_attr_type()()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(numbers[1], 0, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
            return False
        if attr.policy not in policies:
            return False
        change = _sched_attr_type()(size=ctypes.sizeof(attr), policy=attr.policy, nice=attr.nice,
                                    runtime=runtime_ns)
        return libc.syscall(numbers[0], 0, ctypes.byref(change), 0) == 0
    except (OSError, AttributeError):
        return False


def shorten_slice() -> int | None:
    """The serve worker's loop thread: a short slice (PROMPTWISE_SLICE_US, default 100 us; 0
    leaves the kernel's), see above. The slice in effect in microseconds, or None."""
    try:
        wanted = int(os.environ.get(SLICE_CHOICE, DEFAULT_SLICE_US))
    except ValueError:
        wanted = DEFAULT_SLICE_US
    return set_thread_slice(wanted) if wanted > 0 else None
