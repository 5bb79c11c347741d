"""`POST /score` and `/v1/chat/completions` side by side with `pf flow serve` (promptflow 1.18):
bugs found comparing the two on the same flows, each pinned through a real server process."""

from __future__ import annotations

import httpx
import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, free_port, write_workspace

TYPED_DAG = {
    "typed/flow.dag.yaml": """
        inputs:
          text: {type: string}
          count: {type: int}
          ratio: {type: double, default: 0.5}
          flag: {type: bool, default: false}
          items: {type: list, default: []}
          meta: {type: object, default: {}}
        outputs:
          result: {type: string, reference: "${echo.output}"}
        nodes:
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {text: "${inputs.text}", count: "${inputs.count}", ratio: "${inputs.ratio}",
                   flag: "${inputs.flag}", items: "${inputs.items}", meta: "${inputs.meta}"}
    """,
    "typed/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(text: str, count: int, ratio: float, flag: bool, items: list, meta: dict) -> str:
            return f"{text}|{count!r}|{ratio!r}|{flag!r}|{items!r}|{meta!r}"
    """,
    "fixed/flow.dag.yaml": """
        inputs: {}
        outputs:
          result: {type: string, reference: "${fixed.output}"}
        nodes:
        - name: fixed
          type: python
          source: {type: code, path: fixed.py}
          inputs: {}
    """,
    "fixed/fixed.py": """
        from promptflow.core import tool

        @tool
        def fixed() -> str:
            return "always"
    """,
    "shout/flow.flex.yaml": "entry: app:shout\n",
    "shout/app.py": """
        def shout(text: str, as_dict: bool = False):
            return {"loud": text.upper()} if as_dict else text.upper()
    """,
}

CHAT_DAG = {
    "chat/flow.dag.yaml": """
        inputs:
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, default: [], is_chat_history: true}
        outputs:
          answer: {type: string, reference: "${chat.output}", is_chat_output: true}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
    """,
    "chat/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def typed(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("qa-typed"), fake.base_url, TYPED_DAG)
    process = ServeProcess(root / "typed")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def down(tmp_path_factory):
    nothing_listens = f"http://127.0.0.1:{free_port()}/v1"
    root = write_workspace(tmp_path_factory.mktemp("qa-down"), nothing_listens, CHAT_DAG)
    process = ServeProcess(root / "chat")
    yield process
    process.stop()


# --- input values given as text: pf flow serve converts them to the declared type ------------
def test_text_values_of_typed_inputs_are_converted_as_prompt_flow_does(typed):
    # Was: 422 "input `count` must be an integer ..., got a string" where pf flow serve answers
    # 200 (clients that send form values as strings broke on moving to promptwise serve).
    response = httpx.post(typed.url + "/score", timeout=30, json={
        "text": "hi", "count": "3", "ratio": "0.25", "flag": "False", "items": "[1, 2]", "meta": '{"a": 1}'})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "hi|3|0.25|False|[1, 2]|{'a': 1}"}


@pytest.mark.parametrize("body, words", [
    ({"text": "hi", "count": "three"}, ["`count`", "integer", "a string"]),
    ({"text": "hi", "count": 1, "flag": "maybe"}, ["`flag`", "boolean", "a string"]),
    ({"text": "hi", "count": 1, "meta": "[1]"}, ["`meta`", "object", "an array"]),
])
def test_text_that_does_not_convert_is_still_422_naming_the_input(typed, body, words):
    response = httpx.post(typed.url + "/score", json=body, timeout=30)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["innerError"]["code"] == "InputMismatch"
    for word in words:
        assert word in error["message"]


# --- a flow without inputs --------------------------------------------------------------------------
def test_a_flow_without_inputs_ignores_whatever_body_it_is_sent(typed):
    # Was: 400 "the request body is not valid JSON" for a text body; pf flow serve ignores the
    # request data of a flow that has no inputs.
    fixed = ServeProcess(typed.log.parent / "fixed")
    try:
        answers = [httpx.post(fixed.url + "/score", timeout=30, **body) for body in (
            {"content": b"ping", "headers": {"content-type": "text/plain"}}, {"content": b""}, {"json": {"x": 1}})]
        too_large = httpx.post(fixed.url + "/score", content=b"x" * 2_000_000, timeout=30)
    finally:
        fixed.stop()
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"result": "always"})] * 3
    assert too_large.status_code == 413  # the body limit still holds


# --- a flex entry's return value ----------------------------------------------------------------
def test_a_flex_entrys_non_dict_value_is_answered_as_itself(typed):
    # Was: {"output": "HEY"}; pf flow serve answers "HEY" (response_original_value).
    shout = ServeProcess(typed.log.parent / "shout")
    try:
        plain = httpx.post(shout.url + "/score", json={"text": "hey"}, timeout=30)
        as_dict = httpx.post(shout.url + "/score", json={"text": "hey", "as_dict": True}, timeout=30)
    finally:
        shout.stop()
    assert plain.status_code == 200 and plain.json() == "HEY"
    assert as_dict.json() == {"loud": "HEY"}


# --- a stream that fails before its first event ---------------------------------------------------
def test_a_streamed_score_request_to_a_down_endpoint_is_503_with_retry_after(down):
    # Was: 200 text/event-stream and one `data: {"error": ...}` event, so a client (or a proxy's
    # retry policy) saw success and never the Retry-After the JSON answer carries.
    response = httpx.post(down.url + "/score", json={"question": "anyone there?"}, timeout=60,
                          headers={"Accept": "text/event-stream"})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["innerError"]["code"] == "ServiceUnavailable" and error["id"] == response.headers["x-request-id"]
    entries = down.access_log(until=lambda entries: any(entry.get("id") == error["id"] for entry in entries))
    [logged] = [entry for entry in entries if entry.get("id") == error["id"]]
    assert logged["status"] == 503 and logged["error"] == "unavailable" and logged["streamed"] is True


def test_a_streamed_chat_completion_to_a_down_endpoint_raises_the_openai_clients_503(down):
    # Was: a role chunk, then an error event: openai raised a bare APIError (no status, no retry).
    client = openai.OpenAI(base_url=down.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        for _ in client.chat.completions.create(model="chat", stream=True,
                                                messages=[{"role": "user", "content": "anyone there?"}]):
            pass
    assert caught.value.status_code == 503
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert caught.value.body["code"] == "ServiceUnavailable"
    assert httpx.get(down.url + "/health").status_code == 200
