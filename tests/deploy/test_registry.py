"""The registry: immutable numbered versions with snapshots, governance before packaging, the
append-only audit log, and the registry in a shared folder by setting."""

from __future__ import annotations

import os
import sqlite3

import pytest

from promptwise.deploy import audit
from promptwise.deploy.errors import DeployError
from promptwise.deploy.governance import check_region
from promptwise.deploy.registry import Registry
from promptwise.deploy.service import open_context, package
from promptwise.documents.content_hash import flow_content_hash


def _package(root, flow="triage", name=None):
    context = open_context(root / flow)
    try:
        return package(context, root / flow, name)
    finally:
        context.close()


def test_versions_are_numbered_per_name_and_unchanged_content_returns_the_existing_version(workspace):
    first, created = _package(workspace)
    assert (first.id, first.number, created) == ("triage:v1", 1, True)
    assert first.content_hash == flow_content_hash(workspace / "triage")
    again, created = _package(workspace)
    assert (again.id, created) == ("triage:v1", False)
    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    second, created = _package(workspace)
    assert (second.id, created) == ("triage:v2", True)
    other, _ = _package(workspace, name="triage-eu")
    assert other.id == "triage-eu:v1"
    # Documentation and data are not behaviour: neither hashed nor snapshotted; settings are.
    assert sorted(first.files) == ["promptwise.yaml", "triage/chat.jinja2", "triage/flow.dag.yaml",
                                   "triage/measure.py"]


def test_a_snapshot_outlives_edits_and_a_tampered_snapshot_is_refused(workspace):
    version, _ = _package(workspace)
    (workspace / "triage" / "chat.jinja2").write_text("system:\nSomething else.\n")
    with Registry(workspace / ".promptwise") as registry:
        flow = registry.materialize("triage:v1")
        assert flow == version.snapshot / "triage"
        assert (flow / "chat.jinja2").read_text() == "system:\nAnswer briefly.\nuser:\n{{question}}\n"
        assert flow_content_hash(flow) == version.content_hash
        template = flow / "chat.jinja2"
        assert not os.access(template, os.W_OK) or os.geteuid() == 0  # written read-only (root ignores modes)
        template.chmod(0o644)
        template.write_text("system:\nTampered.\n")
        with pytest.raises(DeployError, match="modified after packaging"):
            registry.materialize("triage:v1")


def test_versions_and_the_audit_log_refuse_update_and_delete(workspace):
    _package(workspace)
    with Registry(workspace / ".promptwise") as registry:
        db = registry.database
        for statement in ("UPDATE versions SET content_hash='x'", "DELETE FROM versions",
                          "UPDATE audit SET who='someone else'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError):
                db.execute(statement)
        entries = audit.entries(db)
    assert [(e.action, e.to_version, e.outcome) for e in entries] == [("package", "triage:v1", "ok")]
    assert entries[0].who


def test_version_lookup_by_id_name_and_hash_prefix_and_did_you_mean(workspace):
    version, _ = _package(workspace)
    with Registry(workspace / ".promptwise") as registry:
        assert registry.get("triage").id == "triage:v1"
        assert registry.get("triage:latest").id == "triage:v1"
        assert registry.get(version.content_hash[:15]).id == "triage:v1"
        with pytest.raises(DeployError, match="did you mean triage:v1"):
            registry.get("triag:v1")
        with pytest.raises(DeployError, match="no version 'triage:v9'"):
            registry.get("triage:v9")


def test_packaging_refuses_a_literal_secret_and_a_check_error_and_audits_the_refusal(workspace):
    tool = workspace / "triage" / "measure.py"
    tool.write_text(tool.read_text() + '\nAPI_KEY = "sk-proj-' + "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5" + '"\n')
    with pytest.raises(DeployError) as refused:
        _package(workspace)
    assert "literal secret" in str(refused.value) and "measure.py:7" in str(refused.value)
    assert "sk-proj" not in str(refused.value)
    tool.write_text(tool.read_text().split("\nAPI_KEY")[0] + "\n")
    flow = workspace / "triage" / "flow.dag.yaml"
    flow.write_text(flow.read_text().replace('answer: {type: string, reference: "${chat.output}"}',
                                            'answer: {type: string, reference: "${nosuch.output}"}'))
    with pytest.raises(DeployError, match="check` finds errors") as failing:
        _package(workspace)
    assert "flow.dag.yaml:" in str(failing.value)
    with Registry(workspace / ".promptwise") as registry:
        assert registry.list() == []
        assert [e.outcome for e in audit.entries(registry.database)] == ["refused", "refused"]


def test_a_registry_in_a_shared_folder_by_setting_and_files_outside_the_workspace_refused(workspace, tmp_path_factory):
    shared = tmp_path_factory.mktemp("team-registry")
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + f"registry: {{path: '{shared}'}}\n")
    version, _ = _package(workspace)
    assert (shared / "registry.sqlite").is_file()
    assert version.snapshot.parent.parent == shared / "versions"
    assert not (workspace / ".promptwise" / "registry.sqlite").exists()
    # A bad name is refused before anything is written.
    with pytest.raises(DeployError, match="lowercase"):
        _package(workspace, name="Bad Name!")


