"""The serve workers' loop thread asks Linux for a short scheduler slice (engine/event_loop.py
shorten_slice), so a request's data wakes it onto a busy core at once rather than at the next
tick; nothing else changes: other threads and processes keep the kernel's default, other
policies are left alone, PROMPTWISE_SLICE_US=0 turns it off, and the workers still answer."""

from __future__ import annotations

import os
import platform
import sys
import threading
from pathlib import Path

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine import event_loop
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


def _kernel_has_custom_slices() -> bool:
    """Linux 6.12+ on an architecture whose syscall numbers we know: where the slice applies."""
    if sys.platform != "linux" or platform.machine() not in event_loop._SCHED_ATTR_SYSCALLS:
        return False
    major, minor = (int(part) for part in platform.release().split(".")[:2])
    return (major, minor) >= (6, 12)


CUSTOM = _kernel_has_custom_slices()


def in_thread(function, *args):
    """`function(*args)` in a thread of its own (a thread's slice outlives the test otherwise)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(function(*args)))
    thread.start()
    thread.join()
    return result[0]


def test_the_calling_thread_gets_the_short_slice_and_threads_it_starts_inherit_it(monkeypatch):
    monkeypatch.delenv(event_loop.SLICE_CHOICE, raising=False)

    def shorten_then_look():
        default = event_loop.thread_slice_ns()
        applied = event_loop.shorten_slice()
        return default, applied, event_loop.thread_slice_ns(), in_thread(event_loop.thread_slice_ns)

    default, applied, after, child = in_thread(shorten_then_look)
    if CUSTOM:
        assert applied == event_loop.DEFAULT_SLICE_US
        assert after == child == event_loop.DEFAULT_SLICE_US * 1000
        assert default != after  # the kernel's default is longer
    else:  # nothing asked of a kernel that ignores it, and nothing claimed
        assert applied is None
    assert event_loop.thread_slice_ns() == default  # this (the test's) thread untouched


def test_zero_turns_it_off_and_a_value_is_kept_within_the_kernels_bounds(monkeypatch):
    monkeypatch.setenv(event_loop.SLICE_CHOICE, "0")
    before = event_loop.thread_slice_ns()
    assert in_thread(lambda: (event_loop.shorten_slice(), event_loop.thread_slice_ns())) == (None, before)
    monkeypatch.setenv(event_loop.SLICE_CHOICE, "30")  # below the kernel's 100 us floor: the floor
    assert in_thread(event_loop.shorten_slice) == (100 if CUSTOM else None)
    monkeypatch.setenv(event_loop.SLICE_CHOICE, "750")
    assert in_thread(lambda: (event_loop.shorten_slice(), event_loop.thread_slice_ns())) == (
        (750, 750_000) if CUSTOM else (None, before))


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_a_thread_under_another_policy_is_left_alone(monkeypatch):
    monkeypatch.delenv(event_loop.SLICE_CHOICE, raising=False)

    def batch_then_shorten():
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        return event_loop.shorten_slice(), os.sched_getscheduler(0)

    assert in_thread(batch_then_shorten) == (None, os.SCHED_BATCH)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


@pytest.mark.skipif(not CUSTOM, reason="custom scheduler slices need Linux 6.12+ (x86_64 or aarch64)")
@pytest.mark.parametrize("setting", [None, "0"])
def test_served_workers_loop_threads_take_the_slice_and_answer(tmp_path, setting):
    env = {} if setting is None else {event_loop.SLICE_CHOICE: setting}
    with FakeOpenAI(latency=0.01) as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        served = ServeProcess(root / "echo.prompty", args=("--workers", "2"), env=env)
        try:
            answers = [httpx.post(served.url + "/score", json={"question": f"q{index}"}, timeout=30).json()
                       for index in range(6)]
            assert answers == [f"echo: q{index}" for index in range(6)]  # a prompty's reply, as pf answers it
            workers = [pid for pid in _children(served.process.pid)  # not multiprocessing's resource tracker
                       if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            assert len(workers) == 2
            default = event_loop.thread_slice_ns(served.process.pid)  # uvicorn's supervisor: untouched
            for worker in workers:
                loop_thread = event_loop.thread_slice_ns(worker)  # the worker's main thread runs its loop
                assert loop_thread == (default if setting == "0" else event_loop.DEFAULT_SLICE_US * 1000)
                # The span writer child keeps its own (SCHED_BATCH: None here) or the kernel's default.
                others = [event_loop.thread_slice_ns(int(task.name)) for pid in _tree(worker) if pid != worker
                          for task in Path(f"/proc/{pid}/task").iterdir()]
                assert others and set(others) <= {default, None}
        finally:
            assert served.stop() in (0, -15)
