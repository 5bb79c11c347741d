"""Calls after the first on a connection go through aiohttp alone, with the request the openai
SDK built (engine/direct_http.py): same URL, headers and body as the SDK's, same errors,
retries and Retry-After. Real openai client, real fake server."""

from __future__ import annotations

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.connections import resolve_spec
from promptwise.engine.providers import Provider, ProviderError, RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=0.5)
KEY = "sk-test-direct-key-123456"
SAME_EVERY_CALL = ("authorization", "user-agent", "content-type", "accept", "x-stainless-lang", "x-stainless-arch",
                   "x-stainless-package-version", "x-stainless-runtime")


def connection(server: FakeOpenAI):
    return resolve_spec("local", {"type": "openai", "base_url": server.base_url, "api_key": "${env:K}"},
                        "promptwise.yaml", {"K": KEY})


async def chat(provider: Provider, text: str = "hi", **kwargs):
    return await provider.chat("gpt-4o-mini", [{"role": "user", "content": text}], **kwargs)


async def warmed(server: FakeOpenAI, policy: RetryPolicy = FAST) -> Provider:
    """A provider whose first call (through the SDK) is done: the next ones go direct."""
    provider = Provider(connection(server), policy)
    await chat(provider, "warm up")
    assert provider._knows("/chat/completions", "gpt-4o-mini")
    return provider


async def test_direct_call_sends_what_the_sdk_sent():
    async with FakeOpenAI(api_key=KEY) as server:
        provider = await warmed(server)
        result = await chat(provider, "second", params={"temperature": 0.5, "stop": ["x"]})
        await provider.aclose()
    assert result.text == "echo: second" and result.attempts == 1
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens > 0
    sdk, direct = server.requests
    assert direct.path == sdk.path == "/v1/chat/completions"
    for header in SAME_EVERY_CALL:
        assert {k.lower(): v for k, v in direct.headers.items()}.get(header) == \
            {k.lower(): v for k, v in sdk.headers.items()}.get(header), header
    assert direct.body == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "second"}],
                           "temperature": 0.5, "stop": ["x"]}


async def test_azure_direct_calls_keep_deployment_path_query_and_key():
    async with FakeOpenAI() as server:
        azure = resolve_spec("az", {"type": "azure_openai", "azure_endpoint": "${env:E}", "api_key": "${env:K}",
                                    "api_version": "2024-06-01"}, "promptwise.yaml",
                             {"E": server.azure_endpoint, "K": "azkey1234"})
        provider = Provider(azure, FAST)
        for text in ("one", "two", "three"):
            result = await provider.chat("prod-gpt4o", [{"role": "user", "content": text}])
            assert result.text == f"echo: {text}"
        second_deployment = await provider.chat("other-dep", [{"role": "user", "content": "four"}])
        assert provider._knows("/chat/completions", "prod-gpt4o")
        await provider.aclose()
    assert second_deployment.text == "echo: four"
    assert [r.path for r in server.requests] == ["/openai/deployments/prod-gpt4o/chat/completions"] * 3 + \
        ["/openai/deployments/other-dep/chat/completions"]
    assert all(r.headers["api-key"] == "azkey1234" for r in server.requests)
    assert [r.body["messages"][0]["content"] for r in server.requests] == ["one", "two", "three", "four"]


async def test_rate_limit_on_a_direct_call_honours_retry_after():
    async with FakeOpenAI() as server:
        provider = await warmed(server)
        server.inject("rate_limit", count=2, retry_after=0.3)
        delays = []
        result = await chat(provider, on_retry=lambda attempt, kind, delay: delays.append((kind, delay)))
        await provider.aclose()
    assert result.attempts == 3 and result.text == "echo: hi"
    assert [kind for kind, _ in delays] == ["rate_limit", "rate_limit"]
    assert all(0.3 <= delay <= 0.4 for _, delay in delays)


@pytest.mark.parametrize("kind, expected", [("server_error", "server_error"), ("malformed", "malformed"),
                                            ("drop", "connection"), ("truncated", "connection"),
                                            ("hang", "timeout")])
async def test_faults_on_direct_calls_are_classified_and_retried(kind, expected):
    async with FakeOpenAI() as server:
        provider = await warmed(server)
        server.inject(kind, count=1)
        kinds = []
        result = await chat(provider, on_retry=lambda attempt, what, delay: kinds.append(what))
        await provider.aclose()
    assert result.text == "echo: hi" and result.attempts == 2
    assert kinds == [expected]


async def test_auth_failure_on_a_direct_call_is_not_retried():
    async with FakeOpenAI(api_key=KEY) as server:
        provider = await warmed(server)
        server.api_key = "another-key-now"
        with pytest.raises(ProviderError) as caught:
            await chat(provider)
        await provider.aclose()
    assert caught.value.kind == "auth" and caught.value.status == 401 and caught.value.attempts == 1
    assert KEY not in str(caught.value)


async def test_endpoint_gone_after_answering_is_unreachable():
    server = FakeOpenAI()
    await server.start_async()
    provider = await warmed(server, RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=2.0))
    await server.stop_async()
    with pytest.raises(ProviderError) as caught:
        await chat(provider)
    await provider.aclose()
    assert caught.value.kind == "unreachable" and "connection refused" in str(caught.value)
    assert caught.value.attempts == 2


async def test_embeddings_go_direct_after_the_first():
    async with FakeOpenAI() as server:
        provider = Provider(connection(server), FAST)
        first = await provider.embed("text-embedding-3-small", "sea")
        second = await provider.embed("text-embedding-3-small", ["sea", "sky"])
        assert provider._knows("/embeddings", "text-embedding-3-small")
        await provider.aclose()
    assert len(second.embedding) == 2 and second.embedding[0] == first.embedding
    assert second.usage.prompt_tokens > 0
    assert [r.path for r in server.requests] == ["/v1/embeddings"] * 2


async def test_without_aiohttp_the_sdk_sends_every_call(monkeypatch):
    from promptwise.engine import providers

    monkeypatch.setattr(providers, "_has_aiohttp", lambda: False)
    async with FakeOpenAI() as server:
        provider = Provider(connection(server), FAST)
        results = [await chat(provider, text) for text in ("one", "two")]
        assert provider._direct is None and not provider._knows("/chat/completions", "gpt-4o-mini")
        await provider.aclose()
    assert [r.text for r in results] == ["echo: one", "echo: two"]
