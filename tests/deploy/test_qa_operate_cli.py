"""The operate lifecycle as the README tells a user, through the real `promptwise` command in a
subprocess: bugs found walking it, each pinned here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

BIN = [sys.executable, "-m", "promptwise"]


def promptwise(workspace, *argv, timeout=60):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([*BIN, *argv], cwd=workspace, capture_output=True, text=True, timeout=timeout, env=env)


def test_package_refuses_a_file_that_is_not_a_flow_and_registers_nothing(workspace):
    # Was: `package triage/chat.jinja2` packaged the folder's flow as a new version `chat:v1`, and
    # `package triage/data.jsonl` failed on a staging path the user never gave.
    for given in ("triage/chat.jinja2", "triage/data.jsonl"):
        done = promptwise(workspace, "package", given)
        assert done.returncode == 2, done.stderr
        assert f"{given}: not a flow" in done.stderr and "Traceback" not in done.stderr
        assert ".staging-" not in done.stderr
    listed = promptwise(workspace, "versions", "list", "--format", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    # The flow itself, as a folder or its file, still packages.
    done = promptwise(workspace, "package", "triage/flow.dag.yaml", "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["version"] == "triage:v1"


def test_promote_require_unquoted_by_the_shell_says_to_quote_it(workspace):
    assert promptwise(workspace, "package", "triage").returncode == 0
    assert promptwise(workspace, "rollout", "set", "triage", "v1=100").returncode == 0
    # What `--require category_match>=0.95` reaches us as from an unquoted shell line.
    done = promptwise(workspace, "rollout", "promote", "triage", "v1", "--require", "category_match")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--require 'category_match>=0.95'" in done.stderr and "redirection" in done.stderr
    # The README's (quoted) form is parsed: the gate is checked, not the syntax refused.
    done = promptwise(workspace, "rollout", "promote", "triage", "v1", "--require", "category_match>=0.95")
    assert "write METRIC>=VALUE" not in done.stderr


def test_weight_without_a_deployed_version_to_split_with_says_what_would_work(workspace):
    # Was: "deploy triage:v1 with --weight 100 (or without --weight) first" for `--version triage:v1
    # --weight 10`: deploying v1 again at 10% then fails the same way; and --out never deploys.
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + "deploy:\n  azureml: " + json.dumps({
        "subscription_id": "00000000-0000-0000-0000-000000000001", "resource_group": "rg", "workspace": "ws",
        "location": "westeurope", "api_key_ref": "keyvault:https://acme-kv.vault.azure.net/secrets/k"}) + "\n")
    assert promptwise(workspace, "package", "triage").returncode == 0
    out = workspace / "out"
    done = promptwise(workspace, "deploy", "triage", "--target", "azureml", "--version", "triage:v1",
                      "--weight", "10", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "deploy triage:v1 with --weight 100" not in done.stderr
    assert "deploy.azureml.traffic" in done.stderr and "--out writes files only" in done.stderr
    assert not out.exists()


def test_audit_of_an_unknown_name_does_not_say_the_log_is_empty(workspace):
    # Was "no audit entries yet" for `audit --name typo` while the log held entries of other names.
    assert promptwise(workspace, "package", "triage").returncode == 0
    done = promptwise(workspace, "audit", "--name", "traige")
    assert done.returncode == 0 and "no audit entries for 'traige'" in done.stdout and "yet" not in done.stdout
    assert "package triage:v1" in promptwise(workspace, "audit").stdout
