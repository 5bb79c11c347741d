"""The `rollout:` and `registry:` sections checked ahead, for `promptwise check` and the editor's
diagnostics on promptwise.yaml (PW111), at the setting's line.

Nothing here decides what is valid: `rollout:` goes through rollout_file.resolve and `registry:`
through registry_root / registry_url, the functions `promptwise serve`, `rollout` and `package`
call. A rollout's versions are looked up in the workspace's registry only when it is a local
file (a shared folder included); a team database is not queried from the editor, so there
only the form is checked. A `${env:NAME}` that is not exported here is a warning (CI and
editors often lack production secrets), as the serve settings' check does.

The analysis reaches this module by name (analysis/settings.py): it sits below deploy/.
"""

from __future__ import annotations

import re
from pathlib import Path

from promptwise.analysis.problem import Problem, Severity
from promptwise.deploy.errors import DeployError
from promptwise.documents.yaml_nodes import YamlMapping, settings_mapping

CODE = "PW111"
SECTIONS = ("rollout", "registry")
_FILE_LINE = re.compile(r"^.*?:\d+: ")


def check(path: Path, text: str, root: YamlMapping) -> list[Problem]:
    from promptwise.config import WorkspaceConfig

    settings = settings_mapping(root)
    if settings is None:
        return []
    lines = {entry.key_text: entry.key.range.start.line + 1 for entry in root if entry.key_text}
    workspace = WorkspaceConfig(root=path.parent, settings=settings, source=path, section_lines=lines)
    problems, registry = _registry(workspace, root)
    section = root.get("rollout")
    if isinstance(section, YamlMapping):
        problems += _rollouts(path, section, registry)
    if registry is not None:
        registry.close()
    return problems


def _registry(workspace, root: YamlMapping):
    """(problems of `registry:`, the local registry to look versions up in, or None)."""
    from promptwise.deploy.registry import REGISTRY_FILE, Registry, registry_root, registry_url

    node = root.get("registry")
    try:
        folder = registry_root(workspace)
        url = registry_url(workspace)
    except DeployError as error:
        if node is None or not isinstance(node, YamlMapping) or "unknown `registry` setting" in str(error):
            return [], None  # the schema check reports a section of the wrong type and unknown keys (PW103/104)
        severity = Severity.WARNING if "which is not set" in str(error) else Severity.ERROR
        return [_problem(workspace.source, (node.get("url") if isinstance(node, YamlMapping) else None) or node,
                         str(error), severity)], None
    if url is not None or not (folder / REGISTRY_FILE).is_file():
        return [], None
    try:
        return [], Registry(folder, readonly=True)
    except Exception:  # noqa: BLE001 - an unreadable registry: the form is still checked
        return [], None


def _rollouts(path: Path, section: YamlMapping, registry) -> list[Problem]:
    from promptwise.deploy.rollout_file import DeclarationError, Declared, resolve

    problems = []
    for entry in section:
        if entry.key_text is None:
            continue
        declared = Declared(entry.key_text, path, entry.value, entry.key)
        try:
            resolve(declared, registry if registry is not None else _AnyVersion(declared.name))
        except DeclarationError as error:
            problems.append(_problem(path, error.node, str(error), Severity.ERROR))
    return problems


class _AnyVersion:
    """A registry where every version exists: the declaration's form checked without one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, ref: str):
        from types import SimpleNamespace

        name = self.name if ref.startswith("sha256:") else ref.partition(":")[0]
        return SimpleNamespace(id=ref, name=name)


def _problem(path: Path, node, message: str, severity: Severity) -> Problem:
    from promptwise.documents.source import Range

    range_ = node.range if node is not None else Range.empty(0, 0)
    return Problem(path, range_, severity, CODE, _FILE_LINE.sub("", message, count=1))
