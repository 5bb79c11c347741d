"""x-ratelimit-reset-* are a wait only on a 429: OpenAI sends them on every answer, and a 500's
token-window reset is no wait the endpoint asked for (engine/providers.py `_retry_after`)."""

from __future__ import annotations

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.connections import resolve_spec
from promptwise.engine.providers import Provider, ProviderError, RetryPolicy

POLICY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=2.0)  # max_retry_after 120 s
RESETS = {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "0",
          "x-ratelimit-reset-requests": "6m0s", "x-ratelimit-remaining-requests": "0"}


def connection(server: FakeOpenAI):
    return resolve_spec("local", {"type": "openai", "base_url": server.base_url, "api_key": "${env:K}"},
                        "promptwise.yaml", {"K": "sk-review"})


async def test_a_500_with_rate_limit_reset_headers_is_retried_with_our_back_off():
    async with FakeOpenAI() as server:
        server.inject("server_error", count=2, headers=RESETS)
        delays = []
        provider = Provider(connection(server), POLICY)
        result = await provider.chat("gpt-4o-mini", [{"role": "user", "content": "hi"}],
                                     on_retry=lambda attempt, kind, delay: delays.append((kind, delay)))
        await provider.aclose()
    assert result.text == "echo: hi" and result.attempts == 3  # before: given up at once (a 360 s "wait")
    assert [kind for kind, _ in delays] == ["server_error", "server_error"]
    assert all(delay <= POLICY.max_delay for _, delay in delays)


async def test_a_429_still_waits_what_its_reset_headers_say():
    async with FakeOpenAI() as server:
        server.inject("rate_limit", count=None, headers=RESETS)
        provider = Provider(connection(server), POLICY)
        with pytest.raises(ProviderError) as caught:
            await provider.chat("gpt-4o-mini", [{"role": "user", "content": "hi"}])
        await provider.aclose()
    assert caught.value.kind == "rate_limit" and caught.value.retry_after == pytest.approx(360.0)
    assert server.stats.requests == 1  # 360 s is past max_retry_after: no retry
