"""The `azureml` target: an Azure ML managed online endpoint with one deployment per version
(blue/green), the endpoint's `traffic` split and `mirror_traffic` shadow, through azure-ai-ml's
MLClient with keyless DefaultAzureCredential.

What is rendered (`--out DIR`): `endpoint.yml` (for `az ml online-endpoint create|update -f`)
and `deployment-<name>.yml` (for `az ml online-deployment create -f`): a custom container (the
docker target's image) with liveness /health, readiness /ready and scoring /score routes.
The endpoint authenticates callers with Microsoft Entra tokens (`auth_mode: aad_token`).

The served container requires its own API key (PROMPTWISE_API_KEY, as the docker image's
`serve.keys` says; callers send it in an `api-key` header). The key is never written: the
deployment names it by reference and Azure ML's secret injection puts it in the container's
environment at start-up (`environment_variables: {PROMPTWISE_API_KEY: ${{REF}}}`), from
- a Key Vault secret, `api_key_ref: keyvault:https://VAULT.vault.azure.net/secrets/NAME[/versions/V]`
  (the endpoint's system-assigned identity needs the "Key Vault Secrets User" role on the vault), or
- a workspace connection, `api_key_ref: azureml://connections/NAME/credentials/KEY` (the endpoint is
  created with `enforce_access_to_default_secret_stores: enabled`, which lets its identity read
  the workspace's connections).

Settings (`deploy: {azureml: {...}}`): subscription_id, resource_group, workspace (where to
apply), location (the region, checked against deploy.allowed_regions before anything is called
and against the workspace's own location before anything is changed), api_key_ref (the reference
above), endpoint (its name, default the flow's), image, registry, port (as the docker target's;
`--image` overrides), instance_type (Standard_DS3_v2), instance_count (1), traffic ({version:
percent}; or `--weight`), mirror (a version to shadow) with mirror_percent.

Apply order keeps the previous version serving: the endpoint (created without traffic when
new), then the new deployment, then the traffic change; a refusal at any step leaves the
endpoint's traffic as it was.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from promptwise.deploy.errors import DeployError, scrub
from promptwise.deploy.targets import traffic
from promptwise.deploy.targets.base import Artefacts, DeployRequest, Outcome, Progress, Status, Target
from promptwise.deploy.targets.docker import API_KEY_ENV, DEFAULT_PORT, image_name

ENDPOINT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
KNOWN = {"subscription_id", "resource_group", "workspace", "location", "api_key_ref", "endpoint", "image", "registry",
         "port", "instance_type", "instance_count", "traffic", "mirror", "mirror_percent"}
WHERE = ("subscription_id", "resource_group", "workspace")
# The secret references Azure ML's secret injection resolves in a deployment's environment variables.
KEY_VAULT_REF = re.compile(r"^keyvault:https://[A-Za-z0-9-]{3,24}\.vault\.[a-z0-9.-]+/secrets/[A-Za-z0-9-]{1,127}"
                           r"(?:/versions/[A-Za-z0-9]{1,64})?$")
CONNECTION_REF = re.compile(r"^azureml://connections/[A-Za-z0-9_-]{1,255}/credentials/[A-Za-z0-9_.-]{1,255}$")
KEY_HOWTO = ("keyvault:https://VAULT.vault.azure.net/secrets/NAME (a Key Vault secret) or "
             "azureml://connections/NAME/credentials/KEY (a workspace connection's credential)")


class AzureMLTarget(Target):
    name = "azureml"
    extra = "azureml"
    modules = ("azure.ai.ml", "azure.identity")
    cloud = True
    splits_traffic = True

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
        key = api_key_reference(settings)
        endpoint_name = _endpoint_name(request, settings)
        name = deployment_name(request.version.id)
        endpoint: dict[str, Any] = {
            "$schema": ENDPOINT_SCHEMA, "name": endpoint_name, "auth_mode": "aad_token",
            "description": f"Promptwise {request.version.name}",
            "tags": {"promptwise.version": request.version.id},
            # the identity the deployment reads its secrets with (Key Vault role, connections)
            "identity": {"type": "system_assigned"},
            "traffic": {deployment_name(v): w for v, w in split.items()},
        }
        if CONNECTION_REF.match(key):
            endpoint["properties"] = {"enforce_access_to_default_secret_stores": "enabled"}
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
            "environment_variables": {"PROMPTWISE_VERSION": request.version.id,
                                      API_KEY_ENV: "${{" + key + "}}"},  # injected by Azure ML: never the key
            "instance_type": settings.get("instance_type", "Standard_DS3_v2"),
            "instance_count": settings.get("instance_count", 1),
        }
        dump = lambda data: yaml.safe_dump(data, sort_keys=False)  # noqa: E731
        return Artefacts({"endpoint.yml": dump(endpoint), f"deployment-{name}.yml": dump(deployment)})

    # ----- apply -----

    def apply(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        self.precheck(request.settings)
        with _quiet_sdk():
            return self._push(request, artefacts, progress)

    def _push(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        from azure.ai.ml import load_online_deployment, load_online_endpoint
        from azure.core.exceptions import ResourceNotFoundError

        settings = _settings(request.settings)
        with tempfile.TemporaryDirectory(prefix="promptwise-azureml-") as folder:
            written = {path.name: path for path in artefacts.write(Path(folder))}
            endpoint = load_online_endpoint(source=written["endpoint.yml"])
            (deployment_file,) = [p for n, p in written.items() if n.startswith("deployment-")]
            deployment = load_online_deployment(source=deployment_file)
        split, mirror = dict(endpoint.traffic or {}), dict(endpoint.mirror_traffic or {})
        with _refusals("read the workspace"):
            client = _client(settings)
            location = _check_location(client, settings)
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
            progress(f"creating endpoint {endpoint.name}")
            endpoint.traffic, endpoint.mirror_traffic = {}, {}
            with _refusals("create the endpoint"):
                client.online_endpoints.begin_create_or_update(endpoint).result()
        progress(f"creating deployment {endpoint.name}/{deployment.name} (blue/green: traffic unchanged)")
        with _refusals(f"create deployment {deployment.name}"):
            client.online_deployments.begin_create_or_update(deployment).result()
        progress(f"setting traffic {split}" + (f", mirror {mirror}" if mirror else ""))
        with _refusals("shift traffic"):
            live = client.online_endpoints.get(endpoint.name)
            live.traffic, live.mirror_traffic = split, mirror
            client.online_endpoints.begin_create_or_update(live).result()
        return Outcome(self.name, request.version.id,
                       f"deployed {endpoint.name}/{deployment.name} ({', '.join(f'{k}={v}%' for k, v in split.items())})",
                       {"endpoint": endpoint.name, "deployment": deployment.name, "traffic": split,
                        "mirror_traffic": mirror, "location": location})

    def status(self, name: str, settings: dict[str, Any]) -> Status:
        """The endpoint's traffic by version (its deployments are named pw-v<N>)."""
        self.precheck(settings)
        from azure.core.exceptions import ResourceNotFoundError

        settings = _settings(settings)
        endpoint_name = _endpoint_slug(str(settings.get("endpoint") or name))
        with _quiet_sdk(), _refusals("read the endpoint"):
            try:
                endpoint = _client(settings).online_endpoints.get(endpoint_name)
            except ResourceNotFoundError:
                return Status(self.name, name, "not deployed", details={"endpoint": endpoint_name})
        versions = {f"{name}:v{n[len('pw-v'):]}" if n.startswith("pw-v") else n: w
                    for n, w in (endpoint.traffic or {}).items()}
        return Status(self.name, name, "running" if versions else "no traffic", versions,
                      {"endpoint": endpoint_name, "scoring_uri": endpoint.scoring_uri,
                       "mirror_traffic": dict(endpoint.mirror_traffic or {}),
                       "provisioning_state": endpoint.provisioning_state})


