"""A `tracing:` section `promptwise check` reports as a PW111 error is refused by `promptwise serve`
before it serves (as the README says and `run` does), instead of serving every request untraced
and unmonitored behind one log line."""

from __future__ import annotations

import subprocess
import sys
import time

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


def test_the_banner_writes_an_ipv6_address_as_a_url_does(tmp_path):
    # Was: "on http://::1:PORT", which no client can open.
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", ECHO_PROMPTY)
    port = free_port()
    served = subprocess.Popen([sys.executable, "-m", "promptwise", "serve", str(root / "echo.prompty"), "--host", "::1",
                               "--port", str(port)], stderr=subprocess.PIPE, text=True, cwd=root)
    try:
        banner = served.stderr.readline()
        assert f"on http://[::1]:{port} " in banner
        url = f"http://[::1]:{port}/health"
        for _ in range(100):
            try:
                assert httpx.get(url, timeout=1).status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not answer at the URL its banner printed")
    finally:
        served.terminate()
        served.wait(timeout=30)
