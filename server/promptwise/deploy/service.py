"""What the package / versions / deploy / audit commands do, apart from printing: one place the
CLI (and later the editor) calls, so governance and the audit entry are never skipped."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from promptwise.deploy import audit
from promptwise.deploy.errors import DeployError
from promptwise.deploy.governance import check_region, preflight
from promptwise.deploy.registry import Registry, Version, default_name


@dataclass
class Context:
    """The workspace a command acts in and its registry."""

    workspace: Any  # promptwise.config.WorkspaceConfig
    registry: Registry
    who: str

    def close(self) -> None:
        self.registry.close()

    @property
    def where(self) -> str:
        return str(self.workspace.source or self.workspace.root / "promptwise.yaml")


def open_context(path: Path | str, *, readonly: bool = False) -> Context:
    from promptwise.config import ConfigError, load_workspace

    try:
        workspace = load_workspace(Path(path).resolve())
    except ConfigError as error:
        raise DeployError(str(error)) from None
    if not readonly:
        _refuse_a_registry_in_the_flow(Path(path).resolve(), workspace)
    return Context(workspace, Registry.for_workspace(workspace, readonly=readonly), audit.actor(workspace.root))


def _refuse_a_registry_in_the_flow(path: Path, workspace) -> None:
    """A registry.path inside the DAG / flex flow folder being packaged is refused before the
    registry folder is made (Registry.package refuses it too, but only after opening it): every
    version would copy the ones before it. Hidden folders (.promptwise/) are outside the hash."""
    from promptwise.deploy.registry import _where, _within, registry_root
    from promptwise.documents.content_hash import _FLOW_NAMES as flow_names

    folder = path if path.is_dir() and any((path / n).is_file() for n in flow_names) else \
        path.parent if path.name.lower() in flow_names else None
    root = registry_root(workspace)
    if folder is not None and _within(root, folder):
        raise DeployError(f"{_where(workspace)}: the registry folder {root} is inside the flow folder {folder}: "
                          f"every version would copy the ones before it; set registry.path outside the flow "
                          f"(nothing was created)")


def describe(error: Exception) -> str:
    """One line for the user: a DeployError as it is; an unreadable flow file (OSError) or a
    folder of too many files (ValueError) with its path, before anything was stored."""
    if isinstance(error, DeployError):
        return str(error)
    where = getattr(error, "filename", None)
    return f"{where + ': ' if where else ''}{getattr(error, 'strerror', None) or error}; nothing was packaged or deployed"


def resolve_flow(path: Path | str) -> Path:
    from promptwise.documents.load import document_kind
    from promptwise.engine.errors import FlowError
    from promptwise.engine.flow_path import resolve_flow_path

    try:
        resolved = resolve_flow_path(str(path)).resolve()
    except FlowError as error:
        raise DeployError(str(error)) from None
    # A template, tool or data file is not a flow: packaging its folder's flow under the file's
    # name (classify:v1) would register a version nobody asked for.
    text = None
    if resolved.suffix.lower() in (".yaml", ".yml"):  # a flow under another name is known by its text, as `run` does
        try:
            text = resolved.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return resolved  # unreadable: packaging says so with its path
    if document_kind(resolved, text) not in ("flow_dag", "flex_flow", "prompty"):
        raise DeployError(f"{path}: not a flow; give a flow.dag.yaml, flow.flex.yaml or .prompty file, or the "
                          f"flow's folder (nothing was packaged or deployed)")
    return resolved


def package(context: Context, flow: Path, name: str | None = None) -> tuple[Version, bool]:
    """Governance, then the registry; a new version is audited (`package`)."""
    try:
        preflight(flow, context.workspace.source, "package")
    except DeployError as error:
        audit.record(context.registry.database, "package", who=context.who, name=name or _name_of(flow),
                     outcome="refused", details={"flow": str(flow), "reason": _reason(error)})
        raise
    version, created = context.registry.package(flow, context.workspace, name=name, who=context.who)
    if created:
        previous = [v for v in context.registry.list(version.name) if v.number < version.number]
        audit.record(context.registry.database, "package", who=context.who, name=version.name,
                     from_version=previous[0].id if previous else None, to_version=version.id,
                     details={"content_hash": version.content_hash, "flow": str(flow)})
    return version, created


def _name_of(flow: Path) -> str:
    from promptwise.documents.content_hash import behaviour_files

    try:
        return default_name(behaviour_files(flow)[0])
    except (OSError, ValueError):
        return flow.name


def version_for(context: Context, ref: str, flow: Path | None = None) -> Version:
    """`name:v3`, `name`, a content hash prefix, or `v3` (of the flow's name)."""
    if flow is not None and ref[:1] == "v" and ref[1:].isdigit():
        from promptwise.deploy.registry import check_name_owner

        check_name_owner(context.workspace, flow, context.registry)  # `v1` of this flow, not of a namesake
        ref = f"{_name_of(flow)}:{ref}"
    return context.registry.get(ref)


# ----- evidence -----

def evidence(version: Version, state_dir: Path, limit: int = 10) -> dict:
    """The runs and evaluations of exactly this content, newest first (from the workspace store)."""
    from promptwise.store.run_store import RunStore

    runs: list[dict] = []
    evaluations: list[dict] = []
    if not RunStore.exists_in(state_dir):
        return {"runs": runs, "evaluations": evaluations}
    from promptwise.evaluation.results_store import EvalStore

    with RunStore(state_dir, readonly=True) as store:
        for run in store.list_runs(content_hash=version.content_hash, limit=limit):
            runs.append({"run": run.name, "kind": run.kind, "status": run.status, "created_at": run.created_at,
                         "rows_completed": run.rows_completed, "rows_failed": run.rows_failed,
                         "cost_per_row": (run.cost / run.rows_done) if run.cost is not None and run.rows_done else None,
                         "latency_p95_ms": run.latency_p95_ms, "variants": run.variants or {}})
    with EvalStore(state_dir, readonly=True) as store:
        for stored in store.list_for_content(version.content_hash, limit=limit):
            evaluations.append({"evaluation": stored.name, "run": stored.run, "created_at": stored.created_at,
                                "metrics": headline_metrics(stored.metrics),
                                "cost_per_row": stored.summary.get("cost_per_row"),
                                "latency_p95_ms": stored.summary.get("latency_p95_ms"),
                                "rows": stored.summary.get("rows")})
    return {"runs": runs, "evaluations": evaluations}


def headline_metrics(metrics: dict) -> dict[str, float]:
    """evaluator -> its headline figure: the mean score, or the pass rate when there is none."""
    figures = {}
    for evaluator, entry in (metrics or {}).items():
        if not isinstance(entry, dict):
            continue
        value = entry.get("mean") if entry.get("mean") is not None else entry.get("pass_rate")
        if isinstance(value, (int, float)):
            figures[evaluator] = float(value)
    return figures


def evidence_line(version: Version, found: dict) -> str:
    """`triage v7 (3f2a1b2c…): evaluated by run X, category_match 0.97, $0.0004/row, p95 1.1 s`."""
    from promptwise.costing.calls import format_usd

    head = f"{version.name} v{version.number} ({version.content_hash.removeprefix('sha256:')[:8]}…)"
    if found["evaluations"]:
        latest = found["evaluations"][0]
        parts = [f"evaluated by run {latest['run']}"]
        parts += [f"{name} {_figure(value)}" for name, value in latest["metrics"].items()]
        source = latest
    elif found["runs"]:
        source = found["runs"][0]
        parts = [f"not evaluated; latest run {source['run']} ({source['status']})"]
    else:
        return f"{head}: no run or evaluation of this content in this workspace yet"
    if source.get("cost_per_row") is not None:
        parts.append(f"{format_usd(source['cost_per_row'])}/row")
    if source.get("latency_p95_ms") is not None:
        parts.append(f"p95 {source['latency_p95_ms'] / 1000:.1f} s")
    return f"{head}: " + ", ".join(parts)


def _figure(value: float) -> str:
    return f"{value:.3g}"


# ----- diff -----

def diff(old: Version, new: Version, state_dir: Path) -> dict:
    """Unified diffs of the snapshot files that differ, and the metric deltas of the latest
    evaluation of each version (None where one side has no figure)."""
    changes = []
    for path in sorted(set(old.files) | set(new.files)):
        if old.files.get(path) == new.files.get(path):
            continue
        before = _lines(old.snapshot / path) if path in old.files else []
        after = _lines(new.snapshot / path) if path in new.files else []
        status = "added" if path not in old.files else "removed" if path not in new.files else "changed"
        if before is None or after is None:
            text = f"Binary file {path} {status}\n"
        else:
            text = "".join(difflib.unified_diff(before, after, f"{old.id}/{path}", f"{new.id}/{path}"))
        changes.append({"path": path, "status": status, "diff": text})
    first, second = evidence(old, state_dir, 1), evidence(new, state_dir, 1)
    return {"from": old.id, "to": new.id, "files": changes, "metrics": _deltas(first, second)}


def _lines(path: Path) -> list[str] | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _deltas(first: dict, second: dict) -> dict[str, dict]:
    a = first["evaluations"][0] if first["evaluations"] else {}
    b = second["evaluations"][0] if second["evaluations"] else {}
    figures: dict[str, tuple] = {}
    for name in sorted(set(a.get("metrics", {})) | set(b.get("metrics", {}))):
        figures[name] = (a.get("metrics", {}).get(name), b.get("metrics", {}).get(name))
    for key in ("cost_per_row", "latency_p95_ms"):
        figures[key] = (a.get(key), b.get(key))
    return {name: {"from": x, "to": y, "delta": (y - x) if x is not None and y is not None else None}
            for name, (x, y) in figures.items() if x is not None or y is not None}


# ----- deploy -----

def deploy(context: Context, flow: Path | None, target_name: str, *, version_ref: str | None, out: Path | None,
           progress: Callable[[str], None], weight: int | None = None, image: str | None = None) -> dict:
    """Deploy (or with `out`, render) a version to a target: `weight` is its share of the traffic
    (the version deployed before it keeps the rest), `image` the container image it runs as.
    Every refusal comes before anything changes and is audited; so is the outcome."""
    from promptwise.deploy.targets import get_target
    from promptwise.deploy.targets.base import DeployRequest

    target = get_target(target_name)  # an unknown target: did-you-mean, nothing done
    if weight is not None and not target.splits_traffic:
        raise DeployError(f"--weight: the {target.name} target runs one version and splits no traffic; the "
                          f"kubernetes and azureml targets do (nothing was changed)")
    section = context.workspace.section("deploy")
    settings = section.get(target.name) or {}
    if out is None:
        target.require()  # a missing extra: the pip install, nothing done
    if version_ref:
        version = version_for(context, version_ref, flow)
    elif flow is not None:
        version, created = package(context, flow)
        if created:
            progress(f"packaged {version.id} ({version.content_hash[:19]}…)")
    else:
        raise DeployError("deploy: give the flow to deploy, or --version NAME:vN")
    previous = _last_deployed(context, version.name, target.name)
    # Deploying an older version of the same name over a newer one is a rollback, and is logged so.
    action = "rollback" if previous and _number(previous) > version.number else "deploy"
    record = dict(who=context.who, name=version.name, from_version=previous, to_version=version.id,
                  target=target.name)
    try:
        flow_in_snapshot = context.registry.materialize(version.id)
        settings_file = version.snapshot / "promptwise.yaml"
        preflight(flow_in_snapshot, settings_file if settings_file.is_file() else None, "deploy")
        if target.cloud:
            check_region(target.name, target.region(settings), section, context.where)
        if out is None:
            target.precheck(settings)
        request = DeployRequest(version.ref(), settings, weight=weight, previous=previous, image=image)
        artefacts = target.render(request)
    except DeployError as error:
        audit.record(context.registry.database, action, outcome="refused",
                     details={"reason": _reason(error)}, **record)
        raise
    if out is not None:
        written = artefacts.write(out)
        audit.record(context.registry.database, action, outcome="written", details={"out": str(out)}, **record)
        return {"version": version.id, "target": target.name, "out": str(out), "files": len(written),
                "applied": False}
    try:
        outcome = target.apply(request, artefacts, progress)
    except DeployError as error:
        audit.record(context.registry.database, action, outcome="failed",
                     details={"reason": _reason(error)}, **record)
        raise
    audit.record(context.registry.database, action, outcome="ok", details=outcome.details, **record)
    return {"version": version.id, "target": target.name, "applied": True, "action": action, "summary": outcome.summary,
            **outcome.details}


def _reason(error: Exception) -> str:
    """The refusal for the audit log: one line, bounded."""
    return " ".join(str(error).split())[:500]


def _number(version_id: str) -> int:
    tag = version_id.rpartition(":v")[2]
    return int(tag) if tag.isdigit() else 0


def _last_deployed(context: Context, name: str, target: str) -> str | None:
    for entry in reversed(audit.entries(context.registry.database, name=name)):
        if entry.target == target and entry.outcome == "ok" and entry.action in ("deploy", "promote", "rollback"):
            return entry.to_version
    return None
