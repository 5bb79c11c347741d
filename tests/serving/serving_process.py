"""A real `promptwise serve` process for the serving tests, and the workspaces it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

# A prompty that answers with the model's reply to one string input (the fake server echoes it).
ECHO_PROMPTY = {
    "echo.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        inputs:
          question: {type: string}
        ---
        user:
        {{question}}
    """,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_workspace(root: Path, base_url: str, files: dict[str, str], serve: str = "") -> Path:
    """A workspace whose connections `local` and `open_ai_connection` are the fake server."""
    settings = ("defaults: {connection: local, model: gpt-4o-mini}\n"
                "connections:\n"
                f"  local: {{type: openai_compatible, base_url: '{base_url}'}}\n"
                f"  open_ai_connection: {{type: openai_compatible, base_url: '{base_url}'}}\n")
    if serve:
        settings += "serve:\n" + textwrap.indent(textwrap.dedent(serve).strip("\n"), "  ") + "\n"
    (root / "promptwise.yaml").write_text(settings, encoding="utf-8")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


class ServeProcess:
    """`python -m promptwise serve FLOW --port P`, started and waited for until /health answers."""

    def __init__(self, flow: Path, *, args: tuple[str, ...] = (), env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = flow.parent / f"serve-{self.port}.log"
        environ = {**os.environ, **(env or {})}
        environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._log_file = open(self.log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "promptwise", "serve", str(flow), "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=self._log_file, env=environ, cwd=flow.parent)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"promptwise serve exited with {self.process.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"promptwise serve did not answer /health in 60 s:\n{self.stderr()}")
            time.sleep(0.1)

    def stderr(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def access_log(self, until=None, seconds: float = 10) -> list[dict]:
        """The access log's entries so far. The server's writer thread writes a request's line a
        moment after its answer (serving/access_log.py): with `until`, a test of the entries,
        wait up to `seconds` for it to hold."""
        import json

        deadline = time.monotonic() + seconds
        while True:
            entries = [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]
            if until is None or until(entries):
                return entries
            if time.monotonic() > deadline:
                raise AssertionError(f"the access log did not show what was awaited in {seconds:g} s:\n{self.stderr()}")
            time.sleep(0.05)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        self._log_file.close()
        return code


def show_trace(root: Path, ident: str, until=lambda trace: True, seconds: float = 20) -> dict:
    """`promptwise traces show IDENT --format json` in the workspace `root` (IDENT: a trace id or a
    served request's id), tried again until it answers and `until(trace)` holds: the span writer
    stores in batches, a moment after the answer."""
    import json

    deadline = time.monotonic() + seconds
    while True:
        shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", ident, "--format", "json"],
                               cwd=root, capture_output=True, text=True, timeout=60)
        if shown.returncode == 0 and until(json.loads(shown.stdout)):
            return json.loads(shown.stdout)
        if time.monotonic() > deadline:
            raise AssertionError(f"trace {ident} not as awaited in {seconds:g} s: {shown.stdout or shown.stderr}")
        time.sleep(0.2)