def api_key_reference(settings: dict[str, Any]) -> str:
    """`deploy.azureml.api_key_ref`: a secret reference Azure ML resolves (never the key itself)."""
    ref = settings.get("api_key_ref")
    if not ref:
        raise DeployError(f"`deploy.azureml.api_key_ref` is not set: the served container requires an API key, which "
                          f"Azure ML injects from a secret store by reference; set it to {KEY_HOWTO}")
    if not isinstance(ref, str) or not (KEY_VAULT_REF.match(ref) or CONNECTION_REF.match(ref)):
        # not echoed: a value that is no reference may be the key itself
        raise DeployError(f"`deploy.azureml.api_key_ref` is not a secret reference (its value is not shown); write "
                          f"{KEY_HOWTO}")
    return ref


def _client(settings: dict[str, Any]):
    """MLClient for the configured workspace, keyless (DefaultAzureCredential: a managed identity,
    workload identity, environment variables or a signed-in Azure CLI / VS Code), with the SDK's
    telemetry and progress dots off (stdout is the command's)."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(DefaultAzureCredential(), settings["subscription_id"], settings["resource_group"],
                    settings["workspace"], enable_telemetry=False, show_progress=False)


def _check_location(client, settings: dict[str, Any]) -> str:
    """The workspace's region: a managed endpoint lands there, whatever `location` says, so the
    region the allow-list passed must be the workspace's."""
    actual = str(client.workspaces.get(settings["workspace"]).location or "")
    configured = settings.get("location")
    if configured and _region_key(str(configured)) != _region_key(actual):
        raise DeployError(f"workspace {settings['workspace']!r} is in {actual}, not in {configured} as "
                          f"deploy.azureml.location says; its endpoints run in {actual} (nothing was changed)")
    return actual


