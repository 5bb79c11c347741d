"""A key the workspace names as `${env:NAME}` never reaches a stored trace, the server's log,
/metrics or an error answer, even when the flow reads the variable itself (a flex entry using
os.environ, as flows written for Prompt flow do) and never resolves the connection."""

from __future__ import annotations

import subprocess
import sys

import httpx

from serving_process import ServeProcess, write_workspace

KEY = "sk-qa-serve-trace-0123456789abcdef"

FLEX = {
    "keyed/flow.flex.yaml": "entry: app:answer\n",
    "keyed/app.py": """
        import os

        from promptflow.tracing import trace

        @trace
        def call_model(api_key: str, question: str) -> str:
            return f"answered {question} with {api_key}"

        def answer(question: str, fail: bool = False) -> str:
            key = os.environ["QA_SERVE_KEY"]
            if fail:
                raise RuntimeError(f"the endpoint refused key {key}")
            return call_model(key, question)
    """,
}


def test_a_key_read_by_the_flow_itself_is_masked_in_traces_logs_metrics_and_errors(tmp_path):
    # Was: the key came back in the /score error message and was stored in the @trace span's
    # inputs and output, because it was only registered once a node resolved its connection.
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", FLEX)
    settings = root / "promptwise.yaml"
    settings.write_text(settings.read_text().replace(
        "local: {type: openai_compatible,", "local: {type: openai_compatible, api_key: '${env:QA_SERVE_KEY}',"))
    assert "${env:QA_SERVE_KEY}" in settings.read_text()
    served = ServeProcess(root / "keyed", env={"QA_SERVE_KEY": KEY})
    try:
        failed = httpx.post(served.url + "/score", json={"question": "q1", "fail": True}, timeout=30)
        answered = httpx.post(served.url + "/score", json={"question": "q2"}, timeout=30)
        metrics = httpx.get(served.url + "/metrics").text
    finally:
        assert served.stop() in (0, -15)  # SIGTERM: drained, traces flushed (uvicorn re-raises the signal)
    assert failed.status_code == 400 and "refused key ***" in failed.json()["error"]["message"]
    assert KEY not in failed.text
    assert answered.status_code == 200  # the flow's own answer is the caller's business
    assert KEY not in metrics and KEY not in served.stderr()
    stored = b"".join(path.read_bytes() for path in (root / ".promptwise").glob("traces.sqlite*"))
    assert b"answered q2 with ***" in stored or b"q2" in stored  # the request was traced
    assert KEY.encode() not in stored
    shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "list", "--flow", "keyed", "--format", "json"],
                           cwd=root, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and '"keyed"' in shown.stdout and KEY not in shown.stdout
