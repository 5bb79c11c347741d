"""A streamed model call cut before its end (the client left) never gets the usage the endpoint
sends last, yet the endpoint bills the prompt it read and the text it wrote. Its tokens and cost
are our estimate (tiktoken counts of the rendered messages and of the text received, the
catalog's price): in the access log, metering.sqlite, /metrics and the consumer's tokens/min
window, and the model call's span says they are estimated and that it was cancelled. Before, all
said 0 tokens and $0, so a client could stream unmetered past its limit by leaving before the end.

Through a real `promptwise serve` process, a real streaming client that disconnects and the fake
model told to `stall` (its streamed reply sends the text, then hangs before finish and usage)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys

import httpx
import pytest

from promptwise.costing.counting import count_chat, count_text
from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, show_trace, write_workspace
from test_serve_chat import CHAT_PROMPTY
from test_serve_disconnect import wait_until

LONG_QUESTION = " ".join(f"word{i}" for i in range(60))  # about 120 tokens under o200k_base
ENCODING = "o200k_base"  # gpt-4o-mini's, as the catalog says


def metered(root) -> tuple[int, float]:
    store = root / ".promptwise" / "metering.sqlite"
    if not store.exists():
        return 0, 0.0
    with sqlite3.connect(store) as db:
        tokens, cost = db.execute("SELECT COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_usd), 0) "
                                  "FROM usage").fetchone()
    return tokens, cost


async def stream_then_leave(url: str, question: str, request_id: str, wanted: str) -> str:
    """POST /score as SSE, read events until `wanted` text arrived, then disconnect."""
    received = ""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with client.stream("POST", "/score", json={"question": question},
                                 headers={"Accept": "text/event-stream", "x-request-id": request_id}) as answer:
            assert answer.status_code == 200
            async for line in answer.aiter_lines():
                if line.startswith("data:"):
                    received += json.loads(line[5:]).get("output") or ""
                if received == wanted:
                    break  # leaving the block closes the connection: the client is gone
    return received


def model_call_span(trace: dict) -> dict:
    spans, found = list(trace["spans"]), []
    while spans:
        span = spans.pop()
        spans.extend(span.get("children") or ())
        if span.get("kind") == "llm":
            found.append(span)
    assert len(found) == 1, trace
    return found[0]


def test_a_stream_cut_before_its_usage_is_metered_by_estimate_and_counts_against_tokens_per_minute(tmp_path):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY,
                               "limits:\n  default: {tokens_per_minute: 60}\n")
        served = ServeProcess(root / "echo.prompty")
        try:
            # The normal path: a stream that ends carries the endpoint's usage, nothing estimated.
            whole = httpx.post(served.url + "/score", json={"question": "hi"},
                               headers={"Accept": "text/event-stream", "x-request-id": "whole"}, timeout=30)
            assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/event-stream")
            call = model_call_span(show_trace(root, "whole", until=lambda t: t["totals"]["llm_calls"] == 1))
            assert "promptwise.usage.estimated" not in call["attributes"], call["attributes"]

            fake.inject("stall", count=1, match="^word0")
            reply = f"echo: {LONG_QUESTION}"
            assert asyncio.run(stream_then_leave(served.url, LONG_QUESTION, "cut-stream", reply)) == reply

            entry = entry_of(served, "cut-stream")
            prompt = count_chat([{"role": "user", "content": LONG_QUESTION}], ENCODING).total
            completion = count_text(reply, ENCODING)
            assert entry["status"] == 499, entry
            assert entry["tokens"] == prompt + completion, (entry, prompt, completion)  # 0 before
            assert entry["cost"] and entry["cost"] > 0, entry  # gpt-4o-mini is priced in the catalog

            call = model_call_span(show_trace(root, "cut-stream", until=lambda t: t["totals"]["llm_calls"] == 1))
            attributes = call["attributes"]
            assert attributes["promptwise.usage.estimated"] is True
            assert attributes["promptwise.cancelled"] is True
            assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == \
                (prompt, completion)
            assert attributes["promptwise.cost_usd"] == pytest.approx(entry["cost"])
            shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", "cut-stream"], cwd=root,
                                   capture_output=True, text=True, timeout=60)
            assert "tokens estimated: cut before the endpoint's usage" in shown.stdout, shown.stdout + shown.stderr

            # metering.sqlite is flushed every few seconds; it holds both requests
            assert wait_until(lambda: metered(root)[0] >= whole_tokens(served) + prompt + completion), metered(root)
            metrics = httpx.get(served.url + "/metrics", timeout=10).text
            counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                          if line.startswith("promptwise_tokens_total{") and 'consumer="local"' in line)
            assert counted >= prompt + completion, metrics

            # the window holds the cut request's tokens: over 60, the next request is refused
            again = httpx.post(served.url + "/score", json={"question": "again"}, timeout=30)
            assert again.status_code == 429, again.text
            assert int(again.headers["retry-after"]) > 0
        finally:
            served.stop()


def whole_tokens(served: ServeProcess) -> int:
    return entry_of(served, "whole")["tokens"]


def entry_of(served: ServeProcess, request_id: str) -> dict:
    entries = served.access_log(until=lambda es: any(e.get("id") == request_id for e in es))
    return next(e for e in entries if e.get("id") == request_id)


def test_an_openai_client_that_closes_its_stream_and_a_stream_cut_by_the_timeout_are_metered(tmp_path):
    import openai

    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, CHAT_PROMPTY, "timeout_seconds: 3\n")
        served = ServeProcess(root / "chat.prompty")
        try:
            # /v1/chat/completions through the openai client, closed once the text is in
            fake.inject("stall", count=1, match="^left")
            question = "left after the text " * 5
            reply = f"echo: {question.strip()}"
            client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
            stream = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": question}],
                                                    stream=True, extra_headers={"x-request-id": "chat-closed"})
            text = ""
            for chunk in stream:
                text += "".join(choice.delta.content or "" for choice in chunk.choices)
                if text.strip() == reply:
                    break
            stream.close()
            entry = entry_of(served, "chat-closed")
            assert entry["status"] == 499, entry
            call = model_call_span(show_trace(root, "chat-closed", until=lambda t: t["totals"]["llm_calls"] == 1))
            attributes = call["attributes"]
            assert attributes["promptwise.usage.estimated"] is True
            assert attributes["gen_ai.usage.output_tokens"] == count_text(reply, ENCODING)
            assert attributes["gen_ai.usage.input_tokens"] > count_text(question, ENCODING)
            assert entry["tokens"] == attributes["gen_ai.usage.input_tokens"] + attributes["gen_ai.usage.output_tokens"]
            assert attributes["promptwise.cost_usd"] > 0
            assert entry["cost"] == pytest.approx(attributes["promptwise.cost_usd"])

            # /score events, the client stays; serve.timeout_seconds cuts the stalled call
            fake.inject("stall", count=1, match="^slow")
            with httpx.stream("POST", served.url + "/score", json={"question": "slow answer"},
                              headers={"Accept": "text/event-stream", "x-request-id": "timed-out"}, timeout=30) as answer:
                events = [line for line in answer.iter_lines() if line.startswith("data:")]
            assert any("timeout" in line for line in events), events  # the stream ends with the error event
            entry = entry_of(served, "timed-out")
            assert entry["error"] == "timeout", entry
            completion = count_text("echo: slow answer", ENCODING)
            assert entry["tokens"] > completion, entry  # 0 before
            call = model_call_span(show_trace(root, "timed-out", until=lambda t: t["totals"]["llm_calls"] == 1))
            assert call["attributes"]["promptwise.usage.estimated"] is True
            assert call["attributes"]["gen_ai.usage.output_tokens"] == completion
        finally:
            served.stop()
