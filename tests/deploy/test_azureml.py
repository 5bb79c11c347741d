"""The azureml target: the rendered endpoint and deployment YAML loaded (validated) with
azure-ai-ml's own loaders; the push path run through the real SDKs -- DefaultAzureCredential
(its managed-identity credential) and MLClient's online endpoint / deployment operations with
their long-running operations -- against a stand-in of Azure Resource Manager on 127.0.0.1
(arm_standin.py); and bad input refused before anything is called or changed."""

from __future__ import annotations

import json

import pytest
import yaml

from promptwise.cli import main

KEY_REF = "keyvault:https://acme-kv.vault.azure.net/secrets/promptwise-api-key"
CONNECTION_REF = "azureml://connections/promptwise/credentials/PROMPTWISE_API_KEY"
SECRET_IN_MESSAGE = "sk-proj-Xk29fLq8Zr0PwN7vB3mT4cY6hJ1sD5gE9aU2iO8"
WHERE = {"subscription_id": "00000000-0000-0000-0000-000000000001", "resource_group": "rg-prompts",
         "workspace": "ws-eu", "location": "westeurope", "api_key_ref": KEY_REF}


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


# ----- the YAML, validated by azure-ai-ml's loaders -----

def test_rendered_yaml_loads_with_azure_ai_ml_loaders(workspace, capsys):
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    _settings(workspace, {"location": "westeurope", "registry": "acme.azurecr.io", "api_key_ref": KEY_REF},
              extra="  allowed_regions: [westeurope, northeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "v1"))
    assert code == 0, err
    _new_version(workspace)
    _settings(workspace, {"location": "westeurope", "registry": "acme.azurecr.io", "api_key_ref": KEY_REF,
                          "traffic": {"triage:v1": 90, "triage:v2": 10}, "mirror": "triage:v2", "mirror_percent": 20})
    out = workspace / "v2"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["deployment-pw-v2.yml", "endpoint.yml"]
    endpoint = load_online_endpoint(source=out / "endpoint.yml")
    assert endpoint.name == "triage" and endpoint.auth_mode == "aad_token"
    assert endpoint.identity.type == "system_assigned"
    assert endpoint.traffic == {"pw-v1": 90, "pw-v2": 10} and endpoint.mirror_traffic == {"pw-v2": 20}
    deployment = load_online_deployment(source=out / "deployment-pw-v2.yml")
    assert deployment.name == "pw-v2" and deployment.endpoint_name == "triage"
    assert deployment.environment.image == "acme.azurecr.io/triage:v2"
    config = deployment.environment.inference_config
    assert (config.liveness_route.path, config.readiness_route.path, config.scoring_route.path) == (
        "/health", "/ready", "/score")
    assert deployment.instance_count == 1
    # the key by reference only: Azure ML's secret injection resolves it when the container starts
    assert deployment.environment_variables == {"PROMPTWISE_VERSION": "triage:v2",
                                                "PROMPTWISE_API_KEY": "${{" + KEY_REF + "}}"}


def test_a_connection_reference_lets_the_endpoint_read_workspace_connections(workspace, capsys):
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    _settings(workspace, {"api_key_ref": CONNECTION_REF})
    out = workspace / "out"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--image", "acme.azurecr.io/triage",
                       "--out", str(out))
    assert code == 0, err
    endpoint = load_online_endpoint(source=out / "endpoint.yml")
    assert endpoint.properties == {"enforce_access_to_default_secret_stores": "enabled"}
    deployment = load_online_deployment(source=out / "deployment-pw-v1.yml")
    assert deployment.environment_variables["PROMPTWISE_API_KEY"] == "${{" + CONNECTION_REF + "}}"
    assert deployment.environment.image == "acme.azurecr.io/triage:v1"  # --image, tagged with the version


def test_the_loaders_refuse_a_broken_deployment(workspace, capsys):
    """The validation the tests above rely on can fail."""
    from azure.ai.ml import load_online_deployment
    from marshmallow import ValidationError

    _settings(workspace, {"api_key_ref": KEY_REF})
    out = workspace / "out"
    assert cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))[0] == 0
    path = out / "deployment-pw-v1.yml"
    broken = yaml.safe_load(path.read_text())
    broken["instance_count"] = "many"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(ValidationError) as caught:
        load_online_deployment(source=path)
    assert "instance_count" in str(caught.value)  # the field it names, not its wording


