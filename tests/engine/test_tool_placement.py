"""Sync python tools: in the thread pool until their first calls were all quick, then on the
event loop; back to the pool for good when they block there (engine/python_tools.py)."""

from __future__ import annotations

import asyncio
import threading
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptwise.engine import python_tools
from promptwise.engine.errors import NodeError
from promptwise.engine.python_tools import QUICK_CALLS_FIRST, call_tool, load_tool

TOOL = """
import asyncio
import threading
import time

from promptflow.core import tool

PAUSE = {"seconds": 0.0}


@tool
def echo(text: str, mode: str = "plain") -> dict:
    if mode == "fail":
        raise ValueError("bad text")
    if mode == "own-loop":
        async def twice():
            return text * 2
        text = asyncio.run(twice())
    if PAUSE["seconds"]:
        time.sleep(PAUSE["seconds"])
    return {"text": text, "thread": threading.get_ident()}
"""


@pytest.fixture(autouse=True)
def roomy_thresholds(monkeypatch):
    """Thresholds far from what a loaded test machine's scheduling can add to a call, so each
    test's quick calls are quick and its slow ones slow whatever else runs."""
    monkeypatch.setattr(python_tools, "QUICK_SECONDS", 0.05)
    monkeypatch.setattr(python_tools, "SLOW_SECONDS", 0.1)
    monkeypatch.setattr(python_tools, "BLOCKING_SECONDS", 0.4)


@pytest.fixture
def tool(tmp_path):
    path = tmp_path / f"echo_{tmp_path.name}.py"
    path.write_text(textwrap.dedent(TOOL), encoding="utf-8")
    return load_tool(path, None, "test")


def calls(tool, count: int, **inputs) -> list[dict]:
    """`count` calls one after another, each answer with whether it ran on the loop's thread."""

    async def main() -> list[dict]:
        loop_thread = threading.get_ident()
        answers = []
        for _ in range(count):
            answer = await call_tool(tool, {"text": "a", **inputs}, executor)
            answers.append({**answer, "on_loop": answer["thread"] == loop_thread})
        return answers

    with ThreadPoolExecutor(2) as executor:
        return asyncio.run(main())


def pause(tool, seconds: float) -> None:
    tool.function.__globals__["PAUSE"]["seconds"] = seconds


def test_a_quick_tool_moves_to_the_loop_after_its_first_calls(tool):
    answers = calls(tool, QUICK_CALLS_FIRST + 5)
    assert [a["on_loop"] for a in answers[:QUICK_CALLS_FIRST]] == [False] * QUICK_CALLS_FIRST
    assert all(a["on_loop"] for a in answers[QUICK_CALLS_FIRST + 1:])
    assert all(a["text"] == "a" for a in answers)


def test_a_tool_that_blocks_on_the_loop_goes_back_to_the_pool_for_good(tool):
    calls(tool, QUICK_CALLS_FIRST + 1)
    assert tool.placement.inline
    pause(tool, python_tools.BLOCKING_SECONDS + 0.1)
    assert calls(tool, 1)[0]["on_loop"]  # this one call held the loop: it had been quick
    pause(tool, 0.0)
    assert not any(a["on_loop"] for a in calls(tool, QUICK_CALLS_FIRST * 2))  # quick again, but stays in the pool


def test_one_slow_call_on_the_loop_is_forgiven_two_in_a_row_are_not(tool):
    calls(tool, QUICK_CALLS_FIRST + 1)
    pause(tool, python_tools.SLOW_SECONDS + 0.05)  # slow, not blocking: maybe a wait for the GIL
    calls(tool, 1)
    pause(tool, 0.0)
    assert calls(tool, 1)[0]["on_loop"]
    pause(tool, python_tools.SLOW_SECONDS + 0.05)
    calls(tool, 2)
    pause(tool, 0.0)
    assert not calls(tool, 1)[0]["on_loop"]


def test_a_tool_slow_in_the_pool_never_moves(tool):
    pause(tool, python_tools.QUICK_SECONDS * 2)
    assert not any(a["on_loop"] for a in calls(tool, QUICK_CALLS_FIRST + 5))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the coroutine asyncio.run refused is never awaited
def test_a_tool_running_its_own_event_loop_is_run_in_the_pool_again(tool):
    tool.placement.inline = True  # as if its first calls had been quick
    answer = calls(tool, 1, mode="own-loop")[0]
    assert answer["text"] == "aa" and not answer["on_loop"]  # asyncio refused it on the loop; the pool ran it
    assert not any(a["on_loop"] for a in calls(tool, QUICK_CALLS_FIRST + 2))


def test_a_failing_tool_on_the_loop_reports_its_file_and_line(tool):
    calls(tool, QUICK_CALLS_FIRST + 1)
    with pytest.raises(NodeError) as error:
        calls(tool, 1, mode="fail")
    assert "ValueError: bad text" in str(error.value) and tool.path.name in str(error.value)
    assert tool.placement.inline  # a quick failure is no reason to move