def test_region_allow_list():
    policy = {"allowed_regions": ["westeurope", "northeurope"]}
    check_region("azureml", "WestEurope", policy, "promptwise.yaml")
    check_region("azureml", "eastus", {}, "promptwise.yaml")  # no policy: any region
    with pytest.raises(DeployError, match="'eastus' is not allowed"):
        check_region("azureml", "eastus", policy, "promptwise.yaml")
    with pytest.raises(DeployError, match="does not name its region"):
        check_region("kubernetes", None, policy, "promptwise.yaml")
    with pytest.raises(DeployError, match="must be a list"):
        check_region("azureml", "eastus", {"allowed_regions": "westeurope"}, "promptwise.yaml")


def test_two_processes_packaging_the_same_content_get_one_version(workspace):
    import json
    import subprocess
    import sys

    processes = [subprocess.Popen([sys.executable, "-m", "promptwise", "package", "triage", "--format", "json"],
                                  cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert {r["version"] for r in results} == {"triage:v1"}
    assert sorted(r["created"] for r in results) == [False, False, True]
    with Registry(workspace / ".promptwise") as registry:
        assert [v.id for v in registry.list()] == ["triage:v1"]
    assert not list((workspace / ".promptwise" / "versions").glob(".staging-*"))


def test_a_prompty_and_a_flow_with_additional_includes_snapshot_as_laid_out_in_the_workspace(workspace):
    import textwrap

    for name, text in {
        "prompts/answer.prompty": """
            ---
            name: answer
            model:
              api: chat
              configuration: {type: openai, connection: local}
            inputs:
              question: {type: string}
            sample: ${file:sample.json}
            ---
            system:
            Answer briefly.
            user:
            {{question}}
        """,
        "prompts/sample.json": '{"question": "What is the capital of France?"}\n',
        "shared/helpers.py": "def shout(text):\n    return text.upper()\n",
    }.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(textwrap.dedent(text).lstrip("\n"))
    flow = workspace / "triage" / "flow.dag.yaml"
    flow.write_text(flow.read_text() + "additional_includes:\n- ../shared/helpers.py\n")
    prompty, _ = _package(workspace, flow="prompts/answer.prompty")
    assert prompty.id == "answer:v1" and prompty.flow == "prompts/answer.prompty"
    assert "prompts/sample.json" in prompty.files
    included, _ = _package(workspace)
    assert "shared/helpers.py" in included.files
    with Registry(workspace / ".promptwise") as registry:
        for version in (prompty, included):
            path = registry.materialize(version.id)
            assert flow_content_hash(path) == version.content_hash
        assert registry.materialize("answer:v1").name == "answer.prompty"


def test_version_slugs_are_dns_labels_that_keep_the_number():
    from pathlib import Path

    from promptwise.deploy.targets.base import VersionRef

    assert VersionRef("log_triage.eu:v7", "log_triage.eu", 7, "sha256:x", Path("."), "f").slug == "log-triage-eu-v7"
    long = VersionRef("a" * 63 + ":v12", "a" * 63, 12, "sha256:x", Path("."), "f").slug
    assert len(long) == 63 and long.endswith("-v12")