# ----- bad input, refused before anything is written or called -----

@pytest.mark.parametrize("azureml, expected", [
    ({"traffic": {"triage:v1": 70}, "api_key_ref": KEY_REF}, "add up to 70, not 100"),
    ({"traffic": {"triage:v0": 100}, "api_key_ref": KEY_REF}, "does not name triage:v1"),
    ({"mirror": "nosuch", "api_key_ref": KEY_REF}, "is not a version of triage"),
    ({"instance_count": 0}, "instance_count"),
    ({"subscription": "x"}, "unknown setting subscription"),
    ({}, "`deploy.azureml.api_key_ref` is not set"),
    ({"api_key_ref": "keyvault:not-a-vault"}, "is not a secret reference"),
])
def test_bad_settings_are_refused_before_anything_is_written(workspace, capsys, azureml, expected):
    _settings(workspace, azureml)
    out = workspace / "out"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(out))
    assert code == 2 and expected in err, err
    assert not out.exists()


def test_a_key_in_place_of_the_reference_is_refused_and_not_repeated(workspace, capsys, monkeypatch):
    monkeypatch.setenv("PW_TEST_KEY", SECRET_IN_MESSAGE)
    _settings(workspace, {"api_key_ref": "${env:PW_TEST_KEY}"})
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "out"))
    assert code == 2 and "is not a secret reference" in err
    assert SECRET_IN_MESSAGE not in err and "PW_TEST_KEY" not in err


@pytest.mark.parametrize("argv, expected", [
    (["--weight", "10"], "no earlier version of triage is deployed on azureml"),
    (["--image", "Acme.azurecr.io/Triage Bot"], "is not an image reference"),
])
def test_bad_flags_are_refused_before_anything_is_written(workspace, capsys, argv, expected):
    _settings(workspace, {"api_key_ref": KEY_REF})
    out = workspace / "out"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", *argv, "--out", str(out))
    assert code == 2 and expected in err, err
    assert not out.exists()


