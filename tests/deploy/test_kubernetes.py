"""The kubernetes target: rendered manifests validated with the Kubernetes OpenAPI schemas
(kubernetes-validate, strict) and, for the Gateway API HTTPRoute (a CRD those schemas do not
hold), checked structurally here; the apply path driven through the real `kubernetes` client
against a stand-in API server (starlette on 127.0.0.1) that stores what it receives."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time

import pytest
import yaml

from promptwise.cli import main

kubernetes_validate = pytest.importorskip("kubernetes_validate")
KUBE_VERSION = "1.37.0"
SECRET_IN_MESSAGE = "sk-proj-Xk29fLq8Zr0PwN7vB3mT4cY6hJ1sD5gE9aU2iO8"

# resource path segment -> kind, as the client calls them
RESOURCES = {"deployments": "Deployment", "services": "Service", "horizontalpodautoscalers": "HorizontalPodAutoscaler",
             "poddisruptionbudgets": "PodDisruptionBudget", "httproutes": "HTTPRoute"}


class StandInApiServer:
    """Answers the REST routes the kubernetes client calls (GET / POST / PUT on namespaced
    resource paths) and keeps the objects; `refuse` maps a resource to a 403 message."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}   # (resource, namespace, name) -> object
        self.writes: list[tuple[str, str, str]] = []          # (method, resource, name)
        self.refuse: dict[str, str] = {}
        self._versions = itertools.count(1)

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def status(code: int, reason: str, message: str) -> JSONResponse:
            return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                 "message": message, "reason": reason, "code": code}, status_code=code)

        async def handle(request):
            parts = request.url.path.strip("/").split("/")
            index = parts.index("namespaces")
            namespace, resource = parts[index + 1], parts[index + 2]
            name = parts[index + 3] if len(parts) > index + 3 else None
            if request.method == "GET":
                stored = self.objects.get((resource, namespace, name))
                if stored is None:
                    return status(404, "NotFound", f'{resource} "{name}" not found')
                return JSONResponse(stored)
            body = await request.json()
            name = name or body["metadata"]["name"]
            self.writes.append((request.method, resource, name))
            if resource in self.refuse:
                return status(403, "Forbidden", self.refuse[resource])
            key = (resource, namespace, name)
            if request.method == "POST" and key in self.objects:
                return status(409, "AlreadyExists", f'{resource} "{name}" already exists')
            if request.method == "PUT":
                if key not in self.objects:
                    return status(404, "NotFound", f'{resource} "{name}" not found')
                if body["metadata"].get("resourceVersion") != self.objects[key]["metadata"]["resourceVersion"]:
                    return status(409, "Conflict", "the object has been modified")
            body["metadata"]["resourceVersion"] = str(next(self._versions))
            if resource == "services":
                body["spec"].setdefault("clusterIP", "10.0.0.%d" % (len(self.objects) + 1))
            self.objects[key] = body
            return JSONResponse(body, status_code=201 if request.method == "POST" else 200)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT"])])

    def kinds(self, namespace: str = "prod") -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for (resource, ns, name) in sorted(self.objects):
            if ns == namespace:
                found.setdefault(RESOURCES[resource], []).append(name)
        return found

    def route_weights(self, namespace: str = "prod") -> dict[str, int]:
        route = self.objects[("httproutes", namespace, "triage")]
        return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}


