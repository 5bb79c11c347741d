"""The `kubernetes` target: manifests for one packaged version, applied with the official
`kubernetes` client to the current kubeconfig context, or written with `--out DIR`.

What is rendered (one YAML file per object, `NN-kind-name.yaml`, in apply order):
- per version: a Deployment (the docker target's image, probes on /health and /ready, resource
  requests and limits, a non-root read-only security context, API keys from a Secret by
  `secretKeyRef` only), a Service, a HorizontalPodAutoscaler (autoscaling/v2: scale-out is
  Kubernetes' job) and a PodDisruptionBudget;
- per flow: a stable Service (selecting every version's pods) and a Gateway API HTTPRoute whose
  weighted backendRefs split traffic between versions' Services, with a RequestMirror filter
  for a shadow version.

Settings (`deploy: {kubernetes: {...}}` in promptwise.yaml):
  namespace (default), image (repository, as the docker target's), registry, port (8080),
  replicas (min, 2), max_replicas (5), cpu_target (70, percent), requests {cpu, memory},
  limits {cpu, memory}, secret (the Secret holding the keys, default `<name>-keys`),
  keys (env var names read from that Secret, besides PROMPTWISE_API_KEY), gateway (the parent
  Gateway's name, default `promptwise`), gateway_namespace, hostnames, traffic
  ({version: percent}, default this version 100), mirror (a version id to shadow, with
  mirror_percent), region (for deploy.allowed_regions), kubeconfig, context.

Apply order keeps the previous version serving until the new one is accepted: every object of
the new version first, the HTTPRoute (the traffic shift) last; nothing of an earlier version is
deleted. Each object is created, or replaced when it exists (create-or-replace).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from promptwise.deploy.errors import DeployError, scrub
from promptwise.deploy.targets import traffic
from promptwise.deploy.targets.base import Artefacts, DeployRequest, Outcome, Progress, Status, Target
from promptwise.deploy.targets.docker import API_KEY_ENV, DEFAULT_PORT, USER_ID, image_name

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_VERSION = "v1"
KNOWN = {"namespace", "image", "registry", "port", "replicas", "max_replicas", "cpu_target", "requests", "limits",
         "secret", "keys", "gateway", "gateway_namespace", "hostnames", "traffic", "mirror", "mirror_percent",
         "region", "kubeconfig", "context"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class KubernetesTarget(Target):
    name = "kubernetes"
    extra = "kubernetes"
    modules = ("kubernetes",)
    cloud = True
    splits_traffic = True

    def region(self, settings: dict[str, Any]) -> str | None:
        region = _settings(settings).get("region")
        return str(region) if region else None

    # ----- render -----

    def render(self, request: DeployRequest) -> Artefacts:
        artefacts = Artefacts()
        for index, manifest in enumerate(manifests(request)):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            artefacts.files[f"{index:02d}-{kind.lower()}-{name}.yaml"] = _yaml(manifest)
        return artefacts

    # ----- apply -----

    def precheck(self, settings: dict[str, Any]) -> None:
        _client(_settings(settings))  # no kubeconfig / context: said now, before rendering

    def apply(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        import yaml

        settings = _settings(request.settings)
        api = _client(settings)
        namespace = settings.get("namespace", "default")
        objects = [yaml.safe_load(text) for _, text in sorted(artefacts.files.items())]
        # Every other version the route sends traffic to must already run here: checked before any write.
        for other in _other_versions(request, settings):
            if _read(api, "Service", namespace, _service_name(other)) is None:
                raise DeployError(f"deploy.kubernetes.traffic names {other}, which is not deployed in namespace "
                                  f"{namespace!r}; deploy it first (nothing was changed)")
        applied = []
        for manifest in objects:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            progress(f"applying {kind} {namespace}/{name}")
            verb = _create_or_replace(api, manifest, namespace)
            applied.append(f"{kind}/{name} ({verb})")
        weights = _traffic(request, settings)
        return Outcome(self.name, request.version.id,
                       f"applied {len(applied)} objects to namespace {namespace} "
                       f"({', '.join(f'{v}={w}%' for v, w in weights.items())})",
                       {"namespace": namespace, "objects": applied, "traffic": weights,
                        "mirror": settings.get("mirror")})

    def status(self, name: str, settings: dict[str, Any]) -> Status:
        settings = _settings(settings)
        api = _client(settings)
        namespace = settings.get("namespace", "default")
        route = _read(api, "HTTPRoute", namespace, _slug(name))
        if route is None:
            return Status(self.name, name, "not deployed")
        versions = {}
        for rule in route.get("spec", {}).get("rules", []):
            for ref in rule.get("backendRefs", []):
                number = ref["name"].rpartition("-v")[2]  # the version's Service: <name>-v<N>
                versions[f"{name}:v{number}" if number.isdigit() else ref["name"]] = ref.get("weight", 1)
        return Status(self.name, name, "running", versions, {"namespace": namespace})


# ----- manifests -----

def manifests(request: DeployRequest) -> list[dict]:
    """Every object for `request.version`, in apply order (the HTTPRoute last). Pure: no network."""
    settings = _settings(request.settings)
    version = request.version
    namespace = settings.get("namespace", "default")
    slug, stable = version.slug, _slug(version.name)
    port = settings.get("port", DEFAULT_PORT)
    labels = {"app.kubernetes.io/name": stable, "app.kubernetes.io/managed-by": "promptwise"}
    pod_labels = {**labels, "promptwise.dev/version": version.tag}
    annotations = {"promptwise.dev/version": version.id, "promptwise.dev/content-hash": version.content_hash}

    def meta(name: str, extra: dict | None = None) -> dict:
        return {"name": name, "namespace": namespace, "labels": {**labels, **(extra or {})}, "annotations": annotations}

    secret = settings.get("secret") or f"{stable}-keys"
    env = [{"name": "PROMPTWISE_VERSION", "value": version.id}]
    for key in [API_KEY_ENV, *settings.get("keys", [])]:
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})

    def probe(path: str, delay: int) -> dict:
        return {"httpGet": {"path": path, "port": "http"}, "initialDelaySeconds": delay, "periodSeconds": 10,
                "timeoutSeconds": 5, "failureThreshold": 3}

    replicas = settings.get("replicas", 2)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(slug, {"promptwise.dev/version": version.tag}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": USER_ID, "runAsGroup": USER_ID,
                                        "fsGroup": USER_ID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "promptwise",
                        "image": image_name(request, settings),
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                        "env": env,
                        "livenessProbe": probe("/health", 10),
                        "readinessProbe": probe("/ready", 5),
                        "resources": {"requests": settings.get("requests", {"cpu": "250m", "memory": "512Mi"}),
                                      "limits": settings.get("limits", {"cpu": "1", "memory": "1Gi"})},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }

    def service(name: str, selector: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
                "spec": {"type": "ClusterIP", "selector": selector,
                         "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}

    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(slug),
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": slug},
                    "minReplicas": replicas, "maxReplicas": settings.get("max_replicas", 5),
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": settings.get("cpu_target", 70)}}}]}}
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(slug),
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": pod_labels}}}
    return [deployment, service(slug, pod_labels), service(stable, labels), hpa, pdb, http_route(request, settings, meta)]


def http_route(request: DeployRequest, settings: dict[str, Any], meta) -> dict:
    """The traffic split: weighted backendRefs to each version's Service; a RequestMirror filter
    sends a copy of requests to the shadow version (its answers are discarded by the gateway)."""
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": settings.get("gateway", "promptwise")}
    if settings.get("gateway_namespace"):
        parent["namespace"] = settings["gateway_namespace"]
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": _service_name(v), "port": 80, "weight": w}
                        for v, w in _traffic(request, settings).items()],
    }
    if settings.get("mirror"):
        mirror: dict[str, Any] = {"backendRef": {"name": _service_name(settings["mirror"]), "port": 80}}
        if "mirror_percent" in settings:
            mirror["percent"] = settings["mirror_percent"]
        rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    spec: dict[str, Any] = {"parentRefs": [parent], "rules": [rule]}
    if settings.get("hostnames"):
        spec["hostnames"] = list(settings["hostnames"])
    return {"apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}", "kind": "HTTPRoute",
            "metadata": meta(_slug(request.version.name)), "spec": spec}


# ----- settings -----

def _settings(raw: Any) -> dict[str, Any]:
    """`deploy.kubernetes`, checked: every refusal here comes before anything is called."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DeployError("`deploy.kubernetes` must be a mapping of settings")
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise DeployError(f"`deploy.kubernetes`: unknown setting{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
    port = raw.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise DeployError(f"`deploy.kubernetes.port` {port!r}: a port is 1-65535")
    for key in ("replicas", "max_replicas", "cpu_target"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DeployError(f"`deploy.kubernetes.{key}` {value!r}: a whole number of at least 1")
    if raw.get("max_replicas", 5) < raw.get("replicas", 2):
        raise DeployError("`deploy.kubernetes.max_replicas` is below `replicas`")
    keys = raw.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and ENV_NAME.match(k) for k in keys):
        raise DeployError("`deploy.kubernetes.keys` must list environment variable names (read from the Secret "
                          "by reference; a key's value never goes in promptwise.yaml)")
    for key in ("requests", "limits"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, dict) or set(value) - {"cpu", "memory"}):
            raise DeployError(f"`deploy.kubernetes.{key}` must map cpu and/or memory to quantities, e.g. "
                              f"{{cpu: 250m, memory: 512Mi}}")
    return raw


