"""Keys, rate limits, back-pressure, metering and graceful drain of a real `promptwise serve`."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.metering import usage_by_consumer
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

FLOW = ECHO_PROMPTY

PORTAL_KEY = "portal-key-0123456789"
BATCH_KEY = "batch-key-9876543210"
SERVE = f"""
keys:
  - consumer: portal
    key: ${{env:PORTAL_KEY}}
  - consumer: batch
    sha256: {hashlib.sha256(BATCH_KEY.encode()).hexdigest()}
limits:
  batch: {{requests_per_minute: 3}}
max_concurrency: 2
"""


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        server.add_rule("slow", "slowly answered", latency=3.0)
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory, fake):
    return write_workspace(tmp_path_factory.mktemp("serve-keys"), fake.base_url, FLOW, SERVE)


@pytest.fixture(scope="module")
def served(root):
    process = ServeProcess(root / "echo.prompty", env={"PORTAL_KEY": PORTAL_KEY})
    yield process
    process.stop()


def test_a_request_without_a_known_key_is_401(served):
    response = httpx.post(served.url + "/score", json={"question": "hi"})
    assert response.status_code == 401
    assert response.json()["error"]["innerError"]["code"] == "Unauthorized"
    response = httpx.post(served.url + "/score", json={"question": "hi"}, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert httpx.get(served.url + "/metrics").status_code == 401
    assert httpx.get(served.url + "/health").status_code == 200  # probes need no key
    refused = [entry for entry in served.access_log(until=lambda entries: sum(e.get("status") == 401 for e in entries) >= 2)
               if entry.get("status") == 401]
    assert refused and refused[-1]["consumer"] == "unknown" and refused[-1]["error"] == "unauthorized"


def test_keys_name_their_consumer(served):
    response = httpx.post(served.url + "/score", json={"question": "hi"},
                          headers={"Authorization": f"Bearer {PORTAL_KEY}"})
    assert response.status_code == 200
    response = httpx.post(served.url + "/score", json={"question": "hi"}, headers={"api-key": BATCH_KEY})
    assert response.status_code == 200
    # a platform's own Bearer token in front of us (Azure ML passes the caller's on) does not hide the api-key
    response = httpx.post(served.url + "/score", json={"question": "hi"},
                          headers={"Authorization": "Bearer eyJplatform.token", "api-key": BATCH_KEY})
    assert response.status_code == 200
    metrics = httpx.get(served.url + "/metrics", headers={"api-key": PORTAL_KEY}).text
    assert 'consumer="portal"' in metrics and 'consumer="batch"' in metrics
    served.access_log(until=lambda entries: sum(e.get("consumer") == "batch" for e in entries) >= 2)  # all written
    assert PORTAL_KEY not in served.stderr() and BATCH_KEY not in served.stderr()


def test_a_consumer_over_its_rate_limit_gets_429_with_retry_after(served):
    statuses = []
    for _ in range(5):
        response = httpx.post(served.url + "/score", json={"question": "again"}, headers={"api-key": BATCH_KEY})
        statuses.append(response.status_code)
    assert 429 in statuses
    limited = httpx.post(served.url + "/score", json={"question": "again"}, headers={"api-key": BATCH_KEY})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "`batch`" in limited.json()["error"]["message"]
    # Another consumer is not limited by batch's use.
    response = httpx.post(served.url + "/score", json={"question": "hi"}, headers={"api-key": PORTAL_KEY})
    assert response.status_code == 200


def test_requests_beyond_the_concurrency_limit_get_503_with_retry_after(served):
    results: list[int] = []

    def call():
        response = httpx.post(served.url + "/score", json={"question": "slow please"},
                              headers={"api-key": PORTAL_KEY}, timeout=30)
        results.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_in_flight(served.url, 2)  # both are in flight now (max_concurrency: 2)
    busy = httpx.post(served.url + "/score", json={"question": "hi"}, headers={"api-key": PORTAL_KEY})
    for thread in threads:
        thread.join()
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert results == [200, 200]


def test_sigterm_drains_in_flight_requests_and_stores_the_metering(root, fake):
    process = ServeProcess(root / "echo.prompty", env={"PORTAL_KEY": PORTAL_KEY})
    result: dict = {}

    def call():
        result["response"] = httpx.post(process.url + "/score", json={"question": "slow drain"},
                                        headers={"api-key": PORTAL_KEY, "x-request-id": "drain-1"}, timeout=30)

    thread = threading.Thread(target=call)
    thread.start()
    wait_in_flight(process.url, 1)
    process.terminate()  # SIGTERM while the request waits for the model
    thread.join()
    code = process.stop()
    assert result["response"].status_code == 200
    assert result["response"].json() == "slowly answered"
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down cleanly
    with sqlite3.connect(root / ".promptwise" / "traces.sqlite") as db:  # traces flushed before exit
        drained = db.execute("SELECT COUNT(*) FROM spans WHERE kind = 'request' AND attributes LIKE ?",
                             ('%"promptwise.request.id": "drain-1"%',)).fetchone()
    assert drained[0] == 1
    usage = usage_by_consumer(root / ".promptwise" / "metering.sqlite")
    assert usage["portal"]["requests"] >= 1
    assert usage["portal"]["total_tokens"] == usage["portal"]["prompt_tokens"] + usage["portal"]["completion_tokens"] > 0


def wait_in_flight(url: str, count: int) -> None:
    """Until the server says `count` flow requests are in flight (its /metrics gauge)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = httpx.get(url + "/metrics", headers={"api-key": PORTAL_KEY}).text
        gauge = [line for line in text.splitlines() if line.startswith("promptwise_requests_in_flight ")]
        if gauge and float(gauge[0].split()[1]) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} requests never were in flight")


def _serve(*args: str, env: dict | None = None, cwd=None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptwise", "serve", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd, input=stdin)


def test_binding_beyond_loopback_without_keys_is_refused(tmp_path, fake):
    write_workspace(tmp_path, fake.base_url, FLOW)
    result = _serve(str(tmp_path / "echo.prompty"), "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert "serve.keys" in result.stderr and "Traceback" not in result.stderr


def test_a_key_written_in_clear_is_refused_without_echoing_it(tmp_path, fake):
    write_workspace(tmp_path, fake.base_url, FLOW, "keys:\n  - {consumer: a, key: sk-live-plaintext-123}\n")
    result = _serve(str(tmp_path / "echo.prompty"), "--port", "1")
    assert result.returncode == 2
    assert "${env:VAR}" in result.stderr and "sk-live-plaintext-123" not in result.stderr


def test_hash_key_prints_the_sha256_to_configure():
    result = _serve("--hash-key", stdin="my-key\n")
    assert result.returncode == 0
    assert result.stdout.strip() == hashlib.sha256(b"my-key").hexdigest()
