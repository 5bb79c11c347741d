"""The README's order of things: `promptwise serve FLOW` first, `promptwise rollout set` later.
Was: a server started before the flow had any rollout kept serving the working copy for ever;
only a restart picked the rollout up."""

from __future__ import annotations

import time

import httpx
from rollout_helpers import cli

from serving_process import ServeProcess


def test_a_server_started_without_a_rollout_follows_the_first_rollout_set(packaged, capsys):
    server = ServeProcess(packaged / "triage")
    try:
        def ask() -> httpx.Response:
            response = httpx.post(server.url + "/score", json={"question": "hello"}, timeout=30)
            assert response.status_code == 200, response.text
            return response

        first = ask()
        assert first.headers["x-promptwise-version"].startswith("sha256:")  # the working copy (v3's files)
        assert "GAMMA" in first.json()["answer"]
        ready = httpx.get(server.url + "/ready", timeout=10).json()
        assert ready["version"].startswith(first.headers["x-promptwise-version"])
        assert cli(capsys, "rollout", "set", str(packaged / "triage"), "triage:v1=100")[0] == 0
        deadline = time.monotonic() + 20
        while (response := ask()).headers["x-promptwise-version"] != "triage:v1":
            assert time.monotonic() < deadline, f"the running server ignored the first rollout:\n{server.stderr()}"
            time.sleep(0.2)
        assert "ALPHA" in response.json()["answer"]
        # /ready names the version as the answers do (was the content hash under a rollout).
        ready = httpx.get(server.url + "/ready", timeout=10).json()
        assert ready["version"] == "triage:v1" and ready["content_hash"].startswith("sha256:")
        assert not ready["content_hash"].startswith(first.headers["x-promptwise-version"])  # v1's files, not the working copy's
        assert server.process.poll() is None  # no restart
    finally:
        server.stop()
