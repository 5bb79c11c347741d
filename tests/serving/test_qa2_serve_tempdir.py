"""`promptwise serve --workers N` keeps its workers' shared files (the rate-limit window, the
metrics of each worker) in a temporary folder, removed however it ends. Before, a serve that
stopped on an error after making it (a port in use) left one /tmp/promptwise-serve-* behind
per attempt."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from serving_process import ECHO_PROMPTY, write_workspace


def test_a_refused_port_leaves_no_temporary_folder(tmp_path):
    (tmp_path / "ws").mkdir()
    root = write_workspace(tmp_path / "ws", "http://127.0.0.1:9/v1", ECHO_PROMPTY)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(root / "echo.prompty"), "--port",
                               str(port), "--workers", "2"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "TMPDIR": str(scratch), "OPENAI_API_KEY": "unused"})
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(scratch.iterdir()) == []