def _region_key(region: str) -> str:
    return "".join(region.lower().split())


@contextlib.contextmanager
def _quiet_sdk():
    """While the SDK runs: what it prints is dropped (its pollers print progress dots to stdout,
    which is the command's: its JSON, or a language server's protocol), and its loggers
    are off (azure-ai-ml logs every failed call with the service's message in full, unredacted;
    the user gets our one redacted line from `_refusals` instead)."""
    top = logging.getLogger("azure")
    loggers = [top, *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                      if name.startswith("azure."))]
    saved = [(logger, logger.disabled) for logger in loggers]
    null, propagate = logging.NullHandler(), top.propagate
    top.addHandler(null)
    top.propagate = False  # loggers made while it runs stop at `azure` too
    for logger in loggers:
        logger.disabled = True
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for logger, disabled in saved:
            logger.disabled = disabled
        top.removeHandler(null)
        top.propagate = propagate


class _refusals:
    """What Azure says when it refuses one step (an ARM error, a failed long-running operation,
    no credential) as one DeployError line naming the step, redacted; the endpoint's traffic is
    never changed before the last step."""

    def __init__(self, step: str) -> None:
        self.step = step

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, trace) -> bool:
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        if error is None or isinstance(error, DeployError) or not isinstance(error, AzureError):
            return False
        if isinstance(error, ClientAuthenticationError) and getattr(error, "response", None) is None:
            raise DeployError("no Azure credential here: sign in with `az login` (or run where a managed identity, "
                              "workload identity or AZURE_CLIENT_ID / AZURE_TENANT_ID variables provide one); "
                              f"DefaultAzureCredential said: {_first_line(error)} (nothing was changed)") from None
        detail = getattr(error, "error", None)
        code, message = getattr(detail, "code", None), getattr(detail, "message", None)
        text = f"{code}: {message}" if code and message else (getattr(error, "message", None) or str(error))
        text = " ".join(str(text).split()).rstrip(". ")
        raise DeployError(f"Azure ML refused to {self.step}: {scrub(text)}; the endpoint's "
                          f"traffic was left as it was") from None


def _first_line(error: Exception) -> str:
    return scrub(next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__))


def deployment_name(version_id: str) -> str:
    """`v7` -> `pw-v7`: Azure ML deployment names are 3-32 letters, digits and '-', from a letter."""
    return f"pw-v{traffic.number(version_id)}"


def _endpoint_name(request: DeployRequest, settings: dict[str, Any]) -> str:
    return _endpoint_slug(str(settings.get("endpoint") or request.version.name))


def _endpoint_slug(name: str) -> str:
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