def test_region_version_workspace_and_extra_are_checked_before_any_call(workspace, capsys, monkeypatch):
    _settings(workspace, {"location": "eastus", "api_key_ref": KEY_REF}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "region 'eastus' is not allowed" in err
    _settings(workspace, {"api_key_ref": KEY_REF}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "does not name its region" in err
    code, _, err = cli(capsys, "deploy", "--version", "triage:v5", "--target", "azureml", "--out", str(workspace / "o"))
    assert code == 2 and "no version 'triage:v5'" in err
    assert not (workspace / "o").exists()
    _settings(workspace, {"location": "westeurope", "api_key_ref": KEY_REF}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml")
    assert code == 2 and "needs subscription_id, resource_group, workspace" in err
    code, out, _ = cli(capsys, "audit", "--format", "json")
    assert {e["outcome"] for e in json.loads(out) if e["action"] == "deploy"} == {"refused"}
    monkeypatch.setattr("promptwise.deploy.targets.azureml.AzureMLTarget.modules", ("promptwise_no_such_sdk",))
    code, _, err = cli(capsys, "deploy", "triage", "--target", "azureml")
    assert code == 2 and "pip install 'promptwise[azureml]'" in err


# ----- the push path: the real SDKs against a stand-in of Azure Resource Manager -----

@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    from arm_standin import ArmStandIn

    server = ArmStandIn(location="westeurope")
    server.start(tmp_path_factory.mktemp("arm"))
    yield server
    server.stop()


@pytest.fixture
def azure(arm, workspace, monkeypatch):
    """The workspace deploys to the stand-in: azure-ai-ml reads its cloud from the stand-in's
    metadata, DefaultAzureCredential gets its token from the stand-in's managed identity."""
    arm.reset()
    arm.location = "westeurope"
    arm.add_workspace(WHERE["subscription_id"], WHERE["resource_group"], WHERE["workspace"])
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                 "AZURE_TOKEN_CREDENTIALS", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARM_CLOUD_METADATA_URL", arm.url + "/metadata/endpoints")
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "PromptwiseStandIn")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm.certificate))
    monkeypatch.setenv("IDENTITY_ENDPOINT", arm.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", arm.identity_header)
    _settings(workspace, WHERE, extra="  allowed_regions: [westeurope]\n")
    return arm


def _deploy(capsys, *argv):
    return cli(capsys, "deploy", "triage", "--target", "azureml", "--format", "json", *argv)


def test_the_first_push_creates_the_endpoint_then_the_deployment_then_sends_it_traffic(azure, workspace, capsys):
    code, out, err = _deploy(capsys)
    assert code == 0, err
    assert out.lstrip().startswith("{"), (out, err)
    result = json.loads(out)  # stdout holds the JSON only: the SDK's own output goes elsewhere
    assert result["applied"] and result["traffic"] == {"pw-v1": 100} and result["location"] == "westeurope"
    assert azure.tokens_issued >= 1  # keyless: the managed identity's token, refused otherwise
    writes = azure.writes()
    assert writes[0] == ("PUT", "triage") and writes[-1] == ("PUT", "triage")
    assert ("PUT", "pw-v1") in writes and writes.index(("PUT", "pw-v1")) < len(writes) - 1
    endpoint = azure.endpoint("triage")
    assert endpoint["properties"]["traffic"] == {"pw-v1": 100}
    assert endpoint["properties"]["authMode"] == "AADToken"
    assert azure.deployments("triage") == ["pw-v1"]
    deployment = azure.resources[next(p for p in azure.resources if p.endswith("/deployments/pw-v1"))]
    assert deployment["properties"]["environmentVariables"] == {"PROMPTWISE_VERSION": "triage:v1",
                                                                "PROMPTWISE_API_KEY": "${{" + KEY_REF + "}}"}
    code, out, _ = cli(capsys, "audit", "--format", "json")
    entry = [e for e in json.loads(out) if e["action"] == "deploy"][-1]
    assert (entry["outcome"], entry["target"], entry["to_version"]) == ("ok", "azureml", "triage:v1")


def test_a_canary_with_weight_then_a_shadow_then_the_status(azure, workspace, capsys):
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    code, out, err = _deploy(capsys, "--weight", "10", "--image", "acme.azurecr.io/triage-bot")
    assert code == 0, err
    assert json.loads(out)["traffic"] == {"pw-v1": 90, "pw-v2": 10}
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v1": 90, "pw-v2": 10}
    assert azure.deployments("triage") == ["pw-v1", "pw-v2"]
    environments = [r["properties"].get("image") for r in azure.resources.values() if "/environments/" in r["id"]]
    assert "acme.azurecr.io/triage-bot:v2" in environments
    _new_version(workspace)  # v3 takes no traffic and shadows a fifth of it
    _settings(workspace, {**WHERE, "traffic": {"triage:v1": 90, "triage:v2": 10, "triage:v3": 0},
                          "mirror": "triage:v3", "mirror_percent": 20}, extra="  allowed_regions: [westeurope]\n")
    code, out, err = _deploy(capsys)
    assert code == 0, err
    properties = azure.endpoint("triage")["properties"]
    assert properties["traffic"] == {"pw-v1": 90, "pw-v2": 10} and properties["mirrorTraffic"] == {"pw-v3": 20}
    from promptwise.deploy.targets.azureml import AzureMLTarget

    status = AzureMLTarget().status("triage", WHERE)
    assert (status.state, status.versions) == ("running", {"triage:v1": 90, "triage:v2": 10})
    assert status.details["mirror_traffic"] == {"pw-v3": 20}
    assert status.details["scoring_uri"].endswith("/score")


def test_deploying_the_older_version_again_rolls_the_traffic_back_and_is_audited_so(azure, workspace, capsys):
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    assert _deploy(capsys)[0] == 0
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v2": 100}
    code, out, err = cli(capsys, "deploy", "--version", "triage:v1", "--target", "azureml", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["action"] == "rollback"
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v1": 100}
    assert azure.deployments("triage") == ["pw-v1", "pw-v2"]  # v2 stays, ready to be given traffic again
    code, out, _ = cli(capsys, "audit", "--format", "json")
    last = json.loads(out)[-1]
    assert (last["action"], last["from_version"], last["to_version"], last["outcome"]) == (
        "rollback", "triage:v2", "triage:v1", "ok")


def test_a_refused_deployment_shows_the_api_message_redacted_and_leaves_the_traffic(azure, workspace, capsys):
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    azure.refuse["pw-v2"] = (403, "AuthorizationFailed",
                             f"The client 'dev' with key {SECRET_IN_MESSAGE} may not write deployments.")
    before = len(azure.writes())
    code, _, err = _deploy(capsys, "--weight", "50")
    assert code == 2
    assert "Azure ML refused to create deployment pw-v2" in err and "AuthorizationFailed" in err
    assert SECRET_IN_MESSAGE not in err and "Traceback" not in err
    assert "traffic was left as it was" in err
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v1": 100}
    assert azure.deployments("triage") == ["pw-v1"]
    assert [w for w in azure.writes()[before:] if w[1] == "triage"] == []  # the endpoint was not touched
    code, out, _ = cli(capsys, "audit", "--format", "json")
    entry = [e for e in json.loads(out) if e["action"] == "deploy"][-1]
    assert entry["outcome"] == "failed" and SECRET_IN_MESSAGE not in json.dumps(entry)


def test_a_deployment_that_fails_to_provision_leaves_the_previous_version_serving(azure, workspace, capsys):
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    azure.fail_provisioning["pw-v2"] = "Image acme.azurecr.io/triage:v2 could not be pulled."
    code, _, err = _deploy(capsys, "--weight", "100")
    assert code == 2
    assert "Azure ML refused to create deployment pw-v2" in err and "could not be pulled" in err
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v1": 100}
    failed = azure.resources[next(p for p in azure.resources if p.endswith("/deployments/pw-v2"))]
    assert failed["properties"]["provisioningState"] == "Failed"  # there, but given no traffic


def test_a_refused_traffic_shift_leaves_the_new_deployment_idle_and_the_old_one_serving(azure, workspace, capsys):
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    azure.refuse["triage"] = (409, "Conflict", "The endpoint is being updated by another operation.")
    code, _, err = _deploy(capsys, "--weight", "20")
    assert code == 2 and "Azure ML refused to shift traffic" in err and "Conflict" in err
    assert azure.endpoint("triage")["properties"]["traffic"] == {"pw-v1": 100}
    assert azure.deployments("triage") == ["pw-v1", "pw-v2"]


def test_traffic_to_a_version_not_on_the_endpoint_and_a_workspace_elsewhere_change_nothing(azure, workspace, capsys):
    _settings(workspace, {**WHERE, "traffic": {"triage:v1": 100}, "mirror": "triage:v1"},
              extra="  allowed_regions: [westeurope]\n")
    assert _deploy(capsys)[0] == 0
    _new_version(workspace)
    _settings(workspace, {**WHERE, "traffic": {"triage:v2": 100}, "mirror": "triage:v7"},
              extra="  allowed_regions: [westeurope]\n")
    before = len(azure.writes())
    code, _, err = _deploy(capsys)
    assert code == 2 and "pw-v7" in err and "nothing was changed" in err
    assert len(azure.writes()) == before
    azure.location = "eastus"  # the workspace is not where the settings (and the allow-list) say
    azure.add_workspace(WHERE["subscription_id"], WHERE["resource_group"], WHERE["workspace"])
    _settings(workspace, WHERE, extra="  allowed_regions: [westeurope]\n")
    code, _, err = _deploy(capsys)
    assert code == 2 and "is in eastus, not in westeurope" in err
    assert len(azure.writes()) == before
    _settings(workspace, {**WHERE, "workspace": "ws-gone"}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = _deploy(capsys)
    assert code == 2 and "Azure ML refused to read the workspace" in err and "ws-gone" in err
    assert "Traceback" not in err and len(azure.writes()) == before


def test_a_token_the_api_refuses_is_an_error_line(azure, workspace, capsys):
    azure.revoked = True  # ARM turns the identity's token away
    code, _, err = _deploy(capsys)
    assert code == 2 and "Azure ML refused to read the workspace" in err and "InvalidAuthenticationToken" in err
    assert "Traceback" not in err
    assert azure.writes() == []
