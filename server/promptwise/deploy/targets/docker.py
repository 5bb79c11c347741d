"""The `docker` target: a build context for one packaged version, built, tagged and pushed with
docker or podman when one is present and its engine answers.

The context (what `--out DIR` writes):
- `Dockerfile`: slim Python base of this interpreter's version, a non-root user (uid 10001),
  pinned requirements installed first (a cached layer), the Promptwise wheel, the version's
  snapshot in `app/`, the version baked in (labels, PROMPTWISE_VERSION, app/VERSION.json), a
  HEALTHCHECK on /health, and `promptwise serve` as the entrypoint on 0.0.0.0:8080;
- `requirements.txt`: every distribution `promptwise[serve]` needs, pinned to the versions
  installed here (the set the tests ran with), then the flow's own requirements.txt as written;
- `wheels/`: the wheel of this Promptwise (built from the checkout, or copied from a wheel
  given in `deploy.docker.wheel`);
- `app/`: the snapshot, with `serve.keys` requiring an API key from the environment
  (PROMPTWISE_API_KEY; `serve` refuses to bind 0.0.0.0 without keys), unless the workspace
  settings name their own keys.

Settings (`deploy: {docker: {...}}` in promptwise.yaml): `image` (repository, default the version
name), `registry` (push to it, e.g. ghcr.io/acme), `port` (8080), `base` (python:X.Y-slim),
`wheel` (a wheel file to use instead of building one). `promptwise deploy --image REF` names the
image instead (tagged vN when REF has no tag); it is pushed when `registry` is set or REF names a
registry host.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from promptwise.deploy.errors import DeployError, scrub
from promptwise.deploy.targets.base import Artefacts, DeployRequest, Outcome, Progress, Status, Target

API_KEY_ENV = "PROMPTWISE_API_KEY"
USER_ID = 10001
DEFAULT_PORT = 8080
SERVE_EXTRA = "serve"


class DockerTarget(Target):
    name = "docker"
    extra = "docker"
    modules = ("packaging",)  # requirement markers, when rendering the pinned requirements

    # ----- render -----

    def render(self, request: DeployRequest) -> Artefacts:
        self.require()
        version = request.version
        settings = _settings(request.settings)
        artefacts = Artefacts()
        for path in sorted(version.snapshot.rglob("*")):
            if path.is_file() and ".promptwise" not in path.relative_to(version.snapshot).parts:
                artefacts.files["app/" + path.relative_to(version.snapshot).as_posix()] = path.read_bytes()
        settings_name = "app/promptwise.yaml"
        if settings_name in artefacts.files:
            artefacts.files[settings_name] = _with_keys(artefacts.files[settings_name])
        wheel = _wheel(settings.get("wheel"))
        artefacts.files["wheels/" + wheel.name] = wheel.read_bytes()
        flow_requirements = version.snapshot / version.flow / "requirements.txt"
        extra_lines = flow_requirements.read_text(encoding="utf-8") if flow_requirements.is_file() else ""
        artefacts.files["requirements.txt"] = pinned_requirements(_wheel_requires(wheel), extra_lines)
        artefacts.files["app/VERSION.json"] = json.dumps(
            {"version": version.id, "name": version.name, "number": version.number,
             "content_hash": version.content_hash}, indent=2) + "\n"
        artefacts.files["Dockerfile"] = dockerfile(request, settings, wheel.name)
        artefacts.files[".dockerignore"] = "**/.promptwise\n**/__pycache__\n**/*.pyc\n"
        return artefacts

    # ----- apply -----

    _engine: str | None = None  # found by precheck (one `info` call), used by apply

    def precheck(self, settings: dict[str, Any]) -> None:
        self._engine = engine()

    def apply(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        tool = self._engine or engine()
        settings = _settings(request.settings)
        image = image_name(request, settings)
        with tempfile.TemporaryDirectory(prefix="promptwise-docker-") as folder:
            artefacts.write(Path(folder))
            progress(f"building {image} with {Path(tool).name}")
            _call([tool, "build", "--tag", image, folder], "build")
            pushed = False
            if pushes(image, settings):
                progress(f"pushing {image}")
                _call([tool, "push", image], "push")
                pushed = True
        return Outcome(self.name, request.version.id, f"{'built and pushed' if pushed else 'built'} {image}",
                       {"image": image, "pushed": pushed, "engine": Path(tool).name})

    def status(self, name: str, settings: dict[str, Any]) -> Status:
        return Status(self.name, name, "unknown",
                      details={"reason": "a docker image does not run anywhere by itself; its runtime reports status"})


def _settings(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DeployError("`deploy.docker` must be a mapping of settings (image, registry, port, base, wheel)")
    unknown = sorted(set(raw) - {"image", "registry", "port", "base", "wheel"})
    if unknown:
        raise DeployError(f"`deploy.docker`: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"known: image, registry, port, base, wheel")
    port = raw.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise DeployError(f"`deploy.docker.port` {port!r}: a port is 1-65535")
    return raw


# An image reference: [host[:port]/]path[:tag][@digest], lowercase path components (the OCI rules).
_IMAGE_REF = re.compile(r"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/)?"
                        r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
                        r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


def image_name(request: DeployRequest, settings: dict[str, Any]) -> str:
    """The image the version runs as: `--image` (tagged vN when it names no tag or digest), else
    `deploy.<target>.registry/image` tagged vN."""
    if request.image:
        return image_reference(request.image, request.version.tag)
    repository = str(settings.get("image") or request.version.name)
    registry = str(settings.get("registry") or "").rstrip("/")
    return f"{registry + '/' if registry else ''}{repository}:{request.version.tag}"


def image_reference(ref: str, tag: str) -> str:
    """`ref` checked as an image reference, with `:tag` added when it has neither tag nor digest."""
    match = _IMAGE_REF.match(ref.strip())
    if match is None:
        raise DeployError(f"--image {ref!r} is not an image reference: write [REGISTRY/]REPOSITORY[:TAG], e.g. "
                          f"acme.azurecr.io/triage:{tag} (lowercase repository)")
    return ref.strip() if match["tag"] or match["digest"] else f"{ref.strip()}:{tag}"


def pushes(image: str, settings: dict[str, Any]) -> bool:
    """Whether a built image goes to a registry: `deploy.docker.registry` is set, or the image
    names a registry host (a first component with '.' or ':', or localhost)."""
    if settings.get("registry"):
        return True
    match = _IMAGE_REF.match(image)
    host = match["host"] if match else None
    return bool(host) and ("." in host or ":" in host or host == "localhost")


def serve_command(request: DeployRequest, settings: dict[str, Any]) -> list[str]:
    """The entrypoint, relative to the context's root (WORKDIR in the image)."""
    flow = "app/" + request.version.flow if request.version.flow not in ("", ".") else "app"
    return ["promptwise", "serve", flow, "--host", "0.0.0.0", "--port", str(settings.get("port", DEFAULT_PORT))]


