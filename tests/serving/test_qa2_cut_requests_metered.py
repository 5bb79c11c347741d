"""A request cut before its flow ends — by serve.timeout_seconds, or by a client that leaves —
has still paid for the model calls that finished: their tokens and cost are in the access log,
in metering.sqlite (chargeback) and in /metrics, and count against the consumer's tokens/min.
Before, all of them said 0 tokens, so a client could spend past its tokens/min by timing out.
Through a real `promptwise serve` process and the fake model, whose second call hangs."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace
from test_serve_disconnect import wait_until

# Two llm nodes in a row: the first answers, the second ("Second pass ...") is made to hang.
TWO_CALLS = {
    "two/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${second.output}"}
        nodes:
        - name: first
          type: llm
          source: {type: code, path: first.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
        - name: second
          type: llm
          source: {type: code, path: second.jinja2}
          inputs: {model: gpt-4o-mini, draft: "${first.output}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
    """,
    "two/first.jinja2": "user:\nFirst pass: {{question}}\n",
    "two/second.jinja2": "user:\nSecond pass over: {{draft}}\n",
}
HANG_SECOND = "^Second pass"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("qa2-cut"), fake.base_url, TWO_CALLS, "timeout_seconds: 2\n")
    process = ServeProcess(root / "two")
    yield process
    process.stop()


def entry_of(served: ServeProcess, request_id: str) -> dict:
    entries = served.access_log(until=lambda entries: any(e.get("id") == request_id for e in entries))
    return next(e for e in entries if e.get("id") == request_id)


def metered_tokens(served: ServeProcess) -> int:
    store = served.log.parent / ".promptwise" / "metering.sqlite"
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COALESCE(SUM(total_tokens), 0) FROM usage").fetchone()[0]


def test_a_timed_out_request_is_billed_for_its_finished_model_call(served, fake):
    fake.inject("hang", count=1, match=HANG_SECOND)
    before = metered_tokens(served)
    answer = httpx.post(served.url + "/score", json={"question": "what broke?"},
                        headers={"x-request-id": "cut-by-timeout"}, timeout=30)
    assert answer.status_code == 504
    entry = entry_of(served, "cut-by-timeout")
    assert entry["error"] == "timeout"
    assert entry["tokens"] > 0, entry  # the first call's tokens: it finished and was billed
    assert entry["cost"] and entry["cost"] > 0, entry  # gpt-4o-mini has a price in the catalog
    # metering.sqlite is flushed every few seconds
    assert wait_until(lambda: metered_tokens(served) >= before + entry["tokens"]), metered_tokens(served)
    metrics = httpx.get(served.url + "/metrics", timeout=10).text
    assert any(line.startswith("promptwise_tokens_total") and 'consumer="local"' in line and not line.endswith(" 0.0")
               for line in metrics.splitlines()), metrics


def test_a_client_that_leaves_after_the_first_call_is_billed_for_it(served, fake):
    fake.inject("hang", count=1, match=HANG_SECOND)

    async def leave() -> None:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            task = asyncio.ensure_future(client.post("/score", json={"question": "and now?"},
                                                     headers={"x-request-id": "left-after-first"}))
            deadline = time.monotonic() + 20
            # the first call done, the second one hanging: then leave
            while not (fake.stats.in_flight == 1 and fake.stats.completed >= completed_before + 1):
                assert not task.done(), task.result()
                assert time.monotonic() < deadline, fake.stats.as_dict()
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    completed_before = fake.stats.completed
    asyncio.run(leave())
    entry = entry_of(served, "left-after-first")
    assert entry["status"] == 499
    assert entry["tokens"] > 0, entry


def test_tokens_spent_by_a_cut_request_count_against_tokens_per_minute(tmp_path, fake):
    """A consumer over its tokens/min through requests that time out is refused (429) like one
    whose requests answer: the window holds the tokens its cut requests spent."""
    root = write_workspace(tmp_path, fake.base_url, TWO_CALLS,
                           "timeout_seconds: 2\nlimits:\n  default: {tokens_per_minute: 5}\n")
    process = ServeProcess(root / "two")
    try:
        fake.inject("hang", count=1, match=HANG_SECOND)
        first = httpx.post(process.url + "/score", json={"question": "spend"}, timeout=30)
        assert first.status_code == 504
        second = httpx.post(process.url + "/score", json={"question": "again"}, timeout=30)
        assert second.status_code == 429, second.text
        assert int(second.headers["retry-after"]) > 0
    finally:
        process.stop()
