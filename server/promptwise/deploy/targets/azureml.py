"""The `azureml` target: an Azure ML managed online endpoint with one deployment per version
(blue/green), the endpoint's `traffic` split and `mirror_traffic` shadow, through azure-ai-ml's
MLClient with keyless DefaultAzureCredential.

What is rendered (`--out DIR`): `endpoint.yml` (for `az ml online-endpoint create|update -f`)
and `deployment-<name>.yml` (for `az ml online-deployment create -f`): a custom container (the
docker target's image) with liveness /health, readiness /ready and scoring /score routes.
The endpoint authenticates callers with Microsoft Entra tokens (`auth_mode: aad_token`).

Settings (`deploy: {azureml: {...}}`): subscription_id, resource_group, workspace (where to
apply), location (the region, checked against deploy.allowed_regions), endpoint (its name,
default the flow's), image, registry, port (as the docker target's), instance_type
(Standard_DS3_v2), instance_count (1), traffic ({version: percent}), mirror (a version to
shadow) with mirror_percent.

Apply order keeps the previous version serving: the endpoint (created without traffic when
new), then the new deployment, then the traffic change; a refusal at any step leaves the
endpoint's traffic as it was.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from promptwise.deploy.errors import DeployError, scrub
from promptwise.deploy.targets import traffic
from promptwise.deploy.targets.base import Artefacts, DeployRequest, Outcome, Progress, Target
from promptwise.deploy.targets.docker import DEFAULT_PORT, image_name

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
KNOWN = {"subscription_id", "resource_group", "workspace", "location", "endpoint", "image", "registry", "port",
         "instance_type", "instance_count", "traffic", "mirror", "mirror_percent"}
WHERE = ("subscription_id", "resource_group", "workspace")


class AzureMLTarget(Target):
    name = "azureml"
    extra = "azureml"
    modules = ("azure.ai.ml", "azure.identity")
    cloud = True

    def region(self, settings: dict[str, Any]) -> str | None:
        location = _settings(settings).get("location")
        return str(location) if location else None

    def precheck(self, settings: dict[str, Any]) -> None:
        settings = _settings(settings)
        missing = [key for key in WHERE if not settings.get(key)]
        if missing:
            raise DeployError(f"deploy.azureml needs {', '.join(missing)} to apply (the workspace to deploy to); "
                              f"or use --out DIR to write the YAML for `az ml`")

    # ----- render -----

    def render(self, request: DeployRequest) -> Artefacts:
        import yaml

        settings = _settings(request.settings)
        split = traffic.weights(request, settings, self.name)
        shadow = traffic.mirror(request, settings, self.name)
        port = settings.get("port", DEFAULT_PORT)
        endpoint_name = _endpoint_name(request, settings)
        name = deployment_name(request.version.id)
        endpoint: dict[str, Any] = {
            "$schema": ENDPOINT_SCHEMA, "name": endpoint_name, "auth_mode": "aad_token",
            "description": f"Promptwise {request.version.name}",
            "tags": {"promptwise.version": request.version.id},
            "traffic": {deployment_name(v): w for v, w in split.items()},
        }
        if shadow:
            endpoint["mirror_traffic"] = {deployment_name(shadow[0]): shadow[1] if shadow[1] is not None else 10}
        deployment = {
            "$schema": DEPLOYMENT_SCHEMA, "name": name, "endpoint_name": endpoint_name,
            "description": f"{request.version.id} ({request.version.content_hash})",
            "tags": {"promptwise.version": request.version.id,
                     "promptwise.content_hash": request.version.content_hash},
            "environment": {
                "name": f"promptwise-{request.version.slug}", "image": image_name(request, settings),
                "inference_config": {"liveness_route": {"path": "/health", "port": port},
                                     "readiness_route": {"path": "/ready", "port": port},
                                     "scoring_route": {"path": "/score", "port": port}}},
            "environment_variables": {"PROMPTWISE_VERSION": request.version.id},
            "instance_type": settings.get("instance_type", "Standard_DS3_v2"),
            "instance_count": settings.get("instance_count", 1),
        }
        dump = lambda data: yaml.safe_dump(data, sort_keys=False)  # noqa: E731
        return Artefacts({"endpoint.yml": dump(endpoint), f"deployment-{name}.yml": dump(deployment)})

    # ----- apply -----

    def apply(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        self.precheck(request.settings)
        from azure.ai.ml import MLClient, load_online_deployment, load_online_endpoint
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        from azure.identity import DefaultAzureCredential

        settings = _settings(request.settings)
        with tempfile.TemporaryDirectory(prefix="promptwise-azureml-") as folder:
            written = {path.name: path for path in artefacts.write(Path(folder))}
            endpoint = load_online_endpoint(source=written["endpoint.yml"])
            (deployment_file,) = [p for n, p in written.items() if n.startswith("deployment-")]
            deployment = load_online_deployment(source=deployment_file)
        client = MLClient(DefaultAzureCredential(), settings["subscription_id"], settings["resource_group"],
                          settings["workspace"])
        split, mirror = dict(endpoint.traffic or {}), dict(endpoint.mirror_traffic or {})
        step = "read the endpoint"
        try:
            try:
                current = client.online_endpoints.get(endpoint.name)
            except ResourceNotFoundError:
                current = None
            existing = {d.name for d in client.online_deployments.list(endpoint.name)} if current else set()
            missing = sorted(n for n in {*split, *mirror} if n != deployment.name and n not in existing)
            if missing:
                raise DeployError(f"deploy.azureml.traffic sends requests to {', '.join(missing)}, not deployed on "
                                  f"endpoint {endpoint.name!r}; deploy those versions first (nothing was changed)")
            if current is None:
                step = "create the endpoint"
                progress(f"creating endpoint {endpoint.name}")
                endpoint.traffic, endpoint.mirror_traffic = {}, {}
                client.online_endpoints.begin_create_or_update(endpoint).result()
            step = f"create deployment {deployment.name}"
            progress(f"creating deployment {endpoint.name}/{deployment.name} (blue/green: traffic unchanged)")
            client.online_deployments.begin_create_or_update(deployment).result()
            step = "shift traffic"
            progress(f"setting traffic {split}" + (f", mirror {mirror}" if mirror else ""))
            live = client.online_endpoints.get(endpoint.name)
            live.traffic, live.mirror_traffic = split, mirror
            client.online_endpoints.begin_create_or_update(live).result()
        except DeployError:
            raise
        except AzureError as error:
            message = getattr(error, "message", None) or str(error)
            raise DeployError(f"Azure ML refused to {step}: {scrub(str(message))}; the endpoint's traffic was left "
                              f"as it was") from None
        return Outcome(self.name, request.version.id,
                       f"deployed {endpoint.name}/{deployment.name} ({', '.join(f'{k}={v}%' for k, v in split.items())})",
                       {"endpoint": endpoint.name, "deployment": deployment.name, "traffic": split,
                        "mirror_traffic": mirror, "location": settings.get("location")})


def deployment_name(version_id: str) -> str:
    """`v7` -> `pw-v7`: Azure ML deployment names are 3-32 letters, digits and '-', from a letter."""
    return f"pw-v{traffic.number(version_id)}"


def _endpoint_name(request: DeployRequest, settings: dict[str, Any]) -> str:
    name = str(settings.get("endpoint") or request.version.name)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:32].rstrip("-")
    if len(slug) < 3 or not slug[0].isalpha():
        raise DeployError(f"Azure ML endpoint name {name!r}: 3-32 letters, digits and '-', starting with a letter; "
                          f"set deploy.azureml.endpoint")
    return slug


def _settings(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DeployError("`deploy.azureml` must be a mapping of settings")
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise DeployError(f"`deploy.azureml`: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(KNOWN))}")
    count = raw.get("instance_count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise DeployError(f"`deploy.azureml.instance_count` {count!r}: a whole number of at least 1")
    port = raw.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise DeployError(f"`deploy.azureml.port` {port!r}: a port is 1-65535")
    return raw