def dockerfile(request: DeployRequest, settings: dict[str, Any], wheel: str) -> str:
    version = request.version
    port = settings.get("port", DEFAULT_PORT)
    base = settings.get("base") or f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    health = (f"import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}/health', "
              f"timeout=4).status == 200 else 1)")
    return f"""# Promptwise {version.id} ({version.content_hash}): built by `promptwise deploy --target docker`.
FROM {base}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid {USER_ID} --shell /usr/sbin/nologin promptwise
WORKDIR /srv

# Pinned requirements first: this layer is reused until they change.
COPY requirements.txt ./
RUN pip install --no-cache-dir --requirement requirements.txt
COPY wheels/ ./wheels/
RUN pip install --no-cache-dir --no-deps wheels/{wheel}

COPY --chown={USER_ID}:{USER_ID} app/ ./app/
LABEL org.opencontainers.image.title="{version.name}" \\
      org.opencontainers.image.version="{version.id}" \\
      io.promptwise.content-hash="{version.content_hash}"
ENV PROMPTWISE_VERSION="{version.id}" PROMPTWISE_CONTENT_HASH="{version.content_hash}"

USER {USER_ID}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD ["python", "-c", {json.dumps(health)}]
# API keys come from the environment ({API_KEY_ENV}); serve refuses 0.0.0.0 without them.
ENTRYPOINT {json.dumps(serve_command(request, settings))}
"""


def _with_keys(settings_text: bytes) -> bytes:
    """The workspace settings with `serve.keys` requiring ${env:PROMPTWISE_API_KEY}, unless they
    name keys of their own (never a key in clear: the settings only refer to the environment)."""
    import yaml

    data = yaml.safe_load(settings_text.decode("utf-8")) or {}
    if not isinstance(data, dict):
        raise DeployError("the version's promptwise.yaml is not a mapping of settings")
    serve = data.get("serve") or {}
    if not isinstance(serve, dict):
        raise DeployError("the version's promptwise.yaml: `serve` must be a mapping of settings")
    if serve.get("keys"):
        return settings_text
    serve["keys"] = [{"consumer": "default", "key": "${env:" + API_KEY_ENV + "}"}]
    data["serve"] = serve
    header = f"# The version's settings; serve.keys added by the docker target (the key comes from {API_KEY_ENV}).\n"
    return (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)).encode("utf-8")


def _wheel_requires(wheel: Path) -> list[str]:
    """Requires-Dist of the wheel that goes into the image (the installed metadata of an editable
    checkout can be older than its pyproject.toml)."""
    import zipfile
    from email.parser import HeaderParser

    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            raise DeployError(f"{wheel}: not a wheel (no METADATA)")
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return headers.get_all("Requires-Dist") or []