def _traffic(request: DeployRequest, settings: dict[str, Any]) -> dict[str, int]:
    traffic.mirror(request, settings, "kubernetes")  # a bad mirror is refused with the split
    return traffic.weights(request, settings, "kubernetes")


def _other_versions(request: DeployRequest, settings: dict[str, Any]) -> list[str]:
    return traffic.others(request, settings, "kubernetes")


def _slug(name: str) -> str:
    base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return base[:63].rstrip("-")


def _service_name(version_id: str) -> str:
    match = traffic.VERSION_ID.match(version_id)
    name, number = (match["name"], match["number"]) if match else (version_id, "0")
    suffix = f"-v{number}"
    return _slug(name)[:63 - len(suffix)].rstrip("-") + suffix


def _yaml(manifest: dict) -> str:
    import yaml

    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


# ----- the kubernetes client -----

def _client(settings: dict[str, Any]):
    """An ApiClient for the configured kubeconfig and context (default: $KUBECONFIG, ~/.kube/config)."""
    try:
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        from promptwise.deploy.errors import MissingExtra

        raise MissingExtra("kubernetes", ["kubernetes"], "kubernetes") from None
    # The client reads $KUBECONFIG once, when imported; read it now so a changed environment counts.
    config_file = settings.get("kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        return config.new_client_from_config(config_file=config_file, context=settings.get("context"))
    except (ConfigException, OSError, TypeError, ValueError) as error:
        raise DeployError(f"kubernetes: no usable kubeconfig ({scrub(str(error))}); set KUBECONFIG or "
                          f"deploy.kubernetes.kubeconfig / context, or use --out DIR to write the manifests") from None


def _api_error(error: Exception, action: str) -> DeployError:
    """The API server's own message (its Status body), redacted."""
    body = getattr(error, "body", None)
    message = None
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = body if isinstance(body, str) else None
    status = getattr(error, "status", None)
    reason = message or getattr(error, "reason", None) or str(error)
    return DeployError(f"kubernetes refused to {action}: {scrub(str(reason))}"
                       f"{f' (HTTP {status})' if status else ''}; objects already serving were left as they were")


def _read(api, kind: str, namespace: str, name: str) -> dict | None:
    """The object as the server has it, or None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        if kind == "HTTPRoute":
            from kubernetes import client

            return client.CustomObjectsApi(api).get_namespaced_custom_object(
                GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", name)
        result = getattr(_typed(api, kind), f"read_namespaced_{_snake(kind)}")(name, namespace)
        return api.sanitize_for_serialization(result)
    except ApiException as error:
        if error.status == 404:
            return None
        raise _api_error(error, f"read {kind} {namespace}/{name}") from None
    except Exception as error:  # connection refused, TLS, timeouts: urllib3's errors
        raise DeployError(f"kubernetes: cannot reach the API server ({scrub(str(error))})") from None


def _create_or_replace(api, manifest: dict, namespace: str) -> str:
    """Create the object, or replace it (with the server's resourceVersion) when it exists."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    kind, name = manifest["kind"], manifest["metadata"]["name"]
    try:
        existing = _read(api, kind, namespace, name)
        if kind == "HTTPRoute":
            custom = client.CustomObjectsApi(api)
            args = (GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes")
            if existing is None:
                custom.create_namespaced_custom_object(*args, manifest)
                return "created"
            manifest = {**manifest, "metadata": {**manifest["metadata"],
                                                 "resourceVersion": existing["metadata"].get("resourceVersion")}}
            custom.replace_namespaced_custom_object(*args, name, manifest)
            return "replaced"
        api_object = _typed(api, kind)
        if existing is None:
            getattr(api_object, f"create_namespaced_{_snake(kind)}")(namespace, manifest)
            return "created"
        body = {**manifest, "metadata": {**manifest["metadata"],
                                         "resourceVersion": existing["metadata"].get("resourceVersion")}}
        if kind == "Service" and existing.get("spec", {}).get("clusterIP"):
            body["spec"] = {**body["spec"], "clusterIP": existing["spec"]["clusterIP"]}  # immutable once set
        getattr(api_object, f"replace_namespaced_{_snake(kind)}")(name, namespace, body)
        return "replaced"
    except ApiException as error:
        raise _api_error(error, f"apply {kind} {namespace}/{name}") from None
    except DeployError:
        raise
    except Exception as error:
        raise DeployError(f"kubernetes: cannot reach the API server ({scrub(str(error))}); "
                          f"objects already serving were left as they were") from None


def _typed(api, kind: str):
    from kubernetes import client

    return {"Deployment": client.AppsV1Api, "Service": client.CoreV1Api,
            "HorizontalPodAutoscaler": client.AutoscalingV2Api,
            "PodDisruptionBudget": client.PolicyV1Api}[kind](api)


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
