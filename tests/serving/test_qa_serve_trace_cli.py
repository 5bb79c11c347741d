"""From a served request's answer to its trace with `promptwise traces show`: the id the caller
got (x-request-id, an error answer's `id`) finds the trace, and the request's line says what the
caller got (HTTP status, a client that went away)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


def traces(root, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptwise", "traces", *args], cwd=root, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def served_then_stopped(tmp_path_factory):
    """Three requests (answered, refused, abandoned by its client), then the server stopped
    (SIGTERM flushes the traces)."""
    with FakeOpenAI() as fake:
        fake.add_rule(r"slow", "late answer", latency=5.0)
        root = write_workspace(tmp_path_factory.mktemp("qa-traces-cli"), fake.base_url, ECHO_PROMPTY)
        served = ServeProcess(root / "echo.prompty")
        try:
            answered = httpx.post(served.url + "/score", json={"question": "hi"}, timeout=30,
                                  headers={"x-request-id": "portal-req-42"})
            azure_client = httpx.post(served.url + "/score", json={"question": "hi"}, timeout=30,
                                      headers={"x-ms-client-request-id": "0f8fad5b-d9cb-469f-a165-70867728950e"})
            assert azure_client.headers["x-request-id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
            refused = httpx.post(served.url + "/score", json={"question": [7]}, timeout=30)
            with pytest.raises(httpx.ReadTimeout):  # leaves while the model call is in flight
                httpx.post(served.url + "/score", json={"question": "slow please"}, timeout=httpx.Timeout(30, read=1),
                           headers={"Accept": "text/event-stream", "x-request-id": "gone-away-1"})
            assert any(entry.get("id") == "gone-away-1" for entry in _wait_for_log(served, "gone-away-1"))
        finally:
            served.stop()
    assert answered.status_code == 200 and refused.status_code == 422
    return root, refused.json()["error"]["id"]


def _wait_for_log(served, request_id: str) -> list[dict]:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        entries = served.access_log()
        if any(entry.get("id") == request_id for entry in entries):
            return entries
        time.sleep(0.1)
    return served.access_log()


def test_traces_show_finds_a_served_request_by_the_id_it_was_answered_with(served_then_stopped):
    # Was: "'portal-req-42' is not a trace id"; a 16-hex error id said "no trace <id>".
    root, error_id = served_then_stopped
    shown = traces(root, "show", "portal-req-42")
    assert shown.returncode == 0, shown.stderr
    assert "HTTP 200" in shown.stdout and "request portal-req-42" in shown.stdout
    refused = traces(root, "show", error_id, "--format", "json")
    assert refused.returncode == 0, refused.stderr
    document = json.loads(refused.stdout)
    assert document["spans"][0]["attributes"]["promptwise.request.id"] == error_id
    assert document["spans"][0]["attributes"]["http.response.status_code"] == 422


def test_traces_show_says_when_the_client_went_away(served_then_stopped):
    root, _ = served_then_stopped
    shown = traces(root, "show", "gone-away-1")
    assert shown.returncode == 0, shown.stderr
    request_line = shown.stdout.splitlines()[4]
    assert request_line.startswith("POST /score") and "HTTP 499" in request_line
    assert "cancelled: the client went away" in request_line
    assert "CancelledError" in shown.stdout  # the model call's span says it was cut short


def test_an_azure_clients_own_request_id_finds_its_trace(served_then_stopped):
    # Was: x-ms-client-request-id (what azure-core clients send, and pf flow serve takes as the
    # request id) was ignored; the request got an id of ours the client never saw.
    root, _ = served_then_stopped
    shown = traces(root, "show", "0f8fad5b-d9cb-469f-a165-70867728950e")
    assert shown.returncode == 0, shown.stderr
    assert "request 0f8fad5b-d9cb-469f-a165-70867728950e" in shown.stdout


def test_an_unknown_id_is_one_clear_error(served_then_stopped):
    root, _ = served_then_stopped
    missing = traces(root, "show", "no-such-request")
    assert missing.returncode != 0
    assert "no trace 'no-such-request'" in missing.stderr and "served request" in missing.stderr
    assert "the first 12 of 32" in missing.stderr and "Traceback" not in missing.stderr
    hex_like = traces(root, "show", "abcdef12")
    assert hex_like.returncode != 0 and "no trace abcdef12" in hex_like.stderr


@pytest.mark.parametrize("argv, words", [
    (("list", "--run", ""), ["--run is empty", "runs list"]),
    (("list", "--flow", " "), ["--flow is empty"]),
    (("show", ""), ["TRACE_ID is empty"]),
    (("show", "--run", ""), ["--run is empty"]),
])
def test_an_empty_filter_is_refused_not_listed_as_no_traces_yet(served_then_stopped, argv, words):
    # Was: "no traces yet: `promptwise run`, `batch`, `eval` and `serve` record them" in a
    # workspace holding traces (an unset shell variable passed as --run "$RUN").
    root, _ = served_then_stopped
    done = traces(root, *argv)
    assert done.returncode == 2
    for word in words:
        assert word in done.stderr
    assert "no traces yet" not in done.stdout + done.stderr
