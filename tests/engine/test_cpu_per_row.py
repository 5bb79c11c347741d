"""What keeps a batch's CPU per row down against a fast endpoint, and that none of it changes
behaviour: one TLS context per process (still verifying), pacing that follows the endpoint
instead of capping it, and the event loop a batch runs on. Real openai client, real fake server."""

from __future__ import annotations

import asyncio
import ssl
import sys

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine import event_loop
from promptwise.engine.connections import resolve_spec
from promptwise.engine.providers import (FASTEST_DRIFT, MIN_CALL_SPACING, Provider, RetryPolicy, call_spacing,
                                         shared_ssl_context)

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=5.0)


def connection(server: FakeOpenAI):
    return resolve_spec("local", {"type": "openai_compatible", "base_url": server.base_url}, "promptwise.yaml", {})


def test_one_tls_context_per_process_and_it_verifies_certificates():
    context = shared_ssl_context()
    assert shared_ssl_context() is context  # the SDK's client and the direct session share it
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_pacing_allows_twice_the_concurrency_bound_and_is_at_most_a_millisecond():
    # 64 calls of 5 ms allow 12,800 a second: starts may come 25,600 a second, no cap below the bound
    assert call_spacing(0.005, 64) == pytest.approx(0.005 / 128)
    assert call_spacing(2.0, 32) == MIN_CALL_SPACING  # a hosted model: 1 ms apart, as before
    assert call_spacing(0.001, 0) == pytest.approx(0.0005)  # a limit of 0 counts as one call


async def test_pacing_follows_the_fastest_answer_not_a_slow_one():
    with FakeOpenAI(latency=0.002) as server:
        provider = Provider(connection(server), FAST, concurrency=64)
        assert provider._spacing == MIN_CALL_SPACING  # until an answer says how fast the endpoint is
        for text in ("a", "b", "c"):
            await provider.chat("gpt-4o-mini", [{"role": "user", "content": text}])
        fast = provider._spacing
        assert fast < MIN_CALL_SPACING / 2
        # A slow answer (an outlier, or this client busy with other rows) does not slow the pacing at once.
        server.latency = 0.3
        await provider.chat("gpt-4o-mini", [{"role": "user", "content": "slow"}])
        await provider.aclose()
    assert provider._spacing <= fast * FASTEST_DRIFT * 1.0001


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_batches_run_on_uvloop_when_it_is_installed(monkeypatch):
    monkeypatch.delenv("PROMPTWISE_EVENT_LOOP", raising=False)
    assert event_loop.run(_loop_module()).startswith("uvloop") and event_loop.loop_name() == "uvloop"


def test_asyncio_loop_when_uvloop_is_missing_or_turned_off(monkeypatch):
    monkeypatch.setenv("PROMPTWISE_EVENT_LOOP", "asyncio")
    assert event_loop.run(_loop_module()).startswith("asyncio") and event_loop.loop_name() == "asyncio"
    monkeypatch.delenv("PROMPTWISE_EVENT_LOOP")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError, as when not installed
    assert event_loop.run(_loop_module()).startswith("asyncio") and event_loop.loop_name() == "asyncio"
