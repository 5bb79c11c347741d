"""Rollouts declared under `rollout:` in promptwise.yaml or deploy.yaml (deploy/rollout_file.py):
applied by `promptwise serve` and `promptwise rollout apply`, never re-applied over a later
rollback unless the declaration changed, and every mistake reported with its file and line
before anything changes."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest
from rollout_helpers import WORDS, cli, declare

from promptwise.config import load_workspace
from promptwise.deploy.errors import DeployError
from promptwise.deploy.rollout import served_state

SETTINGS = "promptwise.yaml"


def current(root) -> dict | None:
    path = root / ".promptwise" / "rollouts" / "triage.json"
    return json.loads(path.read_text())["current"] if path.exists() else None


def rollout_audit(root) -> list[tuple]:
    with sqlite3.connect(root / ".promptwise" / "registry.sqlite") as db:
        return db.execute("SELECT action, to_version, details FROM audit WHERE action IN ('rollout', 'rollback') "
                          "ORDER BY seq").fetchall()


def test_a_declared_rollout_is_applied_and_a_later_rollback_survives_a_restart(workspace, capsys):
    flow = str(workspace / "triage")
    assert cli(capsys, "rollout", "set", flow, "triage:v1=100")[0] == 0
    declare(workspace, """
        rollout:
          triage:
            weights: {v1: 90, triage:v2: 10}
            sticky_key: X-User-Id
            shadow: {version: v3, share: 20}
    """)
    code, out, err = cli(capsys, "rollout", "apply", flow)
    assert code == 0, err
    assert "applied from promptwise.yaml" in out
    expected = {"weights": {"triage:v1": 90, "triage:v2": 10}, "sticky_key": "x-user-id",
                "shadow": {"version": "triage:v3", "share": 20}}
    assert current(workspace) == expected
    action, to_version, details = rollout_audit(workspace)[-1]
    assert (action, to_version) == ("rollout", "triage:v1")
    assert json.loads(details)["declared_in"] == str(workspace / SETTINGS)

    # A rollback is not undone when the server starts again with the same declaration...
    assert cli(capsys, "rollout", "rollback", flow)[0] == 0
    assert current(workspace) == {"weights": {"triage:v1": 100}}
    served_state(workspace / "triage", load_workspace(workspace / "triage"))
    assert current(workspace) == {"weights": {"triage:v1": 100}}
    code, out, _ = cli(capsys, "rollout", "status", flow)
    assert "differs from the rollout last applied from" in out
    # ...but a changed declaration is applied by the next start.
    declare(workspace, """
        rollout:
          triage: {weights: {v2: 100}}
    """)
    served_state(workspace / "triage", load_workspace(workspace / "triage"))
    assert current(workspace) == {"weights": {"triage:v2": 100}}
    code, out, _ = cli(capsys, "rollout", "apply", flow)
    assert code == 0 and "unchanged, already serving" in out
    assert [a for a, _, _ in rollout_audit(workspace)] == ["rollout", "rollout", "rollback", "rollout"]


def test_deploy_yaml_declares_a_rollout_and_two_declarations_are_refused(workspace, capsys):
    declare(workspace, """
        # rollouts of this workspace's flows
        rollout:
          triage:
            weights: {v1: 50, v3: 50}
    """, file="deploy.yaml")
    flow = str(workspace / "triage")
    assert cli(capsys, "rollout", "apply", flow)[0] == 0
    assert current(workspace) == {"weights": {"triage:v1": 50, "triage:v3": 50}}
    declare(workspace, "rollout:\n  triage: {weights: {v2: 100}}\n")
    code, _, err = cli(capsys, "rollout", "apply", flow)
    assert code != 0
    assert f"{workspace / SETTINGS}:" in err and f"{workspace / 'deploy.yaml'}:3" in err and "keep one" in err
    assert current(workspace) == {"weights": {"triage:v1": 50, "triage:v3": 50}}


@pytest.mark.parametrize("declaration, line, expected", [
    ("triage:\n    weights: {v1: 60, v2: 30}\n", 7, "add up to 90, not 100"),
    ("triage:\n    weights:\n      v1: 50\n      v9: 50\n", 9, "no version 'triage:v9'"),
    ("triage:\n    weights:\n      v1: 50\n      v2: half\n", 9, "whole percent 0-100, not a string"),
    ("triage:\n    weights: {v1: 100}\n    shadow: {version: v3, share: 0}\n", 8, "shadow share"),
    ("triage:\n    weights: {v1: 100}\n    stickykey: x-user\n", 8, "unknown rollout setting `stickykey`"),
    ("triage:\n    weights: {v1: 100, triage:v1: 0}\n", 7, "given twice"),
    ("triage: [v1, v2]\n", 6, "must be a mapping with `weights`"),
])
def test_bad_declarations_name_the_file_and_line_and_change_nothing(workspace, capsys, declaration, line, expected):
    flow = str(workspace / "triage")
    assert cli(capsys, "rollout", "set", flow, "triage:v1=100")[0] == 0
    before = (workspace / ".promptwise" / "rollouts" / "triage.json").read_text()
    audited = len(rollout_audit(workspace))
    declare(workspace, "rollout:\n  " + declaration)
    code, _, err = cli(capsys, "rollout", "apply", flow)
    assert code != 0
    assert f"{workspace / SETTINGS}:{line}:" in err and expected in err, err
    with pytest.raises(DeployError, match=f"{SETTINGS}:{line}:"):  # `promptwise serve` refuses it the same way
        served_state(workspace / "triage", load_workspace(workspace / "triage"))
    assert (workspace / ".promptwise" / "rollouts" / "triage.json").read_text() == before
    assert len(rollout_audit(workspace)) == audited


def test_apply_without_a_declaration_says_where_to_write_one(workspace, capsys):
    code, _, err = cli(capsys, "rollout", "apply", str(workspace / "triage"))
    assert code != 0 and "no rollout of triage is declared" in err and "rollout:" in err


def test_promptwise_serve_serves_the_declared_rollout(workspace):
    from serving_process import ServeProcess

    declare(workspace, "rollout:\n  triage: {weights: {v2: 100}}\n")
    server = ServeProcess(workspace / "triage")
    try:
        response = httpx.post(server.url + "/score", json={"question": "hello"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["x-promptwise-version"] == "triage:v2"
        assert WORDS["triage:v2"] in response.json()["answer"]
    finally:
        server.stop()


def test_check_knows_the_rollout_and_registry_sections_and_their_keys(workspace, capsys):
    declare(workspace, """
        serve: {timeout_seconds: 30}
        registry: {path: ../shared-registry}
        rollout:
          triage:
            weights: {v1: 100}
            stickykey: x-user-id
    """)
    code, out, err = cli(capsys, "check", str(workspace / SETTINGS))
    problems = [line for line in (out + err).splitlines() if "PW103" in line]
    assert len(problems) == 1, out + err  # serve, registry and rollout are known sections
    assert f"{SETTINGS}:10:" in problems[0] and "stickykey" in problems[0] and "sticky_key" in problems[0]


def test_the_editor_reports_rollout_and_registry_mistakes_at_their_lines(workspace, monkeypatch):
    """PW111 through the same readers serve and rollout use: versions looked up in the local
    registry; with a team database only the form (no query from the editor)."""
    from promptwise.analysis.settings import check_settings_file

    def problems(text: str) -> list[tuple[int, str, str]]:
        declare(workspace, text)
        return [(p.range.start.line + 1, p.severity.value, p.message)
                for p in check_settings_file(workspace / SETTINGS) if p.code == "PW111"]

    assert problems("rollout:\n  triage: {weights: {v1: 90, v2: 10}, shadow: {version: v3, share: 5}}\n") == []
    [(line, severity, message)] = problems("rollout:\n  triage:\n    weights:\n      v1: 50\n      v9: 50\n")
    assert (line, severity) == (9, "error") and "no version 'triage:v9'" in message
    [(line, _, message)] = problems("rollout:\n  triage:\n    weights: {v1: 60, v2: 30}\n")
    assert line == 7 and "add up to 90, not 100" in message
    monkeypatch.delenv("TEAM_REGISTRY_URL", raising=False)
    found = problems("registry: {url: '${env:TEAM_REGISTRY_URL}'}\nrollout:\n  triage: {weights: {v9: 100}}\n")
    assert [(line, severity) for line, severity, _ in found] == [(5, "warning")]  # v9 not looked up remotely
    assert "TEAM_REGISTRY_URL" in found[0][2] and "not set" in found[0][2]
