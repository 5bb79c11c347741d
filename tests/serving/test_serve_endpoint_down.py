"""A model endpoint that is down is a quick 503 with Retry-After; CORS only when configured; inputs
in the access log only when configured."""

from __future__ import annotations

import time

import httpx
import pytest

from serving_process import ECHO_PROMPTY, ServeProcess, free_port, write_workspace

FLOW = ECHO_PROMPTY

SERVE = """
cors: {allow_origins: ["https://portal.example"]}
log_inputs: true
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    nothing_listens = f"http://127.0.0.1:{free_port()}/v1"
    root = write_workspace(tmp_path_factory.mktemp("serve-down"), nothing_listens, FLOW, SERVE)
    process = ServeProcess(root / "echo.prompty")
    yield process
    process.stop()


def test_an_endpoint_that_is_down_is_503_with_retry_after_not_a_hang(served):
    started = time.monotonic()
    response = httpx.post(served.url + "/score", json={"question": "anyone there?"}, timeout=60)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["innerError"]["code"] == "ServiceUnavailable"
    assert "model endpoint is unavailable" in error["message"]
    # the caller is not told where the endpoint is; the operator finds it under the request's id
    assert "127.0.0.1" not in error["message"] and "connection refused" not in error["message"]
    entries = served.access_log(until=lambda entries: any(entry.get("id") == error["id"] for entry in entries))
    [logged] = [entry for entry in entries if entry.get("id") == error["id"]]
    assert logged["error"] == "unavailable" and "connection refused" in logged["detail"]
    assert time.monotonic() - started < 30  # answered, not waited out
    assert httpx.get(served.url + "/health").status_code == 200  # and the server lives on


def test_cors_answers_the_configured_origin_only(served):
    preflight = httpx.options(served.url + "/score", headers={
        "Origin": "https://portal.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://portal.example"
    other = httpx.options(served.url + "/score", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers


def test_inputs_are_logged_when_the_setting_says_so(served):
    httpx.post(served.url + "/score", json={"question": "log me"}, timeout=60)
    served.access_log(until=lambda entries: any(entry.get("inputs", {}).get("question") == "log me"
                                                 for entry in entries))
