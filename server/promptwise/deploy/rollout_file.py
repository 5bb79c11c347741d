"""Rollouts declared in a file: a `rollout:` section in promptwise.yaml, or in `deploy.yaml` beside it.

    rollout:
      triage:                       # the flow's registered name (what `promptwise package` names it)
        weights: {v1: 95, v2: 5}    # NAME:vN or vN; whole percents adding up to 100
        sticky_key: x-user-id       # optional: one user, one version
        shadow: {version: v3, share: 10}   # optional: also run 10% of requests on v3, never returned

The file is the desired state; the state file that a running server watches (rollout.py) is
what is served. `promptwise serve FLOW` applies the flow's declared rollout when it differs from
the one last applied from the file, a running server applies an edited declaration by itself
(serving/rollout.py watches these files: apply_edited), and `promptwise rollout apply FLOW`
applies it on demand. The CLI's `set`, `promote` and `rollback` still change what is served; a restart does
not undo them unless the declaration changed since it was last applied (so a rollback is never
silently reverted by the next restart).

Every mistake is reported with the file and line before anything changes: weights that do not
add up to 100, a version that is not in the registry or belongs to another flow, unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptwise.deploy.errors import DeployError

DEPLOY_FILE = "deploy.yaml"
SECTION = "rollout"
_KEYS = {"weights", "sticky_key", "shadow"}


@dataclass(frozen=True)
class Declared:
    name: str
    source: Path
    node: object  # the flow's entry: its value (a YamlMapping when right) and key, for lines
    key: object

    def where(self, node=None) -> str:
        line = (node or self.key).range.start.line + 1
        return f"{self.source}:{line}"

    def error(self, node, message: str) -> "DeclarationError":
        """`message` at `node`'s line (the flow's key when None)."""
        return DeclarationError(f"{self.where(node)}: {message}", node or self.key)


class DeclarationError(DeployError):
    """A mistake in a rollout declaration; `node` is where (for the editor's diagnostics)."""

    def __init__(self, message: str, node) -> None:
        super().__init__(message)
        self.node = node


def _section(file: Path):
    """The `rollout` mapping node of a settings file, or None."""
    from promptwise.documents.files import read_user_text
    from promptwise.documents.yaml_nodes import YamlMapping, parse_yaml

    try:
        text = read_user_text(file).lstrip("\ufeff")
    except (OSError, UnicodeDecodeError) as error:
        raise DeployError(f"{file}: cannot read the rollout declaration ({getattr(error, 'strerror', None) or error})")
    document = parse_yaml(text)
    if document.errors:
        error = document.errors[0]
        raise DeployError(f"{file}:{error.range.start.line + 1}: invalid YAML ({error.message}); fix the syntax")
    if not isinstance(document.root, YamlMapping):
        return None
    section = document.root.get(SECTION)
    if section is None:
        return None
    if not isinstance(section, YamlMapping):
        raise DeployError(f"{file}:{section.range.start.line + 1}: `rollout` must map flow names to their rollout "
                          f"(triage: {{weights: {{v1: 95, v2: 5}}}})")
    return section


def sources(workspace) -> list[Path]:
    """The files that can declare rollouts: promptwise.yaml (when it is the settings file) and deploy.yaml."""
    found = []
    if workspace.source is not None and workspace.source.name != "pyproject.toml":
        found.append(Path(workspace.source))
    deploy_file = Path(workspace.root) / DEPLOY_FILE
    if deploy_file.is_file():
        found.append(deploy_file)
    return found


def find(workspace, name: str) -> Declared | None:
    """The declaration of flow `name`, or None. Two files declaring it is an error."""
    found = []
    for file in sources(workspace):
        section = _section(file)
        entry = section.entry(name) if section is not None else None
        if entry is not None:
            found.append(Declared(name, file, entry.value, entry.key))
    if len(found) > 1:
        raise DeployError(f"the rollout of {name} is declared twice, in {found[0].where()} and {found[1].where()}; "
                          f"keep one")
    return found[0] if found else None


def resolve(declared: Declared, registry) -> dict:
    """The state the declaration asks for, versions as registry ids, checked as `rollout set`
    checks it; DeployError with the file and line of the first mistake."""
    from promptwise.deploy import rollout
    from promptwise.documents.yaml_nodes import YamlMapping, YamlScalar, describe

    node = declared.node
    if not isinstance(node, YamlMapping):
        raise declared.error(None, f"the rollout of {declared.name} must be a mapping with `weights` "
                          f"(weights: {{v1: 95, v2: 5}}), not {describe(node)}")
    for entry in node:
        if entry.key_text not in _KEYS:
            raise declared.error(entry.key, f"unknown rollout setting `{entry.key_text}`; known: "
                              f"{', '.join(sorted(_KEYS))}")
    weights_node = node.get("weights")
    if not isinstance(weights_node, YamlMapping) or not len(weights_node):
        raise declared.error(weights_node, f"the rollout of {declared.name} needs `weights`: "
                          f"VERSION: PERCENT, e.g. weights: {{v1: 95, v2: 5}}")
    weights: dict[str, int] = {}
    for entry in weights_node:
        version = _version(declared, registry, entry.key)
        value = entry.value.value if isinstance(entry.value, YamlScalar) else None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise declared.error(entry.value, f"the weight of {version} must be a whole percent "
                              f"0-100, not {describe(entry.value)}")
        if version in weights:
            raise declared.error(entry.key, f"{version} is given twice; give each version once")
        weights[version] = value
    state: dict = {"weights": weights}
    try:
        rollout.check_state(state, declared.where(weights_node))  # they add up to 100
    except DeployError as error:
        raise DeclarationError(str(error), weights_node) from None
    sticky = node.get("sticky_key")
    if sticky is not None:
        if not isinstance(sticky, YamlScalar) or not isinstance(sticky.value, str) or not sticky.value.strip():
            raise declared.error(sticky, "`sticky_key` must be a header name such as x-user-id")
        state["sticky_key"] = sticky.value.strip().lower()
    shadow = node.get("shadow")
    if shadow is not None:
        version_node = shadow.get("version") if isinstance(shadow, YamlMapping) else None
        if version_node is None:
            raise declared.error(shadow, f"`shadow` must be {{version: vN, share: PERCENT}}")
        share_node = shadow.get("share")
        share = share_node.value if isinstance(share_node, YamlScalar) else 100
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 100:
            raise declared.error(share_node, f"the shadow share must be a percent above 0 and at "
                              f"most 100, not {describe(share_node)}")
        state["shadow"] = {"version": _version(declared, registry, version_node), "share": share}
    return rollout.check_state(state, declared.where())


def _version(declared: Declared, registry, node) -> str:
    """A registry id for a version written as NAME:vN or vN, which must be of this flow."""
    from promptwise.documents.yaml_nodes import YamlScalar

    text = node.value if isinstance(node, YamlScalar) else None
    if not isinstance(text, str) or not text.strip():
        raise declared.error(node, f"a version is written NAME:vN or vN, e.g. {declared.name}:v2")
    ref = text.strip()
    if ref[:1] == "v" and ref[1:].isdigit():
        ref = f"{declared.name}:{ref}"
    try:
        version = registry.get(ref)
    except DeployError as error:
        raise declared.error(node, str(error)) from None
    if version.name != declared.name:
        raise declared.error(node, f"{version.id} is a version of {version.name!r}, not of "
                          f"{declared.name!r}")
    return version.id


def apply(context, name: str, state_file: Path, *, force: bool = False) -> tuple[Declared, dict] | None:
    """Make the declared rollout of `name` current: when it differs from the declaration last
    applied (or, with `force`, from what is served). Returns (declaration, state) when it
    changed what is served, None when nothing was declared or nothing changed. Audited."""
    from promptwise.deploy import audit, rollout

    declared = find(context.workspace, name)
    if declared is None:
        return None
    state = resolve(declared, context.registry)
    with rollout.locked(state_file):  # compared and written as one step (other workers, other machines)
        data = rollout.read(state_file)
        last = (data.get("declared") or {}).get("state")
        if data["current"] == state or (not force and last == state):
            if last != state:  # served already: remember it as applied
                rollout.write(state_file, {**data, "declared": {"source": str(declared.source), "state": state}})
            return None
        before = rollout.replace_current(state_file, state,
                                         declared={"source": str(declared.source), "state": state})
        audit.record(context.registry.database, "rollout", who=context.who, name=name,
                     from_version=rollout.main_version(before), to_version=rollout.main_version(state),
                     target="serve", details={"from": before, "to": state, "declared_in": str(declared.source)})
    return declared, state


def apply_on_serve(workspace, name: str, state_file=None) -> tuple[Declared, dict] | None:
    """`promptwise serve`'s step: apply the flow's declaration if it changed since last applied.
    `state_file`: where the state lives (rollout.state_for); None: the team database through the
    registry's connection, or the file."""
    if find(workspace, name) is None:
        return None
    from promptwise.deploy import rollout
    from promptwise.deploy.audit import actor
    from promptwise.deploy.registry import Registry
    from promptwise.deploy.service import Context

    context = Context(workspace, Registry.for_workspace(workspace), actor(workspace.root))
    try:
        return apply(context, name, state_file if state_file is not None
                     else rollout.state_for(workspace, name, context.registry))
    finally:
        context.close()


def watched_files(workspace_root: Path) -> tuple[Path, Path]:
    """The files a running server watches for an edited declaration (either may appear later)."""
    from promptwise.config import SETTINGS_FILE

    return Path(workspace_root) / SETTINGS_FILE, Path(workspace_root) / DEPLOY_FILE


def apply_edited(flow: Path) -> tuple[Declared, dict] | None:
    """A running server's step when a declaration file changed: the settings read again and the
    declaration applied as on start (same checks, same rule: only a changed declaration changes
    what is served). Several workers (or servers) see the same edit: `apply` compares and writes
    under the state's lock, so the first applies it and the rest find it applied."""
    from promptwise.config import load_workspace
    from promptwise.deploy.rollout import flow_name

    return apply_on_serve(load_workspace(flow), flow_name(flow))
