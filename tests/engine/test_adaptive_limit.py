"""Adaptive back-off: how many calls a connection keeps in flight (AIMD), the HTTP pool sized to
the concurrency, pacing, and the default concurrency a batch runs with."""

from __future__ import annotations

import asyncio
import json

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.batch import DEFAULT_CONCURRENCY, run_batch
from promptwise.engine.connections import resolve_spec
from promptwise.engine.providers import AdaptiveLimit, Provider, RetryPolicy, _connection_limits

from engine_flows import ONE_LLM_NODE_FLOW

FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, timeout=5.0)


def connection(server: FakeOpenAI):
    return resolve_spec("local", {"type": "openai_compatible", "base_url": server.base_url}, "promptwise.yaml", {})


async def chat(provider: Provider, text: str):
    return await provider.chat("gpt-4o-mini", [{"role": "user", "content": text}])


def test_limit_takes_slots_up_to_the_ceiling():
    limit = AdaptiveLimit(3)
    assert [limit.try_acquire() for _ in range(4)] == [True, True, True, False]
    limit.release()
    assert limit.try_acquire() and limit.in_flight == 3


def test_one_overload_signal_per_round_trip_halves_the_limit_once():
    limit = AdaptiveLimit(16)
    seen = limit.cuts  # every call in flight started before any cut
    assert limit.overloaded(seen) is True
    # The other calls of the same bunch fail with the same 429: no further cuts.
    assert [limit.overloaded(seen) for _ in range(15)] == [False] * 15
    assert limit.allowed == 8 and limit.lowest == 8
    assert limit.overloaded(limit.cuts) is True  # a call started after the cut: a new signal
    assert limit.allowed == 4 and limit.lowest == 4


def test_limit_never_drops_below_one():
    limit = AdaptiveLimit(2)
    for _ in range(5):
        limit.overloaded(limit.cuts)
    assert limit.allowed == 1 and limit.lowest == 1


def test_successes_raise_the_limit_by_one_per_round_up_to_the_ceiling():
    limit = AdaptiveLimit(8)
    limit.overloaded(limit.cuts)
    assert limit.allowed == 4
    for _ in range(4):  # one round: as many successes as calls allowed
        limit.succeeded()
    assert limit.allowed == 5
    for _ in range(200):
        limit.succeeded()
    assert limit.allowed == 8


async def test_waiting_calls_get_freed_slots_in_arrival_order():
    limit = AdaptiveLimit(1)
    assert limit.try_acquire()
    order = []

    async def call(name: str) -> None:
        await limit.acquire()
        order.append(name)

    waiting = [asyncio.ensure_future(call(name)) for name in ("a", "b")]
    await asyncio.sleep(0)
    assert order == [] and limit.in_flight == 1
    limit.release()
    await asyncio.sleep(0)
    assert order == ["a"]
    limit.release()
    await asyncio.gather(*waiting)
    assert order == ["a", "b"] and limit.in_flight == 1


async def test_a_cancelled_waiter_passes_its_turn_on():
    limit = AdaptiveLimit(1)
    assert limit.try_acquire()
    first = asyncio.ensure_future(limit.acquire())
    second = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    limit.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 5)
    assert limit.in_flight == 1


def test_http_pool_is_at_least_the_concurrency():
    assert _connection_limits(1500).max_connections == 1500
    assert _connection_limits(1500).max_keepalive_connections == 1500
    assert _connection_limits(8).max_keepalive_connections == 8
    assert _connection_limits(8).max_connections >= 8


async def test_a_wave_of_429s_halves_the_calls_in_flight_once_and_all_calls_succeed():
    with FakeOpenAI(latency=0.05) as server:
        server.inject("rate_limit", count=8, retry_after=0.3)
        provider = Provider(connection(server), FAST, concurrency=8)
        calls = asyncio.gather(*(chat(provider, f"q{i}") for i in range(8)))
        while server.stats.faulted < 8:  # the whole first wave was answered 429
            await asyncio.sleep(0.005)
        server.reset()  # count what happens after the wave (retries wait out Retry-After)
        results = await calls
        await provider.aclose()
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(8)]
    assert provider.limit.cuts == 1 and provider.limit.lowest == 4  # one signal, one halving
    assert server.stats.completed == 8
    assert server.stats.peak_in_flight <= 5  # 4 after the cut, +1 as successes grow it back


async def test_batch_keeps_the_default_concurrency_busy(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    rows = DEFAULT_CONCURRENCY + 8
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(rows)))
    workspace.server.latency = 0.5  # long enough for every worker to have its call out
    result = await run_batch(root / "flow", data, use_cache=False)
    assert DEFAULT_CONCURRENCY >= 32
    assert result.completed == rows
    assert workspace.server.stats.peak_in_flight == DEFAULT_CONCURRENCY
