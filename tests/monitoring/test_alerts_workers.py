"""`promptwise serve --workers 2` with alert rules: every worker runs the alert loop, but the
lease in .promptwise/alerts.sqlite lets one check and post, so the webhook hears each alert once."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.monitoring.background import AlertState

from test_alerts import Receiver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace  # noqa: E402


def test_two_workers_post_each_alert_once(tmp_path):
    hook = Receiver()
    try:
        with FakeOpenAI() as fake:
            root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
            with (root / "promptwise.yaml").open("a", encoding="utf-8") as settings:
                # No traffic at all in the last 15 minutes: both rules fire from the first check on.
                settings.write("alerts_webhook: ${env:TEAM_HOOK}\nalerts_interval: 1s\nalerts:\n"
                               "  - {name: silent-flow, metric: requests, below: 1, window: 15m}\n"
                               "  - {name: nothing-served, flow: echo, metric: requests, below: 1, window: 1h}\n")
            process = ServeProcess(root / "echo.prompty", args=("--workers", "2"), env={"TEAM_HOOK": hook.url})
            try:
                deadline = time.monotonic() + 60
                while len(hook.bodies) < 2 and time.monotonic() < deadline:
                    time.sleep(0.1)
                # Both workers check every second: give them several rounds to post a second time.
                time.sleep(4)
            finally:
                assert process.stop() in (0, -15)
    finally:
        hook.close()
    titles = sorted(body["title"] for body in hook.bodies)
    assert titles == ["Promptwise alert: nothing-served", "Promptwise alert: silent-flow"], process.stderr()
    connection = sqlite3.connect(root / ".promptwise" / "alerts.sqlite")
    assert {row[0] for row in connection.execute("SELECT rule FROM alert_firing")} == {"silent-flow", "nothing-served"}
    connection.close()


def test_the_lease_has_one_holder_until_it_expires_or_is_released(tmp_path):
    first = AlertState(tmp_path / "alerts.sqlite", ttl_s=60)
    second = AlertState(tmp_path / "alerts.sqlite", ttl_s=0.2)
    assert first.acquire() and first.acquire()  # renewed by its holder
    assert not second.acquire()
    first.release()
    assert second.acquire() and not first.acquire()
    time.sleep(0.3)  # the second stopped renewing: its lease ran out
    assert first.acquire()
    first.update(["slow"], [])
    assert second.firing() == {"slow"}  # shared: a loop that takes over does not post it again
    second.update([], ["slow"])
    assert first.firing() == set()
