"""The interface every deployment target implements: render artefacts, apply, status, rollback.

A target turns one packaged version (a snapshot in the registry) into what its platform runs.
`render` is pure (files only, no network, no SDK calls), so `promptwise deploy --out DIR` works
without credentials and tests can validate the artefacts with the platform's own validators;
`apply` pushes rendered artefacts (the one place a target talks to its platform); `status`
reports what runs where; `rollback` returns the platform to an earlier version.

The command (commands/deploy.py) runs governance (region allow-list, secrets, check) and writes
the audit entry; targets do neither. A target imports its SDK lazily, inside `require()` /
`apply()`, so listing or rendering never pays for it, and the core never imports a cloud SDK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from promptwise.common.extras import missing_modules
from promptwise.deploy.errors import MissingExtra

Progress = Callable[[str], None]  # one line of progress for the user (stderr, the editor's progress)


@dataclass(frozen=True)
class VersionRef:
    """The version being deployed, as targets see it."""

    id: str               # "<name>:v<N>", e.g. "log-triage:v7"
    name: str             # the flow's registered name, e.g. "log-triage"
    number: int           # 7
    content_hash: str     # "sha256:..."
    snapshot: Path        # the snapshot's root folder (a workspace of its own: promptwise.yaml at the top)
    flow: str             # the flow's path inside the snapshot (POSIX), e.g. "log-triage" or "chat.prompty"

    @property
    def tag(self) -> str:
        """`v7`: an image tag, a deployment name suffix."""
        return f"v{self.number}"

    @property
    def slug(self) -> str:
        """`log-triage-v7`: a DNS-1123 label (Kubernetes and Azure ML names): lowercase letters,
        digits and '-', at most 63, the version number always kept."""
        suffix = f"-v{self.number}"
        base = "".join(c if c.isalnum() else "-" for c in self.name.lower()).strip("-")
        return base[:63 - len(suffix)].rstrip("-") + suffix


@dataclass
class DeployRequest:
    version: VersionRef
    settings: dict[str, Any] = field(default_factory=dict)  # `deploy.<target>` from promptwise.yaml
    weight: int | None = None      # share of traffic for this version (targets that split traffic)
    previous: str | None = None    # the version id it replaces, when known (for the audit and rollback)
    image: str | None = None       # `--image`: the container image reference, instead of the settings' one


@dataclass
class Artefacts:
    """Rendered files, by POSIX path relative to the output folder."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    executable: set[str] = field(default_factory=set)  # paths to mark executable (scripts)

    def write(self, out: Path) -> list[Path]:
        """Write every file under `out` (created if needed); returns the paths written."""
        written = []
        for name, content in sorted(self.files.items()):
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            if name in self.executable:
                path.chmod(0o755)
            written.append(path)
        return written


@dataclass
class Outcome:
    """What apply / rollback did, for the user and the audit log."""

    target: str
    version: str | None
    summary: str                              # one line: "pushed registry/log-triage:v7"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Status:
    target: str
    name: str
    state: str                                # e.g. "running", "not deployed", "unknown"
    versions: dict[str, int] = field(default_factory=dict)  # version id -> traffic weight
    details: dict[str, Any] = field(default_factory=dict)


class Target(ABC):
    """One deployment platform. Subclasses set `name`, `extra` and `modules`."""

    name: ClassVar[str]
    extra: ClassVar[str | None] = None        # the pip extra that brings `modules`
    modules: ClassVar[tuple[str, ...]] = ()   # importable names the target needs to apply
    cloud: ClassVar[bool] = False             # lands in a region: checked against deploy.allowed_regions
    splits_traffic: ClassVar[bool] = False    # serves several versions at once by weight (`--weight`)

    def require(self) -> None:
        """MissingExtra (naming the pip install) unless the target's SDK is importable."""
        missing = missing_modules(*self.modules)
        if missing:
            raise MissingExtra(self.name, missing, self.extra or self.name)

    def precheck(self, settings: dict[str, Any]) -> None:
        """DeployError when `apply` cannot work from here (no engine, no credentials, no cluster):
        called before rendering, so the user learns it before waiting for anything."""

    def region(self, settings: dict[str, Any]) -> str | None:
        """The region a deployment with these settings lands in (checked against
        `deploy.allowed_regions` before anything is called); None for local targets."""
        return None

    @abstractmethod
    def render(self, request: DeployRequest) -> Artefacts:
        """The files that deploy `request.version`: pure, no network."""

    @abstractmethod
    def apply(self, request: DeployRequest, artefacts: Artefacts, progress: Progress) -> Outcome:
        """Push the artefacts. Raises DeployError (the platform's message, redacted) on refusal;
        a failed push must leave the previous deployment serving."""

    def status(self, name: str, settings: dict[str, Any]) -> Status:
        return Status(self.name, name, "unknown", details={"reason": f"the {self.name} target cannot report status"})

    def rollback(self, name: str, to_version: VersionRef, settings: dict[str, Any], progress: Progress) -> Outcome:
        """Serve `to_version` again. The default re-applies its rendered artefacts."""
        request = DeployRequest(to_version, settings)
        return self.apply(request, self.render(request), progress)


def _importable(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a dotted name whose parent
    package is absent, `azure.ai.ml` where only `azure.identity` is installed, is not)."""
    return not missing_modules(module)
