"""OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT / OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT bound the content we store
and export (prompts, replies, inputs, outputs, unknown attributes), never the ids that find a trace.

Left to the SDK, a limit of 12 cut every string: promptwise.run.id 'chat-bot_202', the content hash
'sha256:841bc', the flow path, the request id; `traces list --run RUN` found nothing, and each cut
value printed a warning line. Through real processes (the provider reads the variables once per
process): `promptwise run` and `promptwise serve`, with the local store alone (our LocalTracer's
spans) and with OTLP export (the SDK's spans) to a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from promptwise import span_attributes as A
from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, show_trace, write_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracing"))
from test_otlp_export import FLOW, OtlpReceiver, attributes  # noqa: E402  (the real OTLP/HTTP receiver)

# test_otlp_export's one-llm-node flow, in a folder named as D's (the run id then starts 'chat-bot_')
FILES = {name.replace("hello/", "chat-bot/"): text for name, text in FLOW.items()}
QUESTION = "what is the capital of France, and why did it become the capital of France? " * 2 + "Thanks."  # > 64
CONTENT = (A.FLOW_INPUTS, A.FLOW_OUTPUTS, A.NODE_INPUTS, A.NODE_OUTPUT, A.GEN_AI_INPUT_MESSAGES,
           A.GEN_AI_OUTPUT_MESSAGES)


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory, fake):
    # a deep folder: the flow path is longer than either limit, as users' paths are
    folder = tmp_path_factory.mktemp("value-length-limit") / "workspace-with-a-long-name" / "projects"
    folder.mkdir(parents=True)
    return write_workspace(folder, fake.base_url, FILES)


def _limited(limit: int, variable: str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", otlp: str | None = None) -> dict:
    environ = {**os.environ, variable: str(limit), "OTEL_BSP_SCHEDULE_DELAY": "100"}
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                 "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SDK_DISABLED"):
        if name != variable:
            environ.pop(name, None)
    if otlp:
        environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
    return environ


def _cli(root: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=root, capture_output=True, text=True,
                          env=env, timeout=120)


def _spans(span: dict) -> list[dict]:
    return [span] + [found for child in span["children"] for found in _spans(child)]


def _check_exported(receiver: OtlpReceiver, limit: int, expected_ids: dict) -> None:
    """Every span the receiver got: the expected ids whole where they are set, content cut to `limit`."""
    received = [attributes(span) for _, span in receiver.spans()]
    assert received, "nothing was exported"
    seen_ids, content = {}, 0
    for values in received:
        seen_ids.update({key: values[key] for key in expected_ids if key in values})
        for key in CONTENT:
            if key in values:
                assert len(values[key]) == limit, (key, values[key])
                content += 1
    assert seen_ids == expected_ids
    assert content >= 4  # flow, node and model-call content was exported, cut


@pytest.mark.parametrize(("limit", "variable", "otlp"), [
    (12, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", False),
    (12, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", True),
    (64, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", False),
    (64, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", True),
])
def test_a_run_under_a_value_length_limit_keeps_its_ids_and_cuts_its_content(root, limit, variable, otlp):
    with OtlpReceiver() as receiver:
        done = _cli(root, "run", "chat-bot", "--no-cache", "--inputs", f"question={QUESTION}",
                    env=_limited(limit, variable, receiver.url if otlp else None))
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr  # the run's summary line, no warning per cut value
    run_id = re.search(r"run (\S+) ·", done.stderr).group(1)
    assert len(run_id) > limit or limit == 64

    listed = _cli(root, "traces", "list", "--run", run_id, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [summary] = json.loads(listed.stdout)  # found by its whole run id
    assert summary["run_id"] == run_id and summary["content_hash"].startswith("sha256:")
    assert len(summary["content_hash"]) == 71 and summary["flow_path"] == str(root / "chat-bot" / "flow.dag.yaml")
    assert len(summary["flow_path"]) > 64

    shown = _cli(root, "traces", "show", "--run", run_id, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    spans = _spans(json.loads(shown.stdout)["spans"][0])
    flow, llm = spans[0], next(span for span in spans if span["kind"] == "llm")
    assert flow["attributes"][A.RUN_ID] == run_id and flow["attributes"][A.FLOW_CONTENT_HASH] == summary["content_hash"]
    response_id = llm["attributes"][A.GEN_AI_RESPONSE_ID]
    assert re.fullmatch(r"chatcmpl-fake\d+", response_id) and llm["model"] == "gpt-4o-mini"
    assert [len(text) for text in flow["content"].values()] == [limit, limit]
    assert [len(text) for text in llm["content"].values()] == [limit, limit]

    if otlp:
        _check_exported(receiver, limit, {A.RUN_ID: run_id, A.FLOW_CONTENT_HASH: summary["content_hash"],
                                          A.FLOW_PATH: summary["flow_path"], A.GEN_AI_RESPONSE_ID: response_id})
    else:
        assert not receiver.requests


@pytest.mark.parametrize(("limit", "otlp"), [(12, True), (64, True), (12, False)])
def test_a_served_request_under_a_value_length_limit_keeps_its_ids_and_cuts_its_content(root, limit, otlp):
    request_id = f"value-length-limit-{limit}-{'otlp' if otlp else 'local'}-".ljust(64, "7")  # the longest taken
    with OtlpReceiver() as receiver:
        served = ServeProcess(root / "chat-bot", env=_limited(limit, otlp=receiver.url if otlp else None))
        try:
            answer = httpx.post(served.url + "/score", json={"question": QUESTION}, timeout=30,
                                headers={"x-request-id": request_id})
            assert answer.status_code == 200, answer.text
            assert answer.json()["answer"] == f"echo: {QUESTION}"  # the answer itself is never cut
        finally:
            served.stop()  # SIGTERM: the spans are flushed to the store and the receiver
        log = served.stderr()
    trace = show_trace(root, request_id)  # found by its whole request id
    spans = _spans(trace["spans"][0])
    request, flow = spans[0], next(span for span in spans if span["kind"] == "flow")
    llm = next(span for span in spans if span["kind"] == "llm")
    content_hash = request["attributes"][A.FLOW_CONTENT_HASH]
    assert request["attributes"]["promptwise.request.id"] == request_id and len(content_hash) == 71
    assert flow["attributes"][A.FLOW_CONTENT_HASH] == content_hash
    assert flow["attributes"][A.FLOW_PATH] == str(root / "chat-bot" / "flow.dag.yaml")
    response_id = llm["attributes"][A.GEN_AI_RESPONSE_ID]
    assert request["attributes"][A.HTTP_ROUTE] == "/score" and re.fullmatch(r"chatcmpl-fake\d+", response_id)
    assert len(request["attributes"][A.USER_AGENT_ORIGINAL]) == min(limit, len(f"python-httpx/{httpx.__version__}"))
    assert [len(text) for text in llm["content"].values()] == [limit, limit]
    assert [len(text) for text in flow["content"].values()] == [limit, limit]
    assert "WARNING" not in log  # no line per cut value

    if not otlp:  # the local store alone: the LocalTracer's spans, cut as they end
        assert not receiver.requests
        return
    _check_exported(receiver, limit, {"promptwise.request.id": request_id, A.FLOW_CONTENT_HASH: content_hash,
                                      A.FLOW_PATH: flow["attributes"][A.FLOW_PATH],
                                      A.GEN_AI_RESPONSE_ID: response_id})
