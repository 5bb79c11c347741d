"""`promptwise serve --workers 2`: two processes answer, and /metrics adds them up."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

FLOW = ECHO_PROMPTY


def test_two_workers_answer_and_metrics_count_both(tmp_path):
    with FakeOpenAI(latency=0.2) as fake:
        root = write_workspace(tmp_path, fake.base_url, FLOW)
        process = ServeProcess(root / "echo.prompty", args=("--workers", "2"))
        try:
            def ask(index: int) -> dict:  # a connection of its own: either worker may accept it
                return httpx.post(process.url + "/score", json={"question": f"q{index}"}, timeout=30).json()

            with ThreadPoolExecutor(15) as pool:
                answers = list(pool.map(ask, range(30)))
            assert answers == [{"output": f"echo: q{index}"} for index in range(30)]
            text = httpx.get(process.url + "/metrics", timeout=30).text
        finally:
            assert process.stop() in (0, -15)
    counted = re.search(r'promptwise_requests_total\{[^}]*status="200"[^}]*\} (\d+)', text)
    assert counted and int(counted.group(1)) == 30  # whichever worker answered /metrics
    workers = {entry["worker"] for entry in process.access_log() if "worker" in entry}
    assert len(workers) == 2