@pytest.fixture(scope="module")
def api_server():
    import uvicorn

    server = StandInApiServer()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = uvicorn.Server(uvicorn.Config(server.app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the stand-in API server did not start"
        time.sleep(0.02)
    server.url = f"http://127.0.0.1:{port}"
    yield server
    runner.should_exit = True
    thread.join(10)


@pytest.fixture
def cluster(api_server, workspace, monkeypatch):
    """A kubeconfig whose current context is the stand-in; deploy.kubernetes in the workspace."""
    api_server.objects.clear()
    api_server.writes.clear()
    api_server.refuse.clear()
    kubeconfig = workspace / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": api_server.url}}],
        "users": [{"name": "dev", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "dev"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return api_server


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _settings(workspace, kubernetes: dict, extra: str = "") -> None:
    path = workspace / "promptwise.yaml"
    text = path.read_text().split("deploy:")[0]
    path.write_text(text + "deploy:\n" + extra + "  kubernetes: " + json.dumps(kubernetes) + "\n")


def _new_version(workspace) -> None:
    template = workspace / "triage" / "chat.jinja2"
    template.write_text(template.read_text() + "Be brief.\n")


# ----- render + validate -----

def test_rendered_manifests_pass_the_kubernetes_schemas_and_keep_keys_in_secrets(workspace, capsys):
    _settings(workspace, {"namespace": "prod", "registry": "ghcr.io/acme", "keys": ["OPENAI_API_KEY"]})
    out = workspace / "manifests"
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--out", str(out))
    assert code == 0, err
    objects = {p.name: yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))}
    assert [o["kind"] for o in objects.values()] == [
        "Deployment", "Service", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "HTTPRoute"]
    for name, manifest in objects.items():
        if manifest["kind"] != "HTTPRoute":
            kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)  # raises on any schema error
    deployment = objects["00-deployment-triage-v1.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/acme/triage:v1"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert set(container["resources"]) == {"requests", "limits"}
    keys = {e["name"]: e for e in container["env"] if e["name"] != "PROMPTWISE_VERSION"}
    assert set(keys) == {"PROMPTWISE_API_KEY", "OPENAI_API_KEY"}
    assert all("value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == "triage-keys" for e in keys.values())
    assert objects["03-horizontalpodautoscaler-triage-v1.yaml"]["apiVersion"] == "autoscaling/v2"
    # The stable Service selects every version's pods; the version's Service only its own.
    assert "promptwise.dev/version" not in objects["02-service-triage.yaml"]["spec"]["selector"]
    assert objects["01-service-triage-v1.yaml"]["spec"]["selector"]["promptwise.dev/version"] == "v1"
    _check_http_route(objects["05-httproute-triage.yaml"], {"triage-v1": 100})


def test_the_schema_validation_catches_a_broken_manifest(workspace, capsys):
    """The validator the test above relies on does refuse what the API server would."""
    _settings(workspace, {})
    out = workspace / "manifests"
    assert cli(capsys, "deploy", "triage", "--target", "kubernetes", "--out", str(out))[0] == 0
    deployment = yaml.safe_load((out / "00-deployment-triage-v1.yaml").read_text())
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    deployment["spec"]["replicas"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def _check_http_route(route: dict, weights: dict[str, int], mirror: str | None = None) -> None:
    """Gateway API v1 HTTPRoute structure, checked by hand (its CRD schema is not available
    offline here): parentRefs to a Gateway, rules with weighted backendRefs to Services that add
    up to 100, an optional RequestMirror filter with one backendRef."""
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    spec = route["spec"]
    assert set(spec) <= {"parentRefs", "rules", "hostnames"}
    assert spec["parentRefs"][0]["kind"] == "Gateway" and spec["parentRefs"][0]["group"] == "gateway.networking.k8s.io"
    (rule,) = spec["rules"]
    assert set(rule) <= {"matches", "backendRefs", "filters"}
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    for ref in rule["backendRefs"]:
        assert set(ref) == {"name", "port", "weight"} and isinstance(ref["port"], int)
        assert 0 <= ref["weight"] <= 1_000_000
    assert {r["name"]: r["weight"] for r in rule["backendRefs"]} == weights
    if mirror is None:
        assert "filters" not in rule
    else:
        (mirror_filter,) = rule["filters"]
        assert mirror_filter["type"] == "RequestMirror"
        assert mirror_filter["requestMirror"]["backendRef"]["name"] == mirror


# ----- apply through the kubernetes client -----

def test_apply_creates_then_adds_a_shadow_version_through_the_client(cluster, workspace, capsys):
    _settings(workspace, {"namespace": "prod"})
    code, out, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["traffic"] == {"triage:v1": 100}
    assert cluster.kinds() == {"Deployment": ["triage-v1"], "Service": ["triage", "triage-v1"],
                               "HorizontalPodAutoscaler": ["triage-v1"], "PodDisruptionBudget": ["triage-v1"],
                               "HTTPRoute": ["triage"]}
    received = cluster.objects[("deployments", "prod", "triage-v1")]
    kubernetes_validate.validate({k: v for k, v in received.items() if k != "status"}, KUBE_VERSION)
    assert cluster.route_weights() == {"triage-v1": 100}

    _new_version(workspace)  # v2 in shadow: no share of answers, a copy of half the requests
    _settings(workspace, {"namespace": "prod", "traffic": {"triage:v1": 100, "triage:v2": 0}, "mirror": "triage:v2",
                          "mirror_percent": 50})
    cluster.writes.clear()
    code, out, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--format", "json")
    assert code == 0, err
    assert cluster.route_weights() == {"triage-v1": 100, "triage-v2": 0}
    route = cluster.objects[("httproutes", "prod", "triage")]
    _check_http_route(route, {"triage-v1": 100, "triage-v2": 0}, mirror="triage-v2")
    assert route["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] == 50
    assert cluster.kinds()["Deployment"] == ["triage-v1", "triage-v2"]  # v1 still serving
    assert ("PUT", "httproutes", "triage") in cluster.writes and ("PUT", "services", "triage") in cluster.writes
    assert cluster.writes[-1] == ("PUT", "httproutes", "triage")  # the traffic shift is the last write
    from promptwise.deploy.targets.kubernetes import KubernetesTarget

    status = KubernetesTarget().status("triage", {"namespace": "prod"})
    assert (status.state, status.versions) == ("running", {"triage:v1": 100, "triage:v2": 0})
    assert KubernetesTarget().status("triage", {"namespace": "staging"}).state == "not deployed"


def test_a_refused_apply_gives_the_api_message_redacted_and_leaves_the_previous_route(cluster, workspace, capsys):
    _settings(workspace, {"namespace": "prod"})
    assert cli(capsys, "deploy", "triage", "--target", "kubernetes")[0] == 0
    _new_version(workspace)
    _settings(workspace, {"namespace": "prod", "traffic": {"triage:v1": 50, "triage:v2": 50}})
    cluster.refuse["httproutes"] = (f'httproutes.gateway.networking.k8s.io "triage" is forbidden: User "dev" '
                                    f'cannot update resource; token {SECRET_IN_MESSAGE}')
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes")
    assert code == 2
    assert "is forbidden" in err and "HTTP 403" in err and SECRET_IN_MESSAGE not in err
    assert "Traceback" not in err
    assert cluster.route_weights() == {"triage-v1": 100}  # v1 keeps all the traffic
    code, out, _ = cli(capsys, "audit", "--format", "json")
    last = json.loads(out)[-1]
    assert (last["action"], last["outcome"], last["to_version"]) == ("deploy", "failed", "triage:v2")
    assert SECRET_IN_MESSAGE not in json.dumps(last)


def test_a_canary_by_weight_and_image_flags_through_the_client(cluster, workspace, capsys):
    """`deploy --weight N --image REF`: the new version gets N% beside the one deployed before it,
    and runs the image named on the command line."""
    _settings(workspace, {"namespace": "prod"})
    assert cli(capsys, "deploy", "triage", "--target", "kubernetes")[0] == 0
    _new_version(workspace)
    code, out, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--weight", "25",
                         "--image", "ghcr.io/acme/triage-canary:rc1", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["traffic"] == {"triage:v1": 75, "triage:v2": 25}
    assert cluster.route_weights() == {"triage-v1": 75, "triage-v2": 25}
    received = cluster.objects[("deployments", "prod", "triage-v2")]
    kubernetes_validate.validate({k: v for k, v in received.items() if k != "status"}, KUBE_VERSION, strict=True)
    assert received["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/triage-canary:rc1"
    v1 = cluster.objects[("deployments", "prod", "triage-v1")]
    assert v1["spec"]["template"]["spec"]["containers"][0]["image"] == "triage:v1"  # untouched
    _settings(workspace, {"namespace": "prod", "traffic": {"triage:v1": 50, "triage:v2": 50}})
    cluster.writes.clear()
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--weight", "50")
    assert code == 2 and "both set the split" in err and cluster.writes == []


def test_a_refused_new_deployment_stops_before_any_traffic_moves(cluster, workspace, capsys):
    _settings(workspace, {"namespace": "prod"})
    assert cli(capsys, "deploy", "triage", "--target", "kubernetes")[0] == 0
    _new_version(workspace)
    cluster.refuse["deployments"] = 'deployments.apps "triage-v2" is forbidden: exceeded quota: compute-resources'
    cluster.writes.clear()
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--weight", "30")
    assert code == 2 and "exceeded quota" in err and "Traceback" not in err
    assert cluster.route_weights() == {"triage-v1": 100}
    assert [w for w in cluster.writes if w[1] != "deployments"] == []  # nothing after the refused step
    assert ("deployments", "prod", "triage-v2") not in cluster.objects


# ----- bad input, each before anything changes -----

@pytest.mark.parametrize("kubernetes, expected", [
    ({"traffic": {"triage:v1": 60, "triage:v2": 30}}, "add up to 90, not 100"),
    ({"traffic": {"other:v1": 100}}, "is not a version of triage"),
    ({"replicas": 3, "max_replicas": 2}, "max_replicas"),
    ({"keys": ["sk-literal-value"]}, "environment variable names"),
    ({"namespaces": "prod"}, "unknown setting namespaces"),
])
def test_bad_settings_are_refused_before_any_call(cluster, workspace, capsys, kubernetes, expected):
    _settings(workspace, kubernetes)
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes")
    assert code == 2 and expected in err, err
    assert cluster.writes == [] and cluster.objects == {}


def test_traffic_to_a_version_not_on_the_cluster_is_refused_before_any_write(cluster, workspace, capsys):
    _settings(workspace, {"namespace": "prod"})
    assert cli(capsys, "deploy", "triage", "--target", "kubernetes", "--out", str(workspace / "v1"))[0] == 0
    _new_version(workspace)
    _settings(workspace, {"namespace": "prod", "traffic": {"triage:v1": 90, "triage:v2": 10}})
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes")
    assert code == 2 and "names triage:v1, which is not deployed" in err
    assert cluster.writes == []


def test_a_version_that_does_not_exist_a_region_not_allowed_and_no_kubeconfig(workspace, capsys, monkeypatch):
    _settings(workspace, {"region": "eastus"}, extra="  allowed_regions: [westeurope]\n")
    code, _, err = cli(capsys, "deploy", "--version", "triage:v9", "--target", "kubernetes", "--out", "x")
    assert code == 2 and "no version 'triage:v9'" in err
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes", "--out", str(workspace / "m"))
    assert code == 2 and "region 'eastus' is not allowed" in err and not (workspace / "m").exists()
    _settings(workspace, {})
    monkeypatch.setenv("KUBECONFIG", str(workspace / "no-such-kubeconfig"))
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes")
    assert code == 2 and "no usable kubeconfig" in err and "--out DIR" in err


def test_without_the_extra_the_error_names_the_pip_install(workspace, capsys, monkeypatch):
    monkeypatch.setattr("promptwise.deploy.targets.kubernetes.KubernetesTarget.modules", ("promptwise_no_such_sdk",))
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernetes")
    assert code == 2 and "pip install 'promptwise[kubernetes]'" in err
    code, _, err = cli(capsys, "deploy", "triage", "--target", "kubernets")
    assert code == 2 and "did you mean 'kubernetes'" in err
