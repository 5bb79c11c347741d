"""A stand-in of Azure Resource Manager on 127.0.0.1, enough for azure-ai-ml's MLClient to create
and update managed online endpoints and deployments, with the token endpoint of a managed
identity beside it, so the azureml target's real push path (DefaultAzureCredential -> MLClient
-> ARM REST calls and their long-running operations) runs here without a cloud.

How the real SDKs are pointed at it (all through their documented environment variables):
- ARM_CLOUD_METADATA_URL: azure-ai-ml reads its cloud's endpoints from `/metadata/endpoints`,
  whose `resourceManager` is this server (HTTPS: azure-core sends bearer tokens over TLS only,
  so the server has a self-signed certificate for 127.0.0.1, trusted via REQUESTS_CA_BUNDLE);
- IDENTITY_ENDPOINT / IDENTITY_HEADER: DefaultAzureCredential's ManagedIdentityCredential (the
  App Service flavour) asks `/msi/token` for a token; ARM routes refuse any other bearer.

Resources are kept by their path (case-insensitive, as ARM is). A PUT answers 201 "Creating"
with an Azure-AsyncOperation URL (Retry-After: 0) that reports Succeeded -- or Failed, for a
resource named in `fail_provisioning`, which is then kept in state Failed, as ARM does (a
deployment is a resource of its own: its failure does not change the endpoint's traffic).
`refuse` maps a resource name to an immediate ARM error (status, code, message)."""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import secrets
import socket
import threading
import time
from pathlib import Path

