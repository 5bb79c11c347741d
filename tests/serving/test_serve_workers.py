"""`promptwise serve --workers 2`: two processes answer, /metrics adds them up, and a consumer's
rate limit is one limit across both."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

FLOW = ECHO_PROMPTY
OPEN_KEY = "open-key-0123456789"
LIMITED_KEY = "limited-key-0123456789"
SERVE = f"""
keys:
  - consumer: open
    sha256: {hashlib.sha256(OPEN_KEY.encode()).hexdigest()}
  - consumer: limited
    sha256: {hashlib.sha256(LIMITED_KEY.encode()).hexdigest()}
limits:
  limited: {{requests_per_minute: 9}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with FakeOpenAI(latency=0.2) as fake:
        root = write_workspace(tmp_path_factory.mktemp("serve-workers"), fake.base_url, FLOW, SERVE)
        process = ServeProcess(root / "echo.prompty", args=("--workers", "2"))
        yield process
        assert process.stop() in (0, -15)


def ask_all(served, key: str, count: int) -> list[httpx.Response]:
    def ask(index: int) -> httpx.Response:  # a connection of its own: either worker may accept it
        return httpx.post(served.url + "/score", json={"question": f"q{index}"}, headers={"api-key": key}, timeout=30)

    with ThreadPoolExecutor(15) as pool:
        return list(pool.map(ask, range(count)))


def test_two_workers_answer_and_metrics_count_both(served):
    answers = [response.json() for response in ask_all(served, OPEN_KEY, 30)]
    assert answers == [f"echo: q{index}" for index in range(30)]  # a prompty's reply as itself, as pf answers it
    text = httpx.get(served.url + "/metrics", headers={"api-key": OPEN_KEY}, timeout=30).text
    counted = re.search(r'promptwise_requests_total\{consumer="open",[^}]*status="200"[^}]*\} (\d+)', text)
    assert counted and int(counted.group(1)) == 30  # whichever worker answered /metrics
    entries = served.access_log(until=lambda entries: sum(e.get("consumer") == "open" for e in entries) >= 30)
    workers = {entry["worker"] for entry in entries if entry.get("consumer") == "open"}
    assert len(workers) == 2


def test_a_consumers_rate_limit_holds_across_workers(served):
    statuses = [response.status_code for response in ask_all(served, LIMITED_KEY, 30)]
    # Exactly the consumer's 9 a minute: not 9 per worker, nor 9 shared out as 5 each (10 in all
    # when both workers get 5, fewer when one worker gets most of the traffic).
    assert statuses.count(200) == 9 and statuses.count(429) == 21
    entries = served.access_log(until=lambda entries: sum(e.get("consumer") == "limited" for e in entries) >= 30)
    workers = {entry["worker"] for entry in entries if entry.get("consumer") == "limited"}
    assert len(workers) == 2  # both workers admitted or refused, counting in the one window
