"""A running `promptwise serve FLOW` follows edits of its declared rollout (the `rollout:` section
of promptwise.yaml or deploy.yaml) without `rollout apply` or a restart: the weights of its
answers change, a bad edit is one logged error with the file and line while the current
weights keep serving, and an unchanged declaration never undoes a later rollback."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
from rollout_helpers import WORDS, cli, declare, state

from serving_process import ServeProcess

SETTINGS = "promptwise.yaml"


def ask(server) -> str:
    response = httpx.post(server.url + "/score", json={"question": "hello"}, timeout=30)
    assert response.status_code == 200, response.text  # no request is dropped while the declaration changes
    version = response.headers["x-promptwise-version"]
    assert WORDS[version] in response.json()["answer"]
    return version


def until(server, condition, what: str) -> None:
    """Requests drive the server's check (at most once a second); bounded wait for `condition`."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"the server did not {what}:\n{server.stderr()}"
        ask(server)
        time.sleep(0.2)


def audited(root) -> list[str]:
    with sqlite3.connect(root / ".promptwise" / "registry.sqlite") as db:
        return [row[0] for row in db.execute("SELECT action FROM audit WHERE action IN ('rollout', 'rollback') "
                                             "ORDER BY seq")]


def test_a_running_server_applies_an_edited_declaration_and_keeps_serving_through_a_bad_one(workspace, capsys):
    declare(workspace, "rollout:\n  triage: {weights: {v1: 100}}\n")
    server = ServeProcess(workspace / "triage")
    try:
        assert {ask(server) for _ in range(5)} == {"triage:v1"}

        declare(workspace, "rollout:\n  triage: {weights: {v2: 100}}\n")
        until(server, lambda: ask(server) == "triage:v2", "apply the edited declaration")
        assert "the rollout declared in" in server.stderr()
        assert state(workspace) == {"weights": {"triage:v2": 100}}

        # A bad edit: one error naming the file and the line; v2 keeps answering.
        declare(workspace, """
            rollout:
              triage:
                weights: {v1: 60, v2: 30}
        """)
        line = (workspace / SETTINGS).read_text().splitlines().index("    weights: {v1: 60, v2: 30}") + 1
        until(server, lambda: "was not applied" in server.stderr(), "report the bad declaration")
        for _ in range(8):  # over a second: the same bytes are not checked again
            assert ask(server) == "triage:v2"
            time.sleep(0.2)
        errors = [text for text in server.stderr().splitlines() if "was not applied" in text]
        assert len(errors) == 1, errors
        assert f"{workspace / SETTINGS}:{line}:" in errors[0] and "add up to 90" in errors[0]
        assert "still serving triage:v2=100" in errors[0]
        assert "Traceback" not in server.stderr()
        assert state(workspace) == {"weights": {"triage:v2": 100}}

        # A rollback from the CLI is not undone by saving the same declaration again (with a comment).
        assert cli(capsys, "rollout", "rollback", str(workspace / "triage"))[0] == 0
        until(server, lambda: ask(server) == "triage:v1", "follow the rollback")
        declare(workspace, "rollout:\n  # back to v2 once the fix is in\n  triage: {weights: {v2: 100}}\n")
        until(server, lambda: "as last applied" in server.stderr(), "notice the saved declaration")
        assert {ask(server) for _ in range(5)} == {"triage:v1"}

        # A declaration moved to a deploy.yaml made while the server runs is followed too.
        declare(workspace, "")
        declare(workspace, "rollout:\n  triage:\n    weights: {v1: 50, v3: 50}\n", file="deploy.yaml")
        until(server, lambda: state(workspace) == {"weights": {"triage:v1": 50, "triage:v3": 50}},
              "apply the declaration in deploy.yaml")
        until(server, lambda: "triage:v3" in {ask(server) for _ in range(10)}, "serve the deploy.yaml weights")
        assert server.process.poll() is None  # the same process throughout
        assert audited(workspace) == ["rollout", "rollout", "rollback", "rollout"]
    finally:
        server.stop()


def test_several_workers_apply_one_edit_once(workspace):
    declare(workspace, "rollout:\n  triage: {weights: {v1: 100}}\n")
    server = ServeProcess(workspace / "triage", args=("--workers", "2"))
    try:
        declare(workspace, "rollout:\n  triage: {weights: {v2: 100}}\n")
        until(server, lambda: {ask(server) for _ in range(6)} == {"triage:v2"}, "apply the edit in both workers")
        data = json.loads((workspace / ".promptwise" / "rollouts" / "triage.json").read_text())
        assert data["current"] == {"weights": {"triage:v2": 100}}
        assert data["history"] == [{"weights": {"triage:v1": 100}}]  # applied once, not once per worker
        assert audited(workspace) == ["rollout", "rollout"]
    finally:
        server.stop()
