"""The registry in a team database (`registry: {url: ${env:...}}`) against a real PostgreSQL
server that this module starts (postgres_cluster.py), and in a folder two workspaces share.

Two workspaces stand for two teammates' machines: what one packages the other lists, diffs and
serves from its own unpacked copy, with one audit log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from postgres_cluster import Cluster

from promptwise.deploy import audit
from promptwise.deploy.errors import DeployError
from promptwise.deploy.registry import Registry
from promptwise.deploy.service import open_context, package
from promptwise.documents.content_hash import flow_content_hash

ENV = "PROMPTWISE_REGISTRY_URL"
SETTING = f"registry: {{url: '${{env:{ENV}}}'}}\n"


@pytest.fixture(scope="session")
def cluster():
    server = Cluster().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def team_db(cluster, monkeypatch):
    """A fresh database's URL, in the environment variable the settings name."""
    url = cluster.create_database()
    monkeypatch.setenv(ENV, url)
    return url


def _teammates(workspace: Path, tmp_path_factory, setting: str = SETTING) -> tuple[Path, Path]:
    """Two workspaces with the same flow and the same registry setting."""
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + setting)
    other = tmp_path_factory.mktemp("teammate") / "ws"
    shutil.copytree(workspace, other)
    return workspace, other


def _package(root: Path, flow: str = "triage"):
    context = open_context(root / flow)
    try:
        return package(context, root / flow)
    finally:
        context.close()


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_two_workspaces_share_versions_files_and_audit_log_through_the_team_database(
        workspace, tmp_path_factory, team_db):
    alice, bob = _teammates(workspace, tmp_path_factory)
    first, created = _package(alice)
    assert created and first.id == "triage:v1"
    (bob / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    second, created = _package(bob)
    assert created and second.id == "triage:v2"
    assert _package(alice)[0].id == "triage:v1"  # unchanged content: the existing version, nothing new

    # Nothing of the registry is in either workspace but the unpacked copies.
    for root in (alice, bob):
        assert not (root / ".promptwise" / "registry.sqlite").exists()
    shutil.rmtree(alice)  # alice's machine is gone: her version lives on in the database

    with Registry.for_workspace(_workspace(bob), readonly=True) as registry:
        assert [v.id for v in registry.list()] == ["triage:v2", "triage:v1"]
        flow = registry.materialize("triage:v1")  # unpacked into bob's cache from the database
        assert flow.is_relative_to(bob / ".promptwise" / "registry-cache")
        assert flow_content_hash(flow) == first.content_hash
        assert "{{question}}" in (flow / "chat.jinja2").read_text() and "one word" not in (flow / "chat.jinja2").read_text()
        # A local copy edited by hand is replaced from the database, not served.
        edited = flow / "chat.jinja2"
        edited.chmod(0o644)
        edited.write_text("system:\nSomething else.\n")
        assert flow_content_hash(registry.materialize("triage:v1")) == first.content_hash
        entries = audit.entries(registry.database, name="triage")
    assert [(e.action, e.from_version, e.to_version) for e in entries] == [
        ("package", None, "triage:v1"), ("package", "triage:v1", "triage:v2")]

    shown = _cli("versions", "diff", "triage:v1", "triage:v2", "--format", "json", cwd=bob)
    assert shown.returncode == 0, shown.stderr
    assert "chat.jinja2" in shown.stdout


def _workspace(root: Path):
    from promptwise.config import load_workspace

    return load_workspace(root)


def test_versions_files_and_audit_log_refuse_update_delete_and_truncate(workspace, team_db):
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + SETTING)
    _package(workspace)
    with psycopg.connect(team_db, autocommit=True) as connection:
        for statement in ("UPDATE versions SET content_hash = 'x'", "DELETE FROM versions", "TRUNCATE versions CASCADE",
                          "UPDATE version_files SET data = 'x'", "DELETE FROM version_files",
                          "UPDATE audit SET who = 'someone else'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.RaiseException):
                connection.execute(statement)
        assert connection.execute("SELECT count(*) FROM version_files").fetchone()[0] == 4  # flow, 2 files, settings
        assert connection.execute("SELECT count(*) FROM audit").fetchone()[0] == 1


def test_concurrent_packaging_from_two_machines_numbers_each_content_once(workspace, tmp_path_factory, team_db):
    alice, bob = _teammates(workspace, tmp_path_factory)
    (bob / "triage" / "chat.jinja2").write_text("system:\nBe terse.\nuser:\n{{question}}\n")
    processes = [subprocess.Popen([sys.executable, "-m", "promptwise", "package", "triage", "--format", "json"],
                                  cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for root in (alice, alice, bob, bob)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    by_workspace = [{r["version"] for r in results[:2]}, {r["version"] for r in results[2:]}]
    assert all(len(ids) == 1 for ids in by_workspace)  # one content, one version
    assert by_workspace[0] | by_workspace[1] == {"triage:v1", "triage:v2"}
    assert sorted(r["created"] for r in results) == [False, False, True, True]
    with psycopg.connect(team_db) as connection:
        assert connection.execute("SELECT count(*) FROM audit WHERE action = 'package'").fetchone()[0] == 2


def test_two_workspaces_sharing_a_registry_folder_package_at_once_without_collision(workspace, tmp_path_factory):
    shared = tmp_path_factory.mktemp("team-folder")
    alice, bob = _teammates(workspace, tmp_path_factory, f"registry: {{path: '{shared}'}}\n")
    (bob / "triage" / "chat.jinja2").write_text("system:\nBe terse.\nuser:\n{{question}}\n")
    processes = [subprocess.Popen([sys.executable, "-m", "promptwise", "package", "triage", "--format", "json"],
                                  cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for root in (alice, bob, alice, bob)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert {r["version"] for r in results} == {"triage:v1", "triage:v2"}
    assert {r["version"] for r in results[0::2]} != {r["version"] for r in results[1::2]}
    with Registry(shared) as registry:
        versions = registry.list()
        assert sorted(v.id for v in versions) == ["triage:v1", "triage:v2"]
        for version in versions:
            assert flow_content_hash(registry.materialize(version.id)) == version.content_hash
        assert len(audit.entries(registry.database)) == 2
    assert not list((shared / "versions").glob(".staging-*"))
    assert not (alice / ".promptwise" / "registry.sqlite").exists()
    # Other machines open it over a network file system, where WAL does not work: a rollback journal.
    import sqlite3

    with sqlite3.connect(shared / "registry.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_team_database_that_cannot_be_reached_or_refuses_says_which_setting_without_the_password(
        workspace, cluster, monkeypatch, capsys):
    from promptwise.cli import main

    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + SETTING)
    wrong = "not-the-password-9f3a"
    closed = cluster.url(password=wrong).replace(f":{cluster.port}/", f":{_closed_port()}/")
    for url in (closed, cluster.url(password=wrong)):
        monkeypatch.setenv(ENV, url)
        for command in (["package", "triage"], ["versions", "list"], ["audit"], ["rollout", "status", "triage"]):
            capsys.readouterr()
            assert main(command) != 0
            out, err = capsys.readouterr()
            assert "registry.url" in err and f"{settings}:4" in err, err
            assert wrong not in out + err and "Traceback" not in err
    monkeypatch.delenv(ENV)
    assert main(["package", "triage"]) != 0
    err = capsys.readouterr().err
    assert ENV in err and "not set" in err


@pytest.mark.parametrize("setting, expected", [
    ("registry: {url: 'postgresql://team:s3cret-pass@db.internal/registry'}\n", "literal password"),
    ("registry: {url: 'postgresql://db.internal/registry?password=s3cret-pass'}\n", "literal password"),
    ("registry: {url: 'mysql://db.internal/registry'}\n", "postgresql://"),
    ("registry: {url: '${env:PROMPTWISE_REGISTRY_URL}', path: shared}\n", "both `path` and `url`"),
    ("registry: {database: x}\n", "unknown `registry` setting database"),
    ("registry: 5\n", "`registry` must be a mapping"),
    ("registry: {path: 5}\n", "must be a folder path"),
])
def test_bad_registry_settings_are_refused_before_anything_is_written(workspace, monkeypatch, setting, expected):
    monkeypatch.setenv(ENV, "postgresql://127.0.0.1:1/none")
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + setting)
    with pytest.raises(DeployError, match=expected) as caught:
        _package(workspace)
    assert "s3cret-pass" not in str(caught.value)
    assert not (workspace / ".promptwise" / "registry.sqlite").exists()


def test_without_psycopg_the_team_database_names_the_teamdb_extra(workspace, monkeypatch):
    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "psycopg" or name.startswith("psycopg."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    for module in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])
    monkeypatch.setenv(ENV, "postgresql://127.0.0.1:1/none")
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + SETTING)
    with pytest.raises(DeployError, match=r"pip install 'promptwise\[teamdb\]'"):
        _package(workspace)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe is: nothing listens there


def _served_by_bob(workspace: Path, tmp_path_factory, set_by: str | None):
    """(alice, bob, server): alice packages triage:v1 and v2, `set_by` sets v1=100 (None: no
    rollout yet), and bob starts `promptwise serve` (stop it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
    from serving_process import ServeProcess

    alice, bob = _teammates(workspace, tmp_path_factory)
    _package(alice)
    (alice / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    _package(alice)
    if set_by is not None:
        done = _cli("rollout", "set", "triage", "triage:v1=100", cwd={"alice": alice, "bob": bob}[set_by])
        assert done.returncode == 0, done.stderr
    return alice, bob, ServeProcess(bob / "triage")


def _version_served(server) -> str:
    import httpx

    response = httpx.post(server.url + "/score", json={"question": "What is the capital of France?"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-promptwise-version"]


def test_a_rollout_of_team_database_versions_is_served_and_shown_in_the_editor(workspace, tmp_path_factory, team_db):
    """`promptwise serve` loads each version from the database (its workers get no URL: they read
    the settings and the environment again), a new rollout is applied without a restart, and the
    Deployments view and live lens read the same registry."""
    import time

    from promptwise.lsp.monitor_lenses import deployment_state
    from promptwise.lsp.operate import deployments

    alice, bob, server = _served_by_bob(workspace, tmp_path_factory, set_by="bob")
    try:
        def served() -> str:
            return _version_served(server)

        assert served() == "triage:v1"
        done = _cli("rollout", "set", "triage", "triage:v2=100", cwd=bob)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 30
        while served() != "triage:v2":
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.3)
        assert team_db.split("@")[0].split(":")[-1] not in server.stderr()  # the password never in its log
    finally:
        server.stop()

    view = deployments(bob)
    assert view["registry"].startswith("the team database postgresql://127.0.0.1:")
    [flow] = view["flows"]
    assert [(v["version"], v["weight"]) for v in flow["versions"]] == [("triage:v2", 100), ("triage:v1", None)]
    assert deployment_state(bob / "triage")[1] == {"triage:v2": 100}


def test_an_empty_team_database_shows_no_versions_rather_than_an_error(workspace, team_db, capsys):
    from promptwise.cli import main
    from promptwise.lsp.operate import deployments

    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + SETTING)
    assert deployments(workspace)["flows"] == []
    assert main(["versions", "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_rollout_set_on_one_machine_steers_a_server_started_on_another(workspace, tmp_path_factory, team_db):
    """With a team database the rollout state (weights, history, declaration) lives there, not in
    `.promptwise/rollouts/`: alice's `rollout set` and bob's `rollout rollback` both reach the server
    bob started, as does an edit of bob's `rollout:` declaration; the state rows are append-only."""
    import time

    alice, bob, server = _served_by_bob(workspace, tmp_path_factory, set_by="alice")  # alice's rollout is the team's
    try:
        def served() -> str:
            return _version_served(server)

        def until(condition, what: str) -> None:
            deadline = time.monotonic() + 30
            while not condition():
                assert time.monotonic() < deadline, f"bob's server did not {what}:\n{server.stderr()}"
                time.sleep(0.2)

        assert {served() for _ in range(5)} == {"triage:v1"}
        done = _cli("rollout", "set", "triage", "triage:v1=50", "triage:v2=50", cwd=alice)
        assert done.returncode == 0, done.stderr
        until(lambda: "triage:v2" in {served() for _ in range(10)}, "follow alice's rollout set")
        done = _cli("rollout", "rollback", "triage", cwd=bob)
        assert done.returncode == 0, done.stderr
        until(lambda: {served() for _ in range(10)} == {"triage:v1"}, "follow bob's rollback")

        settings = bob / "promptwise.yaml"  # bob declares v2 while his server runs: applied to the team's state
        settings.write_text(settings.read_text() + "rollout:\n  triage: {weights: {v2: 100}}\n")
        until(lambda: {served() for _ in range(5)} == {"triage:v2"}, "apply bob's declaration")

        # The database drops every connection (a restart, a failover): the server keeps serving,
        # says so at most once, and follows the next change on a new connection.
        with psycopg.connect(team_db, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'promptwise' AND pid <> pg_backend_pid()")
        done = _cli("rollout", "set", "triage", "triage:v1=100", cwd=alice)
        assert done.returncode == 0, done.stderr
        until(lambda: {served() for _ in range(5)} == {"triage:v1"}, "follow a change after losing its connection")
        assert server.stderr().count("cannot check") <= 1
        assert server.process.poll() is None and "Traceback" not in server.stderr()
    finally:
        server.stop()

    shown = _cli("rollout", "status", "triage", "--format", "json", cwd=alice)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["current"] == {"weights": {"triage:v1": 100}}
    for root in (alice, bob):
        assert not (root / ".promptwise" / "rollouts" / "triage.json").exists()
    with psycopg.connect(team_db, autocommit=True) as connection:
        rows = [json.loads(data) for (data,) in connection.execute(
            "SELECT data FROM rollout_states WHERE name = 'triage' ORDER BY seq")]
        assert [row["current"]["weights"] for row in rows] == [
            {"triage:v1": 100}, {"triage:v1": 50, "triage:v2": 50}, {"triage:v1": 100}, {"triage:v2": 100},
            {"triage:v1": 100}]
        assert rows[-1]["declared"]["source"] == str(bob / "promptwise.yaml")  # kept: a later set is no edit
        actions = [action for (action,) in connection.execute(
            "SELECT action FROM audit WHERE action IN ('rollout', 'rollback') ORDER BY seq")]
        assert actions == ["rollout", "rollout", "rollback", "rollout", "rollout"]
        for statement in ("UPDATE rollout_states SET data = '{}'", "DELETE FROM rollout_states",
                          "TRUNCATE rollout_states"):
            with pytest.raises(psycopg.errors.RaiseException):
                connection.execute(statement)


def test_a_server_started_before_any_rollout_follows_the_first_one_set_on_another_machine(
        workspace, tmp_path_factory, team_db):
    import time

    alice, bob, server = _served_by_bob(workspace, tmp_path_factory, set_by=None)
    try:
        assert _version_served(server).startswith("sha256:")  # bob's working copy
        done = _cli("rollout", "set", "triage", "triage:v2=100", cwd=alice)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 30
        while _version_served(server) != "triage:v2":
            assert time.monotonic() < deadline, f"bob's server ignored the team's first rollout:\n{server.stderr()}"
            time.sleep(0.2)
    finally:
        server.stop()
