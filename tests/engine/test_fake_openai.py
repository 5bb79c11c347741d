"""The fake server, driven by the real openai client (it is what every LLM test relies on)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI


def client(server: FakeOpenAI, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=timeout)


def ask(c: openai.OpenAI, text: str, model: str = "gpt-4o-mini"):
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


def test_rules_pick_reply_and_default_echoes(fake_server):
    fake_server.add_rule(r"capital of (\w+)", lambda body: "Paris" if "France" in body["messages"][-1]["content"] else "?")
    fake_server.add_rule("weather", "sunny")
    c = client(fake_server)
    assert ask(c, "capital of France").choices[0].message.content == "Paris"
    assert ask(c, "What is the WEATHER").choices[0].message.content == "sunny"
    answer = ask(c, "hello there")
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.usage.completion_tokens == 4  # echo : hello there
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert fake_server.stats.requests == 3 and fake_server.stats.completed == 3


def test_dict_reply_overrides_usage(fake_server):
    fake_server.add_rule(None, {"content": "x", "usage": {"prompt_tokens": 100, "completion_tokens": 7}})
    answer = ask(client(fake_server), "anything")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (100, 7, 107)


def test_azure_deployment_path(fake_server):
    azure = openai.AzureOpenAI(azure_endpoint=fake_server.azure_endpoint, api_key="k", api_version="2024-06-01",
                               max_retries=0)
    answer = azure.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"
    assert fake_server.requests[-1].path == "/openai/deployments/my-deployment/chat/completions"
    assert fake_server.requests[-1].headers["api-key"] == "k"


def test_rate_limit_with_retry_after_then_recovers(fake_server):
    fake_server.inject("rate_limit", count=2, retry_after=1.5)
    c = client(fake_server)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            ask(c, "x")
        assert caught.value.response.headers["retry-after"] == "1.5"
    assert ask(c, "x").choices[0].message.content == "echo: x"
    assert fake_server.stats.faulted == 2


@pytest.mark.parametrize("kind, error", [
    ("server_error", openai.InternalServerError),
    ("drop", openai.APIConnectionError),
    ("truncated", openai.APIConnectionError),
    ("malformed", json.JSONDecodeError),
])
def test_faults_reach_the_client_as_errors(fake_server, kind, error):
    fake_server.inject(kind)
    with pytest.raises(error):
        ask(client(fake_server), "x")
    assert ask(client(fake_server), "x").choices[0].message.content == "echo: x"


def test_hang_times_out_and_is_released(fake_server):
    fake_server.inject("hang")
    with pytest.raises(openai.APITimeoutError):
        ask(client(fake_server, timeout=0.5), "x")
    deadline = time.time() + 5
    while fake_server.stats.in_flight and time.time() < deadline:
        time.sleep(0.02)
    assert fake_server.stats.in_flight == 0


def test_fault_by_rule_only_hits_matching_messages(fake_server):
    fake_server.inject("server_error", count=None, match="poison", status=503)
    c = client(fake_server)
    with pytest.raises(openai.InternalServerError) as caught:
        ask(c, "a poison row")
    assert caught.value.status_code == 503
    assert ask(c, "a fine row").choices[0].message.content == "echo: a fine row"
    with pytest.raises(openai.InternalServerError):
        ask(c, "poison again")


def test_api_key_required_when_configured():
    with FakeOpenAI(api_key="right") as server:
        with pytest.raises(openai.AuthenticationError):
            ask(openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0), "x")
        assert ask(openai.OpenAI(base_url=server.base_url, api_key="right", max_retries=0), "x").choices


async def test_async_use_counts_peak_in_flight():
    async with FakeOpenAI(latency=0.2) as server:
        import asyncio

        c = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        answers = await asyncio.gather(*(c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"q{i}"}]) for i in range(5)))
        await c.close()
        assert sorted(a.choices[0].message.content for a in answers) == [f"echo: q{i}" for i in range(5)]
        assert server.stats.peak_in_flight == 5


def test_streaming_and_models(fake_server):
    c = client(fake_server)
    chunks = list(c.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b"}], stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "echo: a b"
    assert chunks[-1].usage.completion_tokens == 4
    assert "gpt-4o-mini" in [m.id for m in c.models.list()]


def test_embeddings_are_deterministic(fake_server):
    c = client(fake_server)
    first = c.embeddings.create(model="text-embedding-3-small", input=["same", "other"])
    second = c.embeddings.create(model="text-embedding-3-small", input="same")
    assert first.data[0].embedding == second.data[0].embedding != first.data[1].embedding


def test_cli_prints_url_and_serves_stats(tmp_path):
    (tmp_path / "rules.yaml").write_text("- {pattern: '^ping', reply: pong}\n")
    process = subprocess.Popen([sys.executable, "-m", "promptwise.devtools.fake_openai", "--port", "0",
                                "--latency-ms", "10", "--rules", str(tmp_path / "rules.yaml")],
                               stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        c = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
        assert ask(c, "ping").choices[0].message.content == "pong"
        assert ask(c, "hello").choices[0].message.content == "echo: hello"
        origin = base_url.removesuffix("/v1")
        stats = json.load(urllib.request.urlopen(f"{origin}/_fake/stats"))
        assert stats["requests"] == 2 and stats["peak_in_flight"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
