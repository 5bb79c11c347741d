"""package / versions / deploy / audit through the CLI: JSON ids, evidence from runs and
evaluations of the same content, diffs with metric deltas, and bad input refused before anything
changes."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from promptwise.cli import main
from promptwise.deploy.targets import TARGETS
from promptwise.deploy.targets.base import Artefacts, Target
from promptwise.engine.batch import run_batch
from promptwise.evaluation.results_store import EvalStore


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _evaluate(workspace, run_name, category_match, cost_per_row, p95_ms):
    """A batch of the flow as it is now, and a stored evaluation of it."""
    asyncio.run(run_batch(workspace / "triage", workspace / "triage" / "data.jsonl", name=run_name))
    result = SimpleNamespace(evaluators=[], rows=[], metrics={"category_match": {"mean": category_match}},
                             summary={"rows": 2, "cost_per_row": cost_per_row, "latency_p95_ms": p95_ms})
    with EvalStore(workspace / ".promptwise") as store:
        store.save(run_name, result, flow=str(workspace / "triage"), config=None, data=None)


def test_package_json_versions_show_and_diff_carry_the_evidence(workspace, capsys):
    code, out, _ = cli(capsys, "package", "triage", "--format", "json")
    assert code == 0 and json.loads(out)["version"] == "triage:v1" and json.loads(out)["created"] is True
    _evaluate(workspace, "first", 0.91, 0.0004, 1100.0)
    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    code, out, _ = cli(capsys, "package", "triage", "--format", "json")
    assert json.loads(out)["version"] == "triage:v2"
    _evaluate(workspace, "second", 0.97, 0.0003, 900.0)

    code, out, _ = cli(capsys, "versions", "show", "triage:v1")
    assert code == 0
    assert out.splitlines()[0].startswith("triage v1 (")
    assert "evaluated by run first, category_match 0.91, $0.00040/row, p95 1.1 s" in out.splitlines()[0]
    code, out, _ = cli(capsys, "versions", "show", "triage:v2", "--format", "json")
    shown = json.loads(out)
    assert [e["run"] for e in shown["evidence"]["evaluations"]] == ["second"]
    assert [r["run"] for r in shown["evidence"]["runs"]] == ["second"]

    code, out, _ = cli(capsys, "versions", "list")
    assert code == 0 and out.index("triage:v2") < out.index("triage:v1")

    code, out, _ = cli(capsys, "versions", "diff", "triage:v1", "triage:v2")
    assert code == 0
    assert "--- triage:v1/triage/chat.jinja2" in out and "+++ triage:v2/triage/chat.jinja2" in out
    assert "-Answer briefly." in out and "+Answer in one word." in out
    assert "flow.dag.yaml" not in out  # unchanged files are not listed
    code, out, _ = cli(capsys, "versions", "diff", "triage:v1", "triage:v2", "--format", "json")
    metrics = json.loads(out)["metrics"]
    assert metrics["category_match"]["delta"] == pytest.approx(0.06)
    assert metrics["latency_p95_ms"]["delta"] == pytest.approx(-200.0)

    code, out, _ = cli(capsys, "audit", "--format", "json")
    entries = json.loads(out)
    assert [(e["action"], e["from_version"], e["to_version"]) for e in entries] == [
        ("package", None, "triage:v1"), ("package", "triage:v1", "triage:v2")]


def test_bad_input_is_one_clear_error_before_anything_changes(workspace, capsys, monkeypatch):
    out_dir = workspace / "context"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "dokcer", "--out", str(out_dir))
    assert code == 2 and "unknown target 'dokcer'" in err and "did you mean 'docker'" in err
    code, _, err = cli(capsys, "deploy", "triage", "--target", "docker", "--version", "triage:v7", "--out", str(out_dir))
    assert code == 2 and "no version 'triage:v7'" in err
    code, _, err = cli(capsys, "versions", "show", "nosuch:v1")
    assert code == 2 and "no version 'nosuch:v1'" in err
    assert not out_dir.exists()
    # A target whose SDK is missing names the pip install, before packaging or rendering.
    monkeypatch.setattr("promptwise.deploy.targets.docker.DockerTarget.modules", ("promptwise_no_such_sdk",))
    code, _, err = cli(capsys, "deploy", "triage", "--target", "docker")
    assert code == 2 and "pip install 'promptwise[docker]'" in err and "promptwise_no_such_sdk" in err
    code, out, _ = cli(capsys, "versions", "list", "--format", "json")
    assert json.loads(out) == []  # nothing was packaged by the refused deploys


def test_docker_without_an_engine_says_so_and_leaves_the_audit_trail(workspace, capsys, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-path")))  # neither docker nor podman
    code, _, err = cli(capsys, "deploy", "triage", "--target", "docker")
    assert code == 2 and "neither docker nor podman is installed" in err and "--out DIR" in err
    code, out, _ = cli(capsys, "audit", "--format", "json")
    entries = json.loads(out)
    assert [(e["action"], e["outcome"], e["target"]) for e in entries] == [
        ("package", "ok", None), ("deploy", "refused", "docker")]
    assert entries[1]["to_version"] == "triage:v1" and "docker nor podman" in entries[1]["details"]["reason"]


class _CloudStandIn(Target):
    """A cloud target that records whether it was ever asked to render or apply."""

    name = "standin"
    cloud = True
    calls: list[str] = []

    def region(self, settings):
        return settings.get("region")

    def render(self, request):
        self.calls.append("render")
        return Artefacts({"x.yaml": "kind: x\n"})

    def apply(self, request, artefacts, progress):
        self.calls.append("apply")
        raise AssertionError("never reached")


def test_a_region_outside_the_allow_list_is_refused_before_the_target_is_called(workspace, capsys, monkeypatch):
    monkeypatch.setitem(TARGETS, "standin", f"{__name__}:_CloudStandIn")
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + "deploy:\n  allowed_regions: [westeurope]\n  standin: {region: eastus}\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "standin")
    assert code == 2 and "region 'eastus' is not allowed" in err
    assert _CloudStandIn.calls == []
    code, out, _ = cli(capsys, "audit", "--format", "json")
    assert [(e["action"], e["outcome"]) for e in json.loads(out)][-1] == ("deploy", "refused")


def _fake_wheel(folder):
    """A wheel whose metadata asks for what the served app needs (deploy.docker.wheel)."""
    import zipfile

    wheel = folder / "promptwise-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("promptwise-0.1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: promptwise\nVersion: 0.1.0\nRequires-Dist: openai>=1.60\n"
                         "Requires-Dist: uvicorn>=0.30; extra == \"serve\"\n"
                         "Requires-Dist: sacrebleu>=2.4; extra == \"metrics\"\n")
    return wheel


def test_deploying_an_older_version_is_audited_as_a_rollback(workspace, capsys, tmp_path_factory):
    wheel = _fake_wheel(tmp_path_factory.mktemp("wheel"))
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + f"deploy:\n  docker: {{wheel: '{wheel}', image: triage-eu}}\n")
    assert cli(capsys, "deploy", "triage", "--target", "docker", "--out", str(workspace / "one"))[0] == 0
    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    assert cli(capsys, "deploy", "triage", "--target", "docker", "--out", str(workspace / "two"))[0] == 0
    code, out, _ = cli(capsys, "deploy", "triage", "--target", "docker", "--version", "v1", "--out",
                       str(workspace / "three"), "--format", "json")
    assert code == 0 and json.loads(out)["version"] == "triage:v1"
    pins = (workspace / "one" / "requirements.txt").read_text()
    assert "uvicorn==" in pins and "openai==" in pins and "sacrebleu" not in pins
    assert (workspace / "three" / "app" / "triage" / "chat.jinja2").read_text().startswith("system:\nAnswer briefly.")
    code, out, _ = cli(capsys, "audit", "--format", "json", "--name", "triage")
    steps = [(e["action"], e["from_version"], e["to_version"], e["outcome"]) for e in json.loads(out)]
    assert steps == [("package", None, "triage:v1", "ok"), ("deploy", None, "triage:v1", "written"),
                     ("package", "triage:v1", "triage:v2", "ok"), ("deploy", None, "triage:v2", "written")] + [
                     ("deploy", None, "triage:v1", "written")]
    code, out, _ = cli(capsys, "audit")
    assert code == 0 and "deploy on docker triage:v1  [written]" in out


class _AppliedStandIn(Target):
    """A local target whose apply succeeds, so deployments count (and can be rolled back)."""

    name = "applied"

    def render(self, request):
        return Artefacts({"version.txt": request.version.id})

    def apply(self, request, artefacts, progress):
        from promptwise.deploy.targets.base import Outcome

        return Outcome(self.name, request.version.id, f"applied {request.version.id}", {"weight": request.weight})


def test_an_applied_older_version_is_a_rollback_from_the_one_before(workspace, capsys, monkeypatch):
    monkeypatch.setitem(TARGETS, "applied", f"{__name__}:_AppliedStandIn")
    assert cli(capsys, "deploy", "triage", "--target", "applied")[0] == 0
    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    assert cli(capsys, "deploy", "triage", "--target", "applied")[0] == 0
    code, out, _ = cli(capsys, "deploy", "triage", "--target", "applied", "--version", "triage:v1", "--format", "json")
    assert code == 0 and json.loads(out)["action"] == "rollback"
    code, out, _ = cli(capsys, "audit", "--format", "json")
    deploys = [(e["action"], e["from_version"], e["to_version"]) for e in json.loads(out) if e["target"] == "applied"]
    assert deploys == [("deploy", None, "triage:v1"), ("deploy", "triage:v1", "triage:v2"),
                       ("rollback", "triage:v2", "triage:v1")]


def test_audit_before_anything_was_packaged(workspace, capsys):
    code, out, _ = cli(capsys, "audit", "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_versions_list_before_anything_was_packaged_is_empty_and_show_says_what_to_do(workspace, capsys):
    code, out, _ = cli(capsys, "versions", "list", "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = cli(capsys, "versions", "show", "triage:v1")
    assert code == 2 and "promptwise package FLOW" in err


STAND_IN_ENGINE = """#!{python}
# A stand-in for the docker CLI (there is no container engine here): records each call and the
# build context it was given; `push` fails when PUSH_FAILS is set.
import json, os, sys
from pathlib import Path
log = Path(os.environ["ENGINE_LOG"])
entry = {{"args": sys.argv[1:]}}
if sys.argv[1:2] == ["build"]:
    entry["files"] = sorted(p.relative_to(sys.argv[-1]).as_posix() for p in Path(sys.argv[-1]).rglob("*") if p.is_file())
