"""The azureml target: the rendered endpoint and deployment YAML loaded (validated) with
azure-ai-ml's own loaders, and bad input refused before anything is called.

Not tested: apply through MLClient (it talks to Azure Resource Manager; no local stand-in was
built). azure-ai-ml is not in the `test` extra (its azure-monitor-opentelemetry pins clash with
the locked OpenTelemetry SDK), so the loader tests run only where `promptwise[azureml]` is
installed; the refusal tests run everywhere."""

from __future__ import annotations

import json

import pytest
import yaml

from promptwise.cli import main


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _settings(workspace, azureml: dict, extra: str = "") -> None:
    path = workspace / "promptwise.yaml"
    text = path.read_text().split("deploy:")[0]
    path.write_text(text + "deploy:\n" + extra + "  azureml: " + json.dumps(azureml) + "\n")


def _new_version(workspace) -> None:
    template = workspace / "triage" / "chat.jinja2"
    template.write_text(template.read_text() + "Be brief.\n")


def test_rendered_yaml_loads_with_azure_ai_ml_loaders(workspace, capsys):
    ml = pytest.importorskip("azure.ai.ml", reason="needs promptwise[azureml]")
    _settings(workspace, {"location": "westeurope", "registry": "acme.azurecr.io"},
              extra="  allowed_regions: [westeurope, northeurope]\n")
    assert cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "v1"))[0] == 0
    _new_version(workspace)
    _settings(workspace, {"location": "westeurope", "registry": "acme.azurecr.io",
                          "traffic": {"triage:v1": 90, "triage:v2": 10}, "mirror": "triage:v2", "mirror_percent": 20})
    out = workspace / "v2"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["deployment-pw-v2.yml", "endpoint.yml"]
    endpoint = ml.load_online_endpoint(source=out / "endpoint.yml")
    assert endpoint.name == "triage" and endpoint.auth_mode == "aad_token"
    assert endpoint.traffic == {"pw-v1": 90, "pw-v2": 10} and endpoint.mirror_traffic == {"pw-v2": 20}
    deployment = ml.load_online_deployment(source=out / "deployment-pw-v2.yml")
    assert deployment.name == "pw-v2" and deployment.endpoint_name == "triage"
    assert deployment.environment.image == "acme.azurecr.io/triage:v2"
    config = deployment.environment.inference_config
    assert (config.liveness_route.path, config.readiness_route.path, config.scoring_route.path) == (
        "/health", "/ready", "/score")
    assert deployment.instance_count == 1
    assert deployment.environment_variables == {"PROMPTWISE_VERSION": "triage:v2"}  # no key in clear


def test_the_loaders_refuse_a_broken_deployment(workspace, capsys):
    """The validation the test above relies on can fail."""
    ml = pytest.importorskip("azure.ai.ml", reason="needs promptwise[azureml]")
    from marshmallow.exceptions import ValidationError as SchemaError

    _settings(workspace, {})
    out = workspace / "out"
    assert cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))[0] == 0
    path = out / "deployment-pw-v1.yml"
    broken = yaml.safe_load(path.read_text())
    broken["instance_count"] = "many"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises((SchemaError, Exception)) as caught:
        ml.load_online_deployment(source=path)
    assert "instance_count" in str(caught.value)


@pytest.mark.parametrize("azureml, expected", [
    ({"traffic": {"triage:v1": 70}}, "add up to 70, not 100"),
    ({"traffic": {"triage:v0": 100}}, "does not name triage:v1"),
    ({"mirror": "nosuch"}, "is not a version of triage"),
    ({"instance_count": 0}, "instance_count"),
    ({"subscription": "x"}, "unknown setting subscription"),
])
def test_bad_settings_are_refused_before_anything_is_written(workspace, capsys, azureml, expected):
    _settings(workspace, azureml)
    out = workspace / "out"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))
    assert code == 2 and expected in err, err
    assert not out.exists()


def test_region_version_workspace_and_extra_are_checked_before_any_call(workspace, capsys, monkeypatch):
    _settings(workspace, {"location": "eastus"}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "region 'eastus' is not allowed" in err
    _settings(workspace, {}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "does not name its region" in err
    code, _, err = cli(capsys, "deploy", "--version", "triage:v5", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "no version 'triage:v5'" in err
    assert not (workspace / "o").exists()
    _settings(workspace, {"location": "westeurope"}, extra="  allowed_regions: [westeurope]\n")
    from promptwise.deploy.targets.base import _importable

    if _importable("azure.ai.ml"):
        code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml")
        assert code == 2 and "needs subscription_id, resource_group, workspace" in err
    code, out, _ = cli(capsys, "audit", "--format", "json")
    assert {e["outcome"] for e in json.loads(out) if e["action"] == "deploy"} == {"refused"}
    monkeypatch.setattr("promptwise.deploy.targets.azureml.AzureMLTarget.modules", ("promptwise_no_such_sdk",))
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml")
    assert code == 2 and "pip install 'promptwise[azureml]'" in err
