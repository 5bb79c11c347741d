"""Providers and connections through the real openai client against the fake server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.connections import ConnectionConfigError, ConnectionResolver, resolve_spec
from promptwise.engine.providers import Provider, ProviderError, RetryPolicy
from promptwise.engine.secrets import redact

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=2.0)
SECRET = "sk-test-SECRET-value-123456"


def openai_connection(server: FakeOpenAI):
    return resolve_spec("local", {"type": "openai", "base_url": server.base_url, "api_key": "${env:FAKE_KEY}"},
                        "promptwise.yaml", {"FAKE_KEY": SECRET})


async def chat(provider: Provider, text: str = "hi", **kwargs):
    return await provider.chat("gpt-4o-mini", [{"role": "user", "content": text}], **kwargs)


async def test_openai_connection_chat_reports_usage_and_sends_key():
    async with FakeOpenAI(api_key=SECRET) as server:
        provider = Provider(openai_connection(server), FAST)
        result = await chat(provider, "hello", params={"temperature": 0, "max_tokens": None})
        await provider.aclose()
    assert result.text == "echo: hello"
    assert result.usage.completion_tokens == 3 and result.usage.total_tokens == 3 + result.usage.prompt_tokens
    assert result.attempts == 1
    assert server.requests[0].body["temperature"] == 0 and "max_tokens" not in server.requests[0].body


async def test_azure_connection_uses_deployment_path_and_api_version():
    async with FakeOpenAI() as server:
        connection = resolve_spec("az", {"type": "azure_openai", "azure_endpoint": "${env:AZ_ENDPOINT}",
                                         "api_key": "${env:AZ_KEY}", "api_version": "2024-06-01"},
                                  "promptwise.yaml", {"AZ_ENDPOINT": server.azure_endpoint, "AZ_KEY": "azkey1234"})
        provider = Provider(connection, FAST)
        result = await provider.chat(provider.model_for("gpt-4o", "prod-gpt4o"), [{"role": "user", "content": "x"}])
        await provider.aclose()
    assert result.text == "echo: x"
    request = server.requests[0]
    assert request.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert request.headers["api-key"] == "azkey1234"


async def test_rate_limit_retried_honouring_retry_after():
    async with FakeOpenAI() as server:
        server.inject("rate_limit", count=2, retry_after=0.3)
        provider = Provider(openai_connection(server), FAST)
        delays = []
        result = await chat(provider, on_retry=lambda attempt, kind, delay: delays.append((kind, delay)))
        await provider.aclose()
    assert result.text == "echo: hi" and result.attempts == 3
    assert [kind for kind, _ in delays] == ["rate_limit", "rate_limit"]
    assert all(0.3 <= delay <= 0.4 for _, delay in delays)  # Retry-After, not our 10 ms back-off


@pytest.mark.parametrize("kind", ["server_error", "malformed", "drop", "truncated", "hang"])
async def test_transient_faults_are_retried(kind):
    async with FakeOpenAI() as server:
        server.inject(kind, count=2)
        policy = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=0.5)
        provider = Provider(openai_connection(server), policy)
        result = await chat(provider)
        await provider.aclose()
    assert result.text == "echo: hi" and result.attempts == 3


async def test_final_failure_is_a_provider_error_with_attempts():
    async with FakeOpenAI() as server:
        server.inject("server_error", count=None)
        provider = Provider(openai_connection(server), FAST)
        with pytest.raises(ProviderError) as caught:
            await chat(provider)
        await provider.aclose()
    assert caught.value.kind == "server_error" and caught.value.status == 500
    assert caught.value.attempts == 4 and "after 4 attempts" in str(caught.value)
    assert server.stats.requests == 4


async def test_auth_error_not_retried_and_secret_absent_from_message(caplog):
    caplog.set_level(logging.DEBUG)
    async with FakeOpenAI(api_key="the-right-key") as server:
        provider = Provider(openai_connection(server), FAST)
        with pytest.raises(ProviderError) as caught:
            await chat(provider)
        await provider.aclose()
    assert caught.value.kind == "auth" and server.stats.requests == 1
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


def test_secret_redacted_from_logs_and_text(caplog):
    resolve_spec("c", {"type": "openai", "api_key": "${env:K}"}, "promptwise.yaml", {"K": SECRET})
    logging.getLogger("promptwise.test").warning("leaking %s here", SECRET)
    assert SECRET not in caplog.text and "***" in caplog.text
    assert redact(f"key={SECRET}") == "key=***"


def test_missing_env_variable_is_a_clear_error():
    with pytest.raises(ConnectionConfigError) as caught:
        resolve_spec("prod", {"type": "openai", "api_key": "${env:NOT_SET_ANYWHERE}"}, "promptwise.yaml", {})
    message = str(caught.value)
    assert "promptwise.yaml" in message and "`prod`" in message and "NOT_SET_ANYWHERE is not set" in message


def test_literal_secret_is_refused():
    with pytest.raises(ConnectionConfigError, match=r"literal secret.*\$\{env:NAME\}"):
        resolve_spec("prod", {"type": "openai", "api_key": "sk-literal"}, "promptwise.yaml", {})


@pytest.mark.parametrize("environ, azure, expected", [
    ({"OPENAI_API_KEY": "k1234", "OPENAI_BASE_URL": "http://h/v1"}, False, ("openai", "http://h/v1", None)),
    ({"AZURE_OPENAI_API_KEY": "k1234", "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
      "OPENAI_API_VERSION": "2024-02-01"}, True, ("azure_openai", None, "2024-02-01")),
])
def test_fallback_to_the_clients_own_variables(environ, azure, expected):
    connection = ConnectionResolver({}, environ=environ).resolve("open_ai_connection", azure_hint=azure)
    assert (connection.type, connection.base_url, connection.api_version) == expected
    assert connection.api_key == "k1234"


def test_missing_fallback_variables_named():
    with pytest.raises(ConnectionConfigError, match="export OPENAI_API_KEY"):
        ConnectionResolver({}, environ={}).resolve(None)
    with pytest.raises(ConnectionConfigError, match="AZURE_OPENAI_ENDPOINT"):
        ConnectionResolver({}, environ={"AZURE_OPENAI_API_KEY": "x1234"}).resolve(None, azure_hint=True)


def test_named_connection_and_default_from_settings():
    settings = {"defaults": {"connection": "local"},
                "connections": {"local": {"type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}}}
    resolver = ConnectionResolver(settings, environ={})
    assert resolver.resolve("local").base_url == "http://127.0.0.1:9/v1"
    assert resolver.resolve("open_ai_connection").name == "local"  # undefined names use the default
    assert resolver.resolve(None).describe() == {"name": "local", "type": "openai_compatible",
                                                 "endpoint": "http://127.0.0.1:9/v1", "api_version": None}


def test_unknown_type_and_setting_are_explained():
    with pytest.raises(ConnectionConfigError, match="unknown connection type 'bedrock'"):
        resolve_spec("x", {"type": "bedrock", "base_url": "http://h"}, "promptwise.yaml", {})
    with pytest.raises(ConnectionConfigError, match="unknown setting.*endpointt"):
        resolve_spec("x", {"type": "openai", "endpointt": "h"}, "promptwise.yaml", {})


async def test_a_429_pauses_every_call_on_the_connection():
    async with FakeOpenAI() as server:
        server.inject("rate_limit", count=1, retry_after=0.3, match="first")
        provider = Provider(openai_connection(server), FAST)
        first = asyncio.ensure_future(chat(provider, "first"))
        while not server.requests:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # the 429 has been answered; now other rows start
        others = await asyncio.gather(*(chat(provider, f"other {i}") for i in range(3)))
        await first
        await provider.aclose()
    limited = server.requests[0]
    assert limited.fault == "rate_limit"
    later = [r for r in server.requests[1:]]
    assert len(later) == 4 and all(r.arrived - limited.arrived >= 0.3 for r in later)
    assert [o.text for o in others] == ["echo: other 0", "echo: other 1", "echo: other 2"]
