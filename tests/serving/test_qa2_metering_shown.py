"""The per-consumer metering (`.promptwise/metering.sqlite`, the chargeback record) is shown by
`promptwise monitor --metering`: requests, errors, tokens and cost per consumer and version, per
UTC day with --by consumer-day, text and JSON. Before, no command read it: a flow served with
--no-trace had its usage stored and `monitor` said "no traces yet". Through a real `promptwise
serve --no-trace` process with two consumers' keys and the fake model."""

from __future__ import annotations

import json

import httpx
import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

KEYS = {"QA2_PORTAL_KEY": "portal-key-qa2-0123456789", "QA2_BATCH_KEY": "batch-key-qa2-0123456789"}
SERVE = """
keys:
  - {consumer: portal, key: "${env:QA2_PORTAL_KEY}"}
  - {consumer: batch-jobs, key: "${env:QA2_BATCH_KEY}"}
"""


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A workspace whose server answered portal twice and batch-jobs once (and refused one bad
    input from batch-jobs), then stopped (SIGTERM writes the last metering)."""
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path_factory.mktemp("qa2-metering"), fake.base_url, ECHO_PROMPTY, SERVE)
        process = ServeProcess(root / "echo.prompty", args=("--no-trace",), env=KEYS)
        try:
            for key, question in ((KEYS["QA2_PORTAL_KEY"], "one"), (KEYS["QA2_PORTAL_KEY"], "two"),
                                  (KEYS["QA2_BATCH_KEY"], "three")):
                answer = httpx.post(process.url + "/score", json={"question": question}, headers={"api-key": key},
                                    timeout=30)
                assert answer.status_code == 200, answer.text
            refused = httpx.post(process.url + "/score", json={"question": None},
                                 headers={"api-key": KEYS["QA2_BATCH_KEY"]}, timeout=30)
            assert refused.status_code == 422
        finally:
            process.stop()  # SIGTERM: the last metering is written as the server drains
    assert not (root / ".promptwise" / "traces.sqlite").exists()  # --no-trace: the metering is all there is
    return root


def _monitor(capsys, root, *args: str) -> str:
    assert main(["monitor", "--workspace", str(root), *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_monitor_metering_shows_each_consumers_tokens_and_cost(metered, capsys):
    document = json.loads(_monitor(capsys, metered, "--metering", "--format", "json"))
    rows = {row["consumer"]: row for row in document["rows"]}
    assert set(rows) == {"portal", "batch-jobs"}
    assert (rows["portal"]["requests"], rows["portal"]["errors"]) == (2, 0)
    assert (rows["batch-jobs"]["requests"], rows["batch-jobs"]["errors"]) == (2, 1)
    for row in rows.values():
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        assert row["cost_usd"] > 0  # gpt-4o-mini has a price
        assert row["version"].startswith("sha256:") and len(row["version"]) == len("sha256:") + 12
        assert row["day"] is None
    assert rows["portal"]["input_tokens"] > rows["batch-jobs"]["input_tokens"]  # two answered requests, not one

    text = _monitor(capsys, metered, "--metering")
    assert "portal" in text and "batch-jobs" in text
    assert "total: 4 requests, 1 errors" in text

    daily = json.loads(_monitor(capsys, metered, "--metering", "--by", "consumer-day", "--format", "json"))
    assert {row["day"] for row in daily["rows"]} and all(row["day"] for row in daily["rows"])

    only = json.loads(_monitor(capsys, metered, "--metering", "--consumer", "portal", "--format", "json"))
    assert [row["consumer"] for row in only["rows"]] == ["portal"]
    later = _monitor(capsys, metered, "--metering", "--since", "2099-01-01")
    assert later.startswith("nothing metered since 2099-01-01")


def test_monitor_without_traces_points_at_the_metering(metered, capsys):
    assert "--metering" in _monitor(capsys, metered)


def test_metering_refuses_what_it_cannot_group_by(metered, capsys):
    assert main(["monitor", "--workspace", str(metered), "--metering", "echo"]) == 2
    error = capsys.readouterr().err
    assert "--metering" in error and "FLOW" in error and "--version" in error
