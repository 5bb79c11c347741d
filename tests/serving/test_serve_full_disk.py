"""A full disk stops span recording with one clear error and never stops serving: a real
`promptwise serve` process whose files may not grow past a limit (RLIMIT_FSIZE, set by a
sitecustomize on its PYTHONPATH, with SIGXFSZ ignored so a write past it fails instead of
killing the process), serving the echo flow against the fake model while its trace store fills."""

from __future__ import annotations

import os
import sqlite3
import textwrap

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

LIMIT_BYTES = 400_000  # every file the server writes: its trace store fills first (prompts, replies, inputs)
REQUESTS = 120
QUESTION = "please repeat this padded question " + "lorem ipsum dolor sit amet " * 60


@pytest.fixture(scope="module")
def fake_model():
    with FakeOpenAI(rules=[(r"padded question", "a reply")]) as server:
        yield server


def test_serving_goes_on_when_the_trace_store_cannot_grow(tmp_path, fake_model):
    (tmp_path / "ws").mkdir()
    root = write_workspace(tmp_path / "ws", fake_model.base_url, ECHO_PROMPTY)
    hook = tmp_path / "limit"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT_BYTES}, {LIMIT_BYTES}))
    """), encoding="utf-8")
    python_path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    server = ServeProcess(root / "echo.prompty", env={"PYTHONPATH": python_path})
    try:
        answers = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for index in range(REQUESTS):
                response = client.post("/score", json={"question": QUESTION})
                answers.append((response.status_code, response.json()))
                if index == 0:  # the first request's trace is on disk before the others fill it (the
                    _wait_for_a_trace(root)  # writer batches: a fast server's 120 could be one batch)
            assert client.get("/health").status_code == 200
        assert all(status == 200 for status, _ in answers), answers[-1]
        assert {str(body) for _, body in answers} == {str(answers[0][1])} and "a reply" in str(answers[0][1])
    finally:
        server.stop()
    log = server.stderr()  # after the drain: the store's last write (and its error) has happened
    assert log.count("refuses writes") == 1, log[-3000:]  # said once, not once per batch
    assert "span recording stopped" in log and "Traceback" not in log
    store = root / ".promptwise" / "traces.sqlite"
    traced = sqlite3.connect(store).execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    assert 0 < traced < REQUESTS  # recorded until the disk refused, not after


def _wait_for_a_trace(root, seconds: float = 30.0) -> None:
    import time

    store = root / ".promptwise" / "traces.sqlite"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if store.exists() and sqlite3.connect(store).execute("SELECT COUNT(*) FROM traces").fetchone()[0]:
                return
        except sqlite3.Error:  # the store is being created
            pass
        time.sleep(0.1)
    raise AssertionError(f"no trace was stored within {seconds:g} s")