with log.open("a") as f:
    f.write(json.dumps(entry) + "\\n")
if sys.argv[1:2] == ["push"] and os.environ.get("PUSH_FAILS"):
    print("denied: requested access to the resource is denied (token=ghp_" + "Zq8Lm2Xv9Rt4Kp7Wn3Hs6Bd1Fy5Gc0Ju8Ea2" + ")",
          file=sys.stderr)
    sys.exit(1)
"""


def _stand_in_engine(monkeypatch, tmp_path_factory):
    """The stand-in docker CLI alone on PATH; returns the file its calls are logged to."""
    import sys

    bin_dir = tmp_path_factory.mktemp("bin")
    engine = bin_dir / "docker"
    engine.write_text(STAND_IN_ENGINE.format(python=sys.executable))
    engine.chmod(0o755)
    log = bin_dir / "calls.jsonl"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("ENGINE_LOG", str(log))
    return log


def test_docker_apply_builds_tags_and_pushes_and_a_failed_push_is_audited(workspace, capsys, monkeypatch,
                                                                           tmp_path_factory):
    log = _stand_in_engine(monkeypatch, tmp_path_factory)
    wheel = _fake_wheel(tmp_path_factory.mktemp("wheel"))
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + f"deploy:\n  docker: {{wheel: '{wheel}', registry: ghcr.io/acme}}\n")
    code, out, _ = cli(capsys, "deploy", "triage", "--target", "docker", "--format", "json")
    assert code == 0 and json.loads(out)["image"] == "ghcr.io/acme/triage:v1" and json.loads(out)["pushed"] is True
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["args"][0] for c in calls] == ["info", "build", "push"]
    assert calls[1]["args"][:3] == ["build", "--tag", "ghcr.io/acme/triage:v1"]
    assert {"Dockerfile", "requirements.txt", "app/VERSION.json", "app/triage/flow.dag.yaml"} <= set(calls[1]["files"])
    assert calls[2]["args"] == ["push", "ghcr.io/acme/triage:v1"]

    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in one word.\nuser:\n{{question}}\n")
    monkeypatch.setenv("PUSH_FAILS", "1")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "docker")
    assert code == 2 and "docker push failed" in err and "requested access" in err and "Zq8Lm2Xv9Rt4" not in err
    code, out, _ = cli(capsys, "audit", "--format", "json")
    deploys = [(e["from_version"], e["to_version"], e["outcome"]) for e in json.loads(out) if e["action"] == "deploy"]
    assert deploys == [(None, "triage:v1", "ok"), ("triage:v1", "triage:v2", "failed")]


def test_docker_image_flag_names_the_tag_and_pushes_only_to_a_registry_and_weight_is_refused(
        workspace, capsys, monkeypatch, tmp_path_factory):
    log = _stand_in_engine(monkeypatch, tmp_path_factory)
    settings = workspace / "promptwise.yaml"
    settings.write_text(settings.read_text() + f"deploy:\n  docker: {{wheel: '{_fake_wheel(tmp_path_factory.mktemp('w'))}'}}\n")
    code, out, err = cli(capsys, "deploy", "triage", "--target", "docker", "--image", "triage-bot:dev", "--format", "json")
    assert code == 0, err
    assert (json.loads(out)["image"], json.loads(out)["pushed"]) == ("triage-bot:dev", False)  # no registry: kept local
    code, out, err = cli(capsys, "deploy", "triage", "--target", "docker", "--image", "localhost:5000/triage-bot",
                         "--format", "json")
    assert code == 0, err
    assert (json.loads(out)["image"], json.loads(out)["pushed"]) == ("localhost:5000/triage-bot:v1", True)
    calls = [json.loads(line)["args"] for line in log.read_text().splitlines()]
    assert [c[:3] for c in calls if c[0] != "info"] == [
        ["build", "--tag", "triage-bot:dev"], ["build", "--tag", "localhost:5000/triage-bot:v1"],
        ["push", "localhost:5000/triage-bot:v1"]]
    log.unlink()
    code, _, err = cli(capsys, "deploy", "triage", "--target", "docker", "--weight", "10")
    assert code == 2 and "splits no traffic" in err and not log.exists()


def test_a_flow_folder_that_is_the_workspace_keeps_its_registry_and_runs_out_of_its_versions(
        tmp_path, capsys, monkeypatch):
    """The flow sits at the workspace's root, so .promptwise/ (registry, snapshots, run store) is
    inside the flow folder: packaging leaves it out of the hash and the snapshot (else each version
    would copy the ones before it and every run would make a new version), the docker context
    too; a registry.path inside the flow folder that is not hidden is refused."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o-mini}\n")
    (tmp_path / "flow.dag.yaml").write_text(
        "inputs:\n  text: {type: string, default: hello}\noutputs:\n  n: {type: int, reference: '${measure.output}'}\n"
        "nodes:\n- name: measure\n  type: python\n  source: {type: code, path: measure.py}\n"
        "  inputs: {text: '${inputs.text}'}\n")
    (tmp_path / "measure.py").write_text(
        "from promptflow.core import tool\n\n\n@tool\ndef measure(text: str) -> int:\n    return len(text)\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "package", ".", "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    assert first["files"] == ["flow.dag.yaml", "measure.py", "promptwise.yaml"]
    assert (tmp_path / ".promptwise" / "registry.sqlite").is_file()
    assert cli(capsys, "run", ".")[0] == 0  # the run store and traces land in .promptwise/ too
    code, out, err = cli(capsys, "package", ".", "--format", "json")
    assert code == 0, err
    assert (json.loads(out)["version"], json.loads(out)["created"]) == (first["version"], False)
    snapshot = tmp_path / ".promptwise" / "versions" / first["name"] / "v1"
    assert sorted(p.name for p in snapshot.iterdir()) == ["flow.dag.yaml", "measure.py", "promptwise.yaml"]
    context = tmp_path / "context"
    code, _, err = cli(capsys, "deploy", "--version", first["version"], "--target", "docker", "--out", str(context))
    assert code == 0, err
    assert sorted(p.relative_to(context / "app").as_posix() for p in (context / "app").rglob("*")) == [
        "VERSION.json", "flow.dag.yaml", "measure.py", "promptwise.yaml"]
    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o-mini}\nregistry: {path: registry}\n")
    code, _, err = cli(capsys, "package", ".")
    assert code == 2 and "is inside the flow folder" in err and "set registry.path outside the flow" in err
    assert not (tmp_path / "registry").exists()
