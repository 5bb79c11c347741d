"""A `tracing:` section `promptwise check` reports as a PW111 error is refused by `promptwise serve`
before it serves (as the README says and `run` does), instead of serving every request untraced
and unmonitored behind one log line."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from serving_process import ECHO_PROMPTY, ServeProcess, free_port, write_workspace


@pytest.mark.parametrize("section, words", [
    ("tracing: {retention_day: 7}\n", ["promptwise.yaml:", "`tracing.retention_day`", "allowed settings"]),
    ("tracing: {pii: scramble}\n", ["promptwise.yaml:", "`tracing.pii`", "--no-trace"]),
])
def test_serve_refuses_a_tracing_section_check_calls_an_error(tmp_path, section, words):
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", ECHO_PROMPTY)
    with open(root / "promptwise.yaml", "a", encoding="utf-8") as settings:
        settings.write(section)
    check = subprocess.run([sys.executable, "-m", "promptwise", "check", str(root)], capture_output=True, text=True,
                           timeout=60, cwd=root)
    assert "PW111" in check.stdout  # what check calls an error...
    done = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(root / "echo.prompty"), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 2  # ...serve refuses (was: served, "tracing is off" on stderr)
    for word in words:
        assert word in done.stderr
    assert "serving" not in done.stderr and "Traceback" not in done.stderr


def test_no_trace_serves_whatever_the_tracing_section_says(tmp_path):
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", ECHO_PROMPTY)
    with open(root / "promptwise.yaml", "a", encoding="utf-8") as settings:
        settings.write("tracing: {retention_day: 7}\n")
    served = ServeProcess(root / "echo.prompty", args=("--no-trace",))
    try:
        assert httpx.get(served.url + "/ready", timeout=10).status_code == 200
    finally:
        served.stop()
