"""The access log is written by a thread (serving/access_log.py): a stuck stderr does not stop
requests, lines keep their order, and none is lost when the server drains on SIGTERM."""

from __future__ import annotations

import logging
import threading
import time

import httpx

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.access_log import QueuedLog
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


class StuckStream(logging.Handler):
    """A handler whose writes wait until released, as a pipe nobody reads does."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.unstuck = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        assert self.unstuck.wait(60), "never released"
        self.lines.append(record.getMessage())


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_a_stuck_stream_does_not_stop_the_logging_caller_and_stop_writes_every_line_in_order():
    stuck = StuckStream()
    queued = QueuedLog(stuck)
    logger = logger_with(queued, "test.access.order")
    queued.start()
    for index in range(50):
        logger.info("line %d", index)  # returns while the writer is stuck on the first line
    assert stuck.entered.wait(30) and stuck.lines == []
    stuck.unstuck.set()
    queued.stop()
    assert stuck.lines == [f"line {index}" for index in range(50)] and queued.dropped == 0
    logger.info("after stop")  # no writer thread any more: written directly, not queued and lost
    assert stuck.lines[-1] == "after stop"


def test_lines_beyond_the_capacity_are_dropped_counted_and_reported(caplog):
    stuck = StuckStream()
    queued = QueuedLog(stuck, capacity=3)
    logger = logger_with(queued, "test.access.full")
    queued.start()
    logger.info("first")
    assert stuck.entered.wait(30)  # the writer holds "first": the queue is empty again
    for index in range(10):
        logger.info("then %d", index)
    assert queued.dropped == 7  # 3 queued, 7 dropped: memory stays bounded
    with caplog.at_level(logging.WARNING, logger="promptwise.serve"):
        stuck.unstuck.set()
        queued.stop()
    assert stuck.lines == ["first", "then 0", "then 1", "then 2"]
    assert any("7 access log lines were dropped" in record.getMessage() for record in caplog.records)


def test_sigterm_drains_in_flight_requests_and_their_lines_in_order(tmp_path):
    with FakeOpenAI(rules=[(r"slow", "slowly answered", 1.5)]) as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        served = ServeProcess(root / "echo.prompty")
        try:
            ids = [f"in-order-{index}" for index in range(20)]
            with httpx.Client(base_url=served.url, timeout=30) as client:
                for request_id in ids:
                    assert client.post("/score", json={"question": "hi"},
                                       headers={"x-request-id": request_id}).status_code == 200
            slow: list[httpx.Response] = []
            caller = threading.Thread(target=lambda: slow.append(httpx.post(
                served.url + "/score", json={"question": "slow please"}, headers={"x-request-id": "in-flight"},
                timeout=30)))
            caller.start()
            deadline = time.monotonic() + 30
            while fake.stats.requests < 1 + len(ids):  # until the slow one is with the model
                assert time.monotonic() < deadline, "the slow request never reached the model"
                time.sleep(0.02)
            served.terminate()
            caller.join(30)
        finally:
            served.stop()  # uvicorn exits by the signal it drained for (-15)
    assert slow and slow[0].status_code == 200  # drained: answered, not cut off
    logged = [entry["id"] for entry in served.access_log()]  # the server has exited: all written
    assert logged == [*ids, "in-flight"]
