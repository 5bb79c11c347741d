"""`promptwise serve --workers 2`: the supervisor (which serves nothing) does not keep the engine
and the openai SDK its start-up checks import: they run in a short-lived child, with the same
errors as a single-process serve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, free_port, write_workspace

# The openai SDK is built on pydantic: its compiled core is the mark, in /proc/PID/maps, that a
# process imported it (pure-Python modules leave no mapping of their own).
SDK_MARK = "pydantic_core"


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the child check is Linux-only")
def test_the_supervisor_does_not_keep_the_sdk_its_workers_load(tmp_path):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        served = ServeProcess(root / "echo.prompty", args=("--workers", "2"))
        try:
            assert httpx.post(served.url + "/score", json={"question": "hi"}, timeout=30).json() == "echo: hi"
            supervisor = served.process.pid
            workers = [pid for pid in children(supervisor) if "spawn_main" in command_line(pid)]
            assert len(workers) == 2
            assert all(SDK_MARK in mapped(pid) for pid in workers)  # the mark is visible where the SDK is
            assert SDK_MARK not in mapped(supervisor)
            assert served.stderr().count("promptwise: serving ") == 1  # the child's output is not repeated
        finally:
            assert served.stop() in (0, -15)


def test_a_flow_that_cannot_serve_is_the_same_error_with_workers(tmp_path):
    flow = tmp_path / "flow.dag.yaml"
    flow.write_text("inputs:\n  x: {type: string}\nnodes:\n- name: a\n  type: python\n"
                    "  source: {type: code, path: missing.py}\n  inputs: {}\noutputs: {}\n", encoding="utf-8")
    results = []
    for workers in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(tmp_path), "--workers", workers,
                               "--port", str(free_port())], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        results.append((done.returncode, done.stdout, done.stderr))
    assert results[0] == results[1]
    code, _, stderr = results[1]
    assert code == 2 and f"{flow}:4:" in stderr and "missing.py" in stderr and "Traceback" not in stderr