PROVIDER = "/providers/Microsoft.MachineLearningServices/workspaces/"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (valid one day), written as PEM into `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "standin-cert.pem", folder / "standin-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ArmStandIn:
    def __init__(self, location: str = "westeurope") -> None:
        self.location = location
        self.identity_header = secrets.token_hex(8)
        self.token = "standin-" + secrets.token_hex(16)
        self.resources: dict[str, dict] = {}      # lower-cased resource path -> resource
        self.calls: list[tuple[str, str]] = []    # (method, path) of every ARM call
        self.refuse: dict[str, tuple[int, str, str]] = {}  # resource name -> (status, code, message)
        self.fail_provisioning: dict[str, str] = {}         # resource name -> the operation's error message
        self.tokens_issued = 0
        self.revoked = False                       # True: ARM refuses every token (401)
        self._operations: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self.url = ""

    # ----- what tests look at -----

    def reset(self) -> None:
        self.resources.clear()
        self.calls.clear()
        self.refuse.clear()
        self.fail_provisioning.clear()
        self._operations.clear()
        self.revoked = False

    def workspace_path(self, subscription: str, group: str, workspace: str) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/{group}{PROVIDER}{workspace}"

    def add_workspace(self, subscription: str, group: str, workspace: str) -> None:
        path = self.workspace_path(subscription, group, workspace)
        self.resources[path.lower()] = {
            "id": path, "name": workspace, "type": "Microsoft.MachineLearningServices/workspaces",
            "location": self.location, "properties": {"provisioningState": "Succeeded", "friendlyName": workspace}}

    def endpoint(self, name: str) -> dict | None:
        return next((r for p, r in self.resources.items() if p.endswith(f"/onlineendpoints/{name}")), None)

    def deployments(self, endpoint: str) -> list[str]:
        return sorted(r["name"] for p, r in self.resources.items() if f"/onlineendpoints/{endpoint}/deployments/" in p)

    def writes(self) -> list[tuple[str, str]]:
        """(method, last path segment) of every PUT / PATCH / DELETE, in order."""
        return [(m, p.rstrip("/").rsplit("/", 1)[1]) for m, p in self.calls if m in ("PUT", "PATCH", "DELETE")]

    # ----- the app -----

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def error(status: int, code: str, message: str) -> JSONResponse:
            return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

        async def metadata(request):
            return JSONResponse([{
                "name": "PromptwiseStandIn", "portal": "https://portal.standin.test/",
                "resourceManager": self.url + "/",
                "authentication": {"loginEndpoint": "https://login.standin.test/", "audiences": [self.url + "/"],
                                   "tenant": "common", "identityProvider": "AAD"},
                "suffixes": {"storage": "core.standin.test"}}])

        async def token(request):
            if request.headers.get("x-identity-header") != self.identity_header:
                return JSONResponse({"error": "no identity header"}, status_code=400)
            self.tokens_issued += 1
            return JSONResponse({"access_token": self.token, "expires_on": str(int(time.time()) + 3600),
                                 "resource": request.query_params.get("resource", ""), "token_type": "Bearer"})

        async def operation(request):
            found = self._operations.get(request.path_params["op"])
            if found is None:
                return error(404, "NotFound", "no such operation")
            return JSONResponse(found)

        async def resource(request):
            path = "/" + request.path_params["path"].rstrip("/")
            self.calls.append((request.method, path))
            if self.revoked or request.headers.get("authorization") != f"Bearer {self.token}":
                return error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            key = path.lower()
            name = path.rsplit("/", 1)[1]
            if request.method == "GET":
                if key in self.resources:
                    return JSONResponse(self.resources[key])
                children = [r for p, r in sorted(self.resources.items()) if p.rsplit("/", 1)[0] == key]
                if children or key.endswith("/deployments"):
                    return JSONResponse({"value": children})
                return error(404, "ResourceNotFound", f"The resource '{path}' was not found.")
            if name in self.refuse:
                return error(*self.refuse[name])
            body = await request.json()
            if request.method == "PUT":
                return self._put(path, name, body)
            return error(405, "MethodNotAllowed", f"{request.method} is not answered by the stand-in")

        return Starlette(routes=[
            Route("/metadata/endpoints", metadata), Route("/msi/token", token),
            Route("/operations/{op}", operation),
            Route("/{path:path}", resource, methods=["GET", "PUT", "PATCH", "DELETE", "POST"])])

    def _put(self, path: str, name: str, body: dict):
        from starlette.responses import JSONResponse

        existing = self.resources.get(path.lower())
        stored = {**body, "id": path, "name": name, "type": _type_of(path),
                  "properties": {**(body.get("properties") or {}), "provisioningState": "Succeeded"}}
        if "/onlineendpoints/" in path.lower() and "/deployments/" not in path.lower():
            stored["properties"].setdefault("scoringUri", f"https://{name}.{self.location}.inference.standin.test/score")
            stored.setdefault("identity", {"type": "SystemAssigned", "principalId": "0000-principal"})
        if "/deployments/" in path.lower():  # the defaults ARM fills in
            stored["properties"].setdefault("scaleSettings", {"scaleType": "Default"})
        op = str(next(self._ids))
        failure = self.fail_provisioning.get(name)
        if failure is None:
            self._operations[op] = {"status": "Succeeded"}
        else:  # ARM keeps the resource, in state Failed, and says why in the operation
            stored["properties"]["provisioningState"] = "Failed"
            self._operations[op] = {"status": "Failed", "error": {"code": "DeploymentFailed", "message": failure}}
        self.resources[path.lower()] = stored
        answer = {**stored, "properties": {**stored["properties"], "provisioningState": "Creating" if existing is None
                                           else "Updating"}}
        return JSONResponse(answer, status_code=200 if existing else 201, headers={
            "Azure-AsyncOperation": f"{self.url}/operations/{op}", "Retry-After": "0"})

    # ----- running it -----

    def start(self, folder: Path) -> None:
        import uvicorn

        cert, key = self_signed_certificate(folder)
        self.certificate = cert
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=port, log_level="error",
                                                     ssl_certfile=str(cert), ssl_keyfile=str(key)))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ARM stand-in did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def _type_of(path: str) -> str:
    lowered = path.lower()
    if "/deployments/" in lowered:
        return "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
    if "/onlineendpoints/" in lowered:
        return "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    return "Microsoft.MachineLearningServices/" + "/".join(lowered.split("/providers/microsoft.machinelearningservices/")[1]
                                                           .split("/")[0::2])
