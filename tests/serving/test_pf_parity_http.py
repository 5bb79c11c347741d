"""What a `pf flow serve` client meets at our door, checked against promptflow 1.18's serving
code (core/_serving/response_creator.py, v1/app.py) through real server processes:

- Accept: JSON for no Accept, application/json, application/*, */*; events only when
  text/event-stream is named; 406 NotAcceptable for a client taking neither (text/plain,
  text/*, text/html, image/png), before the flow runs. Ours also takes a media type in any case,
  and answers an events-only client of a flow with nothing to stream with one event (pf: 406);
- a prompty's text reply is answered as the JSON string itself, as pf does (events: {"output": piece});
- several generator outputs: the first streams, the others come joined in the first event
  (pf: 400 after running the flow);
- an upstream 429's own wait (Retry-After seconds or date, retry-after-ms, x-ratelimit-reset-*)
  is the Retry-After of our 503, bounded, on /score, a streamed /score and the chat route;
- the request span carries the OTel HTTP server attributes (url.path, url.scheme, server.port,
  user_agent.original...).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, show_trace, write_workspace

FILES = {
    "plain/flow.dag.yaml": """
        inputs:
          question: {type: string}
          count: {type: int, default: 1}
        outputs:
          answer: {type: string, reference: "${echo.output}"}
        nodes:
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {question: "${inputs.question}", count: "${inputs.count}"}
    """,
    "plain/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(question: str, count: int = 1) -> str:
            return question * count
    """,
    "two/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          first: {type: string, reference: "${words.output}"}
          second: {type: string, reference: "${shout.output}"}
        nodes:
        - name: words
          type: python
          source: {type: code, path: words.py}
          inputs: {question: "${inputs.question}"}
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {question: "${inputs.question}"}
    """,
    "two/words.py": """
        from promptflow.core import tool

        @tool
        def words(question: str):
            for word in question.split():
                yield word + " "
    """,
    "two/shout.py": """
        from promptflow.core import tool

        @tool
        def shout(question: str):
            for word in question.split():
                yield word.upper()
    """,
    "chat.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        inputs:
          question: {type: string}
          chat_history: {type: list, default: []}
        ---
        system:
        Answer briefly.
        {% for item in chat_history %}
        {{item.role}}:
        {{item.content}}
        {% endfor %}
        user:
        {{question}}
    """,
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory, fake):
    return write_workspace(tmp_path_factory.mktemp("pf-parity-http"), fake.base_url, FILES)


@pytest.fixture(scope="module")
def plain(root):
    process = ServeProcess(root / "plain")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def chat(root):
    process = ServeProcess(root / "chat.prompty")
    yield process
    process.stop()


def _events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


# --- Accept ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("accept", [None, "", "application/json", "application/*", "*/*", "*/*;q=0.1",
                                    "application/json;q=0.9", "text/event-stream, application/json",
                                    "text/html, application/json"])
def test_clients_that_take_json_get_json(plain, accept):
    headers = {} if accept is None else {"Accept": accept}
    answer = httpx.post(plain.url + "/score", json={"question": "hi"}, headers=headers, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"answer": "hi"}


@pytest.mark.parametrize("accept", ["text/plain", "text/*", "text/html, application/xml", "image/png"])
def test_a_client_taking_neither_json_nor_events_is_answered_406_as_pf_does(plain, accept):
    # Was: 200 and JSON whatever the Accept header said; pf answers 406 NotAcceptable.
    answer = httpx.post(plain.url + "/score", json={"question": "hi"}, headers={"Accept": accept}, timeout=30)
    assert answer.status_code == 406
    error = answer.json()["error"]
    assert error["code"] == "UserError" and error["innerError"]["code"] == "NotAcceptable"
    assert accept in error["message"] and "application/json" in error["message"]
    assert error["id"] == answer.headers["x-request-id"]


def test_a_406_is_answered_before_the_model_is_called(chat, fake):
    before = fake.stats.requests
    answer = httpx.post(chat.url + "/score", json={"question": "never sent"}, headers={"Accept": "text/plain"},
                        timeout=30)
    assert answer.status_code == 406
    assert fake.stats.requests == before
    entries = chat.access_log(until=lambda entries: any(e.get("id") == answer.headers["x-request-id"]
                                                        for e in entries))
    [logged] = [e for e in entries if e.get("id") == answer.headers["x-request-id"]]
    assert logged["status"] == 406 and logged["error"] == "not_acceptable"


