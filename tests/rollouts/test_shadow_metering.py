"""Shadow traffic is metered but never billed to the consumer: a real `promptwise serve` with an
API key, a token rate limit and a 100% shadow. The fake model reports 100 tokens for the served
version's prompt (ALPHA) and 1,500 for the shadow's (GAMMA), so the limit of 150 tokens a minute
lets a second request through only if the shadow's tokens are not counted against the consumer,
and refuses the third on the consumer's own tokens."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest
from rollout_helpers import FLOW, cli, package_versions

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.metering import usage_by_consumer
from promptwise.serving.rollout import SHADOW_CONSUMER
from serving_process import ServeProcess, write_workspace

KEY = "team-key-for-the-shadow-test"
SERVE = """
keys:
  - consumer: team
    key: ${env:SHADOW_TEST_KEY}
limits:
  team: {tokens_per_minute: 150}
"""


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=[
        (r"ALPHA", {"content": "alpha answer", "usage": {"prompt_tokens": 90, "completion_tokens": 10}}),
        (r"GAMMA", {"content": "gamma answer", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}),
    ]) as server:
        yield server


def test_shadow_tokens_and_cost_are_metered_under_the_shadow_not_the_consumer(tmp_path, fake, capsys):
    root = write_workspace(tmp_path, fake.base_url, FLOW, serve=SERVE)
    (root / ".git").mkdir()
    package_versions(root)
    assert cli(capsys, "rollout", "set", str(root / "triage"), "triage:v1=100", "--shadow", "triage:v3=100")[0] == 0
    server = ServeProcess(root / "triage", env={"SHADOW_TEST_KEY": KEY})
    headers = {"authorization": f"Bearer {KEY}"}

    def ask() -> httpx.Response:
        return httpx.post(server.url + "/score", json={"question": "hello"}, headers=headers, timeout=30)

    def shadows_done(count: int) -> None:
        deadline = time.monotonic() + 30
        while fake.stats.completed < 2 * count:  # the answer's call and the shadow's
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.05)
        time.sleep(0.3)  # the shadow task records its usage right after its call returns

    try:
        first = ask()
        assert first.status_code == 200 and first.headers["x-promptwise-version"] == "triage:v1"
        assert first.json()["answer"] == "alpha answer"
        shadows_done(1)
        second = ask()  # 100 of 150 tokens spent: admitted (with the shadow's 1,500 it would be 429)
        assert second.status_code == 200, second.text
        shadows_done(2)
        third = ask()  # 200 tokens: the consumer's own limit still holds
        assert third.status_code == 429
        metrics = httpx.get(server.url + "/metrics", headers=headers, timeout=10).text
        deadline = time.monotonic() + 30
        while True:  # the meter writes every 2 s, in the background
            usage = usage_by_consumer(root / ".promptwise" / "metering.sqlite")
            if usage.get(SHADOW_CONSUMER, {}).get("requests") == 2:
                break
            assert time.monotonic() < deadline, usage
            time.sleep(0.2)
    finally:
        server.stop()

    assert (usage["team"]["requests"], usage["team"]["total_tokens"]) == (2, 200)
    shadow = usage[SHADOW_CONSUMER]
    assert (shadow["requests"], shadow["prompt_tokens"], shadow["completion_tokens"]) == (2, 2000, 1000)
    assert shadow["cost_usd"] > usage["team"]["cost_usd"] > 0  # gpt-4o-mini's catalog price
    assert 'promptwise_tokens_total{consumer="(shadow)",kind="input",version="triage:v3"} 2000.0' in metrics
    assert 'promptwise_cost_usd_total{consumer="(shadow)",version="triage:v3"}' in metrics

    deadline = time.monotonic() + 30  # the span store writes in the background (and at shutdown)
    while True:
        with sqlite3.connect(root / ".promptwise" / "traces.sqlite") as db:
            rows = db.execute("SELECT t.consumer, t.input_tokens, t.output_tokens, s.attributes FROM traces t "
                              "JOIN spans s ON s.trace_id = t.trace_id AND s.span_id = t.root_span_id "
                              "WHERE t.version = 'triage:v3'").fetchall()
        if len(rows) == 2:
            break
        assert time.monotonic() < deadline, "the shadow traces were not recorded"
        time.sleep(0.2)
    for consumer, input_tokens, output_tokens, attributes in rows:
        assert (consumer, input_tokens, output_tokens) == (SHADOW_CONSUMER, 1000, 500)
        root_span = json.loads(attributes)
        assert root_span["promptwise.shadow"] is True and root_span["promptwise.shadow.consumer"] == "team"
        assert root_span["gen_ai.usage.input_tokens"] == 1000 and root_span["promptwise.cost_usd"] > 0
