"""`promptwise serve` as a user meets it from the README: bugs found walking the operate
lifecycle, each pinned with a real process."""

from __future__ import annotations

import socket
import subprocess
import sys

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, write_workspace


def test_a_port_in_use_is_one_error_before_the_banner(tmp_path):
    # Was: "promptwise: serving ... on http://127.0.0.1:P" then uvicorn's own "ERROR: [Errno 98] ..."
    # and exit code 3.
    with FakeOpenAI() as fake, socket.socket() as holder:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(root / "echo.prompty"),
                               "--port", str(port)], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "serving" not in done.stderr and "Errno" not in done.stderr and "Traceback" not in done.stderr