@pytest.mark.parametrize("accept", ["text/event-stream", "TEXT/EVENT-STREAM", "text/event-stream;q=0.5"])
def test_an_events_only_client_of_a_flow_with_nothing_to_stream_gets_one_event(plain, accept):
    # pf answers 406 here, after running the flow; one event with every output is what the client asked for.
    answer = httpx.post(plain.url + "/score", json={"question": "ho", "count": 2}, headers={"Accept": accept},
                        timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert _events(answer.text) == [{"answer": "hoho"}]


def test_several_generator_outputs_stream_the_first_and_join_the_others(root):
    # pf: 400 "Multiple stream output fields not supported." (after running the flow). Ours keeps pf's
    # event grammar: the outputs that do not stream first, in one event, then the streamed one's pieces.
    build_info = json.dumps({"build_number": "20261207.3", "commit": "abc123"})  # as an Azure ML image sets it
    served = ServeProcess(root / "two", env={"BUILD_INFO": build_info})
    try:
        streamed = httpx.post(served.url + "/score", json={"question": "a b c"},
                              headers={"Accept": "text/event-stream"}, timeout=30)
        whole = httpx.post(served.url + "/score", json={"question": "a b c"}, timeout=30)
        version = httpx.get(served.url + "/version", timeout=30).json()
    finally:
        served.stop()
    # pf's /version where a build names itself (BUILD_INFO): that string, and its build number as the version.
    assert version == {"status": "Healthy", "version": "20261207.3", "build_info": build_info}
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert _events(streamed.text) == [{"second": "ABC"}, {"first": "a "}, {"first": "b "}, {"first": "c "}]
    assert whole.json() == {"first": "a b c ", "second": "ABC"}  # JSON: both joined, as pf does


def test_a_prompty_answers_its_reply_as_itself_and_streams_it_as_output_events(chat):
    # pf 1.18.5 answers a prompty's text reply as the JSON string itself (FlowInvoker's
    # response_original_value); ours answered {"output": "..."}, which broke its clients.
    answer = httpx.post(chat.url + "/score", json={"question": "as itself"}, timeout=30)
    assert answer.status_code == 200 and answer.json() == "echo: as itself"
    streamed = httpx.post(chat.url + "/score", json={"question": "as itself"}, timeout=30,
                          headers={"Accept": "text/event-stream"})
    assert "".join(event["output"] for event in _events(streamed.text)) == "echo: as itself"


# --- an upstream 429's wait ---------------------------------------------------------------------
def _http_date(seconds: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize("case, retry_after, headers, count, expected", [
    ("seconds", 42, None, 1, (42, 42)),
    ("milliseconds", None, {"retry-after-ms": "30000"}, 1, (30, 30)),
    ("http date", None, "date+40", 1, (38, 41)),
    # OpenAI's headers: the token limit is the exhausted one, its reset (6 min) is the wait, capped at 300 s.
    ("ratelimit reset", None, {"x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-requests": "59",
                               "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "0"}, 1,
     (300, 300)),
    ("too short", 0.1, None, 3, (1, 1)),  # retried 3 times in 0.1 s steps; 0 s would be a retry storm
    ("no wait given", None, None, 3, (5, 5)),  # our own guess, as before
])
def test_a_503_for_an_upstream_429_says_the_upstreams_wait(chat, fake, case, retry_after, headers, count, expected):
    # Was: Retry-After: 5 whatever the model endpoint asked for.
    if headers == "date+40":
        headers = {"Retry-After": _http_date(40)}
    question = f"limited {case}"
    fake.inject("rate_limit", count=count, retry_after=retry_after, headers=headers, match=question)
    answer = httpx.post(chat.url + "/score", json={"question": question}, timeout=60)
    fake.clear_faults()
    assert answer.status_code == 503, answer.text
    assert expected[0] <= int(answer.headers["retry-after"]) <= expected[1]
    assert answer.json()["error"]["innerError"]["code"] == "ServiceUnavailable"


def test_a_streamed_score_and_the_chat_route_pass_the_upstreams_wait_on(chat, fake):
    fake.inject("rate_limit", count=3, retry_after=77, match="limited stream|limited chat")
    try:
        streamed = httpx.post(chat.url + "/score", json={"question": "limited stream"},
                              headers={"Accept": "text/event-stream"}, timeout=60)
        completion = httpx.post(chat.url + "/v1/chat/completions", timeout=60, json={
            "model": "chat", "messages": [{"role": "user", "content": "limited chat"}]})
        chunks = httpx.post(chat.url + "/v1/chat/completions", timeout=60, json={
            "model": "chat", "stream": True, "messages": [{"role": "user", "content": "limited chat"}]})
    finally:
        fake.clear_faults()
    assert streamed.status_code == 503 and streamed.headers["retry-after"] == "77"
    for answer in (completion, chunks):  # OpenAI's shape, and the header OpenAI clients read first
        assert answer.status_code == 503 and answer.headers["retry-after"] == "77"
        assert answer.headers["retry-after-ms"] == "77000"
        assert answer.json()["error"]["code"] == "ServiceUnavailable"


# --- the request span ------------------------------------------------------------------------------
def test_the_request_span_has_the_otel_http_server_attributes(plain):
    answer = httpx.post(plain.url + "/score", json={"question": "span"}, timeout=30,
                        headers={"x-request-id": "semconv-1", "User-Agent": "parity-client/2.0"})
    assert answer.status_code == 200
    [request] = show_trace(plain.log.parent, "semconv-1")["spans"]
    values = request["attributes"]
    assert values["url.path"] == "/score" and values["url.scheme"] == "http"
    assert values["server.address"] == "127.0.0.1" and values["server.port"] == plain.port
    assert values["user_agent.original"] == "parity-client/2.0"
    assert values["network.protocol.version"] == "1.1"
    assert values["http.request.method"] == "POST" and values["http.route"] == "/score"
    assert values["http.response.status_code"] == 200
    assert not any(key.startswith("client.") for key in values)  # the caller's address is personal data: not kept
