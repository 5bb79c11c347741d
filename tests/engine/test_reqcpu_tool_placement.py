"""A sync tool on the event loop is judged by what it held the loop for: a call the kernel
preempted (other processes ran meanwhile) is judged by its own CPU time, a call that slept,
waited for I/O or spun the CPU by its wall time (engine/python_tools.py `held_loop_seconds`)."""

from __future__ import annotations

import resource
import time
from types import SimpleNamespace

import pytest

from promptwise.engine import python_tools
from promptwise.engine.python_tools import ToolPlacement, _guarded, held_loop_seconds


def usage(user: float, system: float, voluntary: int) -> SimpleNamespace:
    return SimpleNamespace(ru_utime=user, ru_stime=system, ru_nvcsw=voluntary)


def test_a_call_that_gave_up_the_cpu_itself_is_judged_by_its_wall_time():
    assert held_loop_seconds(0.3, usage(1.0, 0.5, 7), usage(1.001, 0.5, 8)) == 0.3


def test_a_preempted_call_is_judged_by_its_own_cpu_time():
    held = held_loop_seconds(0.3, usage(1.0, 0.5, 7), usage(1.002, 0.501, 7))
    assert held == pytest.approx(0.003)
    assert held_loop_seconds(0.001, usage(1.0, 0.5, 7), usage(1.002, 0.5, 7)) == 0.001  # never more than its wall time


def test_a_sleep_is_a_voluntary_switch_on_this_system():
    """The rule's premise, on the real kernel: sleeping shows in the thread's voluntary switches."""
    before = resource.getrusage(resource.RUSAGE_THREAD)
    started = time.perf_counter()
    time.sleep(0.02)
    wall = time.perf_counter() - started
    assert held_loop_seconds(wall, before, resource.getrusage(resource.RUSAGE_THREAD)) == wall


def spin(seconds: float) -> str:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return "done"


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@pytest.mark.parametrize("work", [spin, sleep])
def test_a_call_that_holds_the_loop_sends_the_tool_back_to_the_pool(monkeypatch, work):
    """Busy on the CPU or asleep, past BLOCKING_SECONDS of its own: back to the pool for good."""
    monkeypatch.setattr(python_tools, "SLOW_SECONDS", 0.01)
    monkeypatch.setattr(python_tools, "BLOCKING_SECONDS", 0.05)
    placement = ToolPlacement(quick_calls=20, inline=True)
    assert _guarded(work, {"seconds": 0.08}, placement, on_loop=True) == "done"
    assert placement.pool_only and not placement.inline


def test_a_quick_call_on_the_loop_keeps_it_there(monkeypatch):
    monkeypatch.setattr(python_tools, "SLOW_SECONDS", 0.05)
    monkeypatch.setattr(python_tools, "BLOCKING_SECONDS", 0.2)
    placement = ToolPlacement(quick_calls=20, inline=True)
    assert _guarded(spin, {"seconds": 0.001}, placement, on_loop=True) == "done"
    assert placement.inline and not placement.pool_only