def pinned_requirements(promptwise_requires: list[str], flow_requirements: str = "") -> str:
    """Every distribution promptwise[serve] needs (from `promptwise_requires`, its Requires-Dist),
    pinned (`name==version`) to what is installed here, then the flow's own requirements as
    written."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = default_environment()
    pins: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [("promptwise", frozenset({SERVE_EXTRA}))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name == "promptwise":
            requires = promptwise_requires
        else:
            try:
                distribution = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                raise DeployError(f"{name} is not installed here, so its version cannot be pinned; install "
                                  f"'promptwise[serve]' in this environment first") from None
            pins[canonicalize_name(name)] = distribution.version
            requires = distribution.requires or []
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is not None:
                wanted = [""] + sorted(extras)
                if not any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in wanted):
                    continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    lines = ["# Pinned by promptwise deploy --target docker: the versions promptwise[serve] was tested with."]
    lines += [f"{name}=={pins[name]}" for name in sorted(pins)]
    own = flow_requirements.strip()
    if own:
        lines += ["", "# The flow's own requirements.txt, as written."] + own.splitlines()
    return "\n".join(lines) + "\n"


def _wheel(configured: Any) -> Path:
    """A wheel of this Promptwise: the one configured, or built from this checkout (once per
    source state: cached under the system temp folder by the package's version)."""
    if configured:
        wheel = Path(str(configured)).expanduser()
        if not wheel.is_file() or wheel.suffix != ".whl":
            raise DeployError(f"`deploy.docker.wheel` {configured}: not a wheel file")
        return wheel
    import promptwise

    source = Path(promptwise.__file__).resolve().parent.parent.parent
    if not (source / "pyproject.toml").is_file():
        raise DeployError("this Promptwise is not installed from a source checkout, so no wheel can be built; set "
                          "`deploy.docker.wheel` to a promptwise wheel file")
    out = Path(tempfile.gettempdir()) / f"promptwise-wheel-{os.getuid() if hasattr(os, 'getuid') else 0}"
    out.mkdir(parents=True, exist_ok=True)
    stamp = _source_stamp(source)
    cached = sorted(out.glob(f"{stamp}/promptwise-*.whl"))
    if cached:
        return cached[-1]
    target = out / stamp
    with tempfile.TemporaryDirectory(prefix="promptwise-source-") as folder:
        # A copy of the package's sources: the build leaves nothing in the checkout, and no stale
        # build/ output of an earlier state can slip into the wheel.
        copy = Path(folder)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (source / name).is_file():
                shutil.copy2(source / name, copy / name)
        shutil.copytree(source / "server" / "promptwise", copy / "server" / "promptwise",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # With setuptools and wheel here (the docker extra) nothing is downloaded; otherwise pip
        # fetches the build backend that pyproject.toml's build-system names.
        local = all(importlib.util.find_spec(name) is not None for name in ("setuptools", "wheel"))
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                                 *(["--no-build-isolation"] if local else []), "--wheel-dir", str(target), str(copy)],
                                capture_output=True, text=True, timeout=300)
    wheels = sorted(target.glob("promptwise-*.whl"))
    if result.returncode != 0 or not wheels:
        raise DeployError(f"building the promptwise wheel from {source} failed: "
                          f"{(result.stderr or result.stdout).strip()[-600:]}")
    return wheels[-1]


def _source_stamp(source: Path) -> str:
    """Names the checkout's state: the newest modification time of its package files."""
    files = [source / "pyproject.toml", *(source / "server" / "promptwise").rglob("*")]
    newest = max((p.stat().st_mtime_ns for p in files if p.is_file() and p.suffix != ".pyc"), default=0)
    return f"src-{newest}"


def engine() -> str:
    """docker or podman, when installed and its engine answers; DeployError saying which is missing."""
    found = [shutil.which(name) for name in ("docker", "podman")]
    found = [tool for tool in found if tool]
    if not found:
        raise DeployError("neither docker nor podman is installed here, so the image cannot be built; write the "
                          "build context with --out DIR and build it where one is (docker build DIR)")
    problems = []
    for tool in found:
        try:
            result = subprocess.run([tool, "info"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as error:
            problems.append(f"{Path(tool).name}: {error}")
            continue
        if result.returncode == 0:
            return tool
        message = (result.stderr or result.stdout).strip().splitlines()
        problems.append(f"{Path(tool).name} info: {message[-1] if message else 'exit ' + str(result.returncode)}")
    raise DeployError("no container engine answers here (" + "; ".join(problems) + "), so the image cannot be "
                      "built; start one, or write the build context with --out DIR and build it elsewhere")


def _call(command: list[str], step: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = scrub((result.stderr or result.stdout).strip()[-1500:])
        raise DeployError(f"{Path(command[0]).name} {step} failed (exit {result.returncode}); nothing was "
                          f"changed where the previous image runs:\n{tail}")

