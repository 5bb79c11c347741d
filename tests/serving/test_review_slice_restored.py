"""A served app's lifespan puts back the scheduler slice it shortened (engine/event_loop.py
shorten_slice / reset_slice): tests serve in-process, in pytest's thread, and every thread
started after would otherwise run on 0.1 ms slices (test_tail_slice.py then failed in order)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine import event_loop
from promptwise.serving.app import ServeConfig, create_app
from promptwise.serving.settings import ServeSettings
from serving_process import ECHO_PROMPTY, write_workspace
from test_tail_slice import CUSTOM


@pytest.mark.skipif(not CUSTOM, reason="custom scheduler slices need Linux 6.12+ (x86_64 or aarch64)")
def test_the_lifespan_gives_back_the_default_slice(tmp_path, monkeypatch):
    monkeypatch.delenv(event_loop.SLICE_CHOICE, raising=False)
    seen = {}
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        app = create_app(ServeConfig(root / "echo.prompty", ServeSettings(), trace=False, state_dir=tmp_path))

        async def main():
            async with app.router.lifespan_context(app):
                seen["serving"] = event_loop.thread_slice_ns()
            seen["after"] = event_loop.thread_slice_ns()

        def in_own_thread():  # a thread of its own: this test leaves pytest's thread as it found it
            event_loop.reset_slice()
            seen["before"] = event_loop.thread_slice_ns()
            asyncio.run(main())

        thread = threading.Thread(target=in_own_thread)
        thread.start()
        thread.join()
    assert seen["serving"] == event_loop.DEFAULT_SLICE_US * 1000
    assert seen["after"] == seen["before"] != seen["serving"]
