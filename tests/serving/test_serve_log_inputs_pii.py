"""`serve.log_inputs: true` logs request inputs through the workspace's `tracing.pii` policy (the
trace store's), never as received; a policy that cannot be built leaves inputs out of the log."""

from __future__ import annotations

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

QUESTION = "Please mail ana.garcia@example.org about card 4111 1111 1111 1111"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


# (tracing section, environment, what the logged question must be: None = no inputs logged)
CASES = [
    ("", {}, "Please mail [EMAIL] about card [CARD]"),
    ("tracing: {pii: drop}\n", {}, "[dropped: personal data]"),
    ("tracing: {pii: hash, pii_key: '${env:H9_LOG_PII_KEY}'}\n", {}, None),  # key not exported
]


@pytest.mark.parametrize(("tracing", "env", "logged"), CASES, ids=["redact", "drop", "hash-without-key"])
def test_logged_inputs_go_through_the_pii_policy(tmp_path, fake, tracing, env, logged):
    root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY, "log_inputs: true\n")
    with open(root / "promptwise.yaml", "a", encoding="utf-8") as settings:
        settings.write(tracing)
    served = ServeProcess(root / "echo.prompty", env=env)
    try:
        assert httpx.post(served.url + "/score", json={"question": QUESTION}, timeout=30).status_code == 200
    finally:
        served.stop()
    entries = [entry for entry in served.access_log() if entry.get("route") == "/score"]
    assert len(entries) == 1
    assert "ana.garcia@example.org" not in served.stderr() and "4111 1111" not in served.stderr()
    if logged is None:
        assert "inputs" not in entries[0]
        assert "request inputs are left out of the access log" in served.stderr()
    else:
        assert entries[0]["inputs"] == {"question": logged}
