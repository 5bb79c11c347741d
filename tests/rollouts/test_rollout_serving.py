"""A real `promptwise serve FLOW` process serving a rollout of packaged versions: the weights
changed while it runs (no restart), sticky keys, a shadow that is recorded but never returned,
and rollback. Each version's prompt names it, so the fake model's echo says which one answered."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest
from rollout_helpers import WORDS, cli

from serving_process import ServeProcess


@pytest.fixture(scope="module")
def server(packaged, capsys_module):
    assert cli(capsys_module, "rollout", "set", str(packaged / "triage"), "triage:v1=100")[0] == 0
    process = ServeProcess(packaged / "triage")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def capsys_module():
    """The CLI's output swallowed (the server fixture is module-scoped; capsys is not)."""
    class Quiet:
        def readouterr(self):
            return "", ""
    return Quiet()


def ask(server, headers=None) -> tuple[str, str]:
    response = httpx.post(server.url + "/score", json={"question": "hello"}, headers=headers or {}, timeout=30)
    assert response.status_code == 200, response.text
    version = response.headers["x-promptwise-version"]
    assert WORDS[version] in response.json()["answer"]  # the answer came from the version the header names
    return version, response.json()["answer"]


def change(server, capsys, *argv) -> None:
    """Run a rollout command and wait (bounded) until the running server has applied it."""
    applied = server.stderr().count("rollout now")
    assert cli(capsys, "rollout", *argv)[0] == 0
    deadline = time.monotonic() + 20
    while server.stderr().count("rollout now") == applied:
        assert time.monotonic() < deadline, f"the server did not apply the rollout:\n{server.stderr()}"
        ask(server)  # requests drive the check (at most one stat a second)
        time.sleep(0.2)


def test_weights_change_without_a_restart_and_rollback_is_instant(server, packaged, capsys):
    flow = str(packaged / "triage")
    pid = server.process.pid
    assert {ask(server)[0] for _ in range(10)} == {"triage:v1"}
    change(server, capsys, "set", flow, "triage:v1=50", "triage:v2=50")
    seen = [ask(server)[0] for _ in range(40)]
    assert set(seen) == {"triage:v1", "triage:v2"}
    change(server, capsys, "rollback", flow)
    assert {ask(server)[0] for _ in range(10)} == {"triage:v1"}
    assert server.process.pid == pid and server.process.poll() is None  # the same process throughout


def test_a_sticky_key_always_gets_the_same_version(server, packaged, capsys):
    change(server, capsys, "set", str(packaged / "triage"), "triage:v1=50", "triage:v2=50", "--sticky-key", "x-user-id")
    for user in ("ana", "bo", "chen", "dee"):
        assert len({ask(server, {"x-user-id": user})[0] for _ in range(6)}) == 1
    assert len({ask(server, {"x-user-id": f"user-{i}"})[0] for i in range(30)}) == 2


def test_a_shadow_is_recorded_with_its_version_and_never_returned(server, packaged, capsys):
    change(server, capsys, "set", str(packaged / "triage"), "triage:v1=100", "--shadow", "triage:v3=100")
    for _ in range(5):
        version, answer = ask(server)
        assert version == "triage:v1" and "GAMMA" not in answer
    deadline = time.monotonic() + 30  # the span store writes in the background
    while True:
        with sqlite3.connect(packaged / ".promptwise" / "traces.sqlite") as db:
            shadows = db.execute("SELECT trace_id FROM traces WHERE version = 'triage:v3'").fetchall()
            answers = db.execute("SELECT COUNT(*) FROM spans WHERE attributes LIKE '%echo: GAMMA hello%'").fetchone()[0]
        if shadows and answers:
            break
        assert time.monotonic() < deadline, "no shadow trace of triage:v3 was recorded"
        time.sleep(0.3)
    with sqlite3.connect(packaged / ".promptwise" / "traces.sqlite") as db:
        served = db.execute("SELECT COUNT(*) FROM traces WHERE version = 'triage:v1'").fetchone()[0]
        root = db.execute("SELECT s.attributes FROM traces t JOIN spans s ON s.trace_id = t.trace_id "
                          "AND s.span_id = t.root_span_id WHERE t.version = 'triage:v3' LIMIT 1").fetchone()[0]
    assert served >= 5
    attributes = json.loads(root)
    assert attributes["promptwise.shadow"] is True and "echo: GAMMA hello" in attributes["promptwise.flow.outputs"]


def test_rollout_compare_shows_live_figures_and_the_shadows_agreement(server, packaged, capsys):
    change(server, capsys, "set", str(packaged / "triage"), "triage:v2=100", "--shadow", "triage:v3=100")
    for _ in range(4):
        assert ask(server)[0] == "triage:v2"
    deadline = time.monotonic() + 30
    while True:
        code, out, err = cli(capsys, "rollout", "compare", str(packaged / "triage"), "--format", "json")
        assert code == 0, err
        rows = {row["version"]: row for row in json.loads(out)["versions"]}
        if rows["triage:v3"]["agreement"]["compared"] >= 4:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.3)
    assert rows["triage:v2"]["weight"] == 100 and rows["triage:v2"]["requests"] >= 4
    assert rows["triage:v3"]["shadow"] is True and rows["triage:v3"]["agreement"]["same"] == 0  # BETA vs GAMMA
    assert rows["triage:v2"]["error_rate"] == 0.0 and rows["triage:v2"]["p95_ms"] >= rows["triage:v2"]["p50_ms"]
    code, out, _ = cli(capsys, "rollout", "compare", str(packaged / "triage"))
    assert code == 0 and "triage:v3" in out and "shadow" in out and "same answers" in out
    code, out, _ = cli(capsys, "compare", "--live", "--flow", str(packaged / "triage"), "--format", "json")
    assert code == 0 and {row["version"] for row in json.loads(out)["versions"]} == {"triage:v2", "triage:v3"}
    code, _, err = cli(capsys, "compare", "--live")
    assert code != 0 and "--flow FLOW" in err


def test_an_in_flight_request_finishes_on_the_version_it_started_on(server, packaged, fake, capsys):
    import threading

    def slow_echo(body):
        return "echo: " + str(body["messages"][-1]["content"])

    fake.add_rule(r"slowly", slow_echo, 3.0)
    change(server, capsys, "set", str(packaged / "triage"), "triage:v1=100")
    result = {}

    def slow_request():
        response = httpx.post(server.url + "/score", json={"question": "slowly"}, timeout=30)
        result.update(version=response.headers["x-promptwise-version"], answer=response.json()["answer"])

    thread = threading.Thread(target=slow_request)
    thread.start()
    deadline = time.monotonic() + 20
    while not any("slowly" in json.dumps(r.body) for r in list(fake.requests)):  # it reached the model: running
        assert time.monotonic() < deadline, "the slow request never reached the model"
        time.sleep(0.05)
    change(server, capsys, "set", str(packaged / "triage"), "triage:v2=100")
    assert ask(server)[0] == "triage:v2"
    thread.join(timeout=30)
    assert result == {"version": "triage:v1", "answer": "echo: ALPHA slowly"}
