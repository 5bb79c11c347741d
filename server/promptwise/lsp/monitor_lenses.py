"""The live lenses over a flow file (issue 11 part 4, issue 12 part 6):

- "live v7: p95 1.1 s · 0.4% errors · $3.20/day": the live version's served/batch traffic of
  the last 24 h, from the monitoring aggregates (the same figures as `promptwise monitor`);
  shown only when that traffic exists. It opens a trace of that version (the latest error when
  there are errors, else the slowest request).
- "v7 live in docker, kubernetes · v6 in azureml · serve: v7 95% · v8 5%": where each version
  runs, from the audit log (last successful deploy / promote / rollback per target) and the
  flow's rollout state; it opens the Monitor view of the flow.

Which version is "live": the rollout's heaviest version, else the last one deployed anywhere,
else the version with the most recent traffic. Everything is read in the executor, read-only,
and a missing or damaged store or registry means no lens, never a failed request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from lsprotocol import types

from promptwise.lsp import uris
from promptwise.lsp.context import DocumentContext
from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.monitor_lenses")

WINDOW_SECONDS = 24 * 3600
SHOW_TRACE = "promptwise.showTrace"
SHOW_MONITOR = "promptwise.showMonitor"  # the extension's Monitor view
TOP = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


@dataclass(frozen=True)
class LiveLens:
    title: str
    trace_id: str | None = None  # the trace clicking opens; None: the Monitor view opens
    opens: bool = True  # False: a label (the Monitor view of a name another flow owns shows that flow)


def traces_flow_name(path: Path) -> str:
    """The flow's name as traces record it: its folder's name for flow.* files, else the stem."""
    return path.parent.name if path.name.lower().startswith("flow.") else path.stem


def short(version: str) -> str:
    """`triage:v7` -> `v7`; anything else (a content hash prefix `sha256:b6a58`) stays as it is."""
    name, _, tag = version.rpartition(":")
    return tag if name and tag[:1] == "v" and tag[1:].isdigit() else version


def seconds_text(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def figures_title(version: str, group, *, weight: int | None = None) -> str:
    """"live v7: p95 1.1 s · 0.4% errors · $3.20/day" (the window is one day, so its cost is per day)."""
    from promptwise.costing.formatting import format_usd

    label = f"live {short(version)}" + (f" ({weight}%)" if weight is not None else "")
    parts = [f"p95 {seconds_text(group.latency_ms.get('p95'))}", f"{group.error_rate * 100:.1f}% errors"]
    if group.cost_usd is not None:
        parts.append(f"{format_usd(group.cost_usd)}/day")
    return f"{label}: " + " · ".join(parts)


def where_title(deployed: dict[str, str], weights: dict[str, int]) -> str | None:
    """"v7 live in docker, kubernetes · v6 in azureml · serve: v7 95% · v8 5%"."""
    by_version: dict[str, list[str]] = {}
    for target, version in sorted(deployed.items()):
        by_version.setdefault(version, []).append(target)
    parts = []
    for index, (version, targets) in enumerate(sorted(by_version.items(), key=lambda item: -_number(item[0]))):
        parts.append(f"{short(version)} {'live in' if index == 0 else 'in'} {', '.join(targets)}")
    if weights:
        parts.append("serve: " + " · ".join(f"{short(v)} {w}%" for v, w in
                                            sorted(weights.items(), key=lambda item: -item[1])))
    return " · ".join(parts) or None


def _registered_elsewhere(version: str, name: str) -> bool:
    """`other:v3` when the flow goes by `name` (a content hash label is nobody's in particular)."""
    other, _, tag = version.rpartition(":")
    return bool(other) and tag[:1] == "v" and tag[1:].isdigit() and other != name


def _number(version: str) -> int:
    tag = version.rpartition(":v")[2]
    return int(tag) if tag.isdigit() else 0


class Deployment(NamedTuple):
    deployed: dict[str, str]  # target -> version last deployed there successfully
    weights: dict[str, int]  # the rollout's weights
    taken_by: object | None = None  # the Version owning the flow's name when another flow does
    name: str | None = None  # the registered name the flow goes by (None: no registry)


def registered_name(registry, path: Path, workspace) -> tuple[str, object | None]:
    """(the registered name the flow at `path` goes by, None) — its default name unless another
    flow owns that (chat/chat.prompty and chat2/chat.prompty are both "chat"): then a name of its
    own (`package --name`), else (the default name, the owning Version)."""
    from promptwise.deploy.registry import default_name, flow_entry
    from promptwise.documents.content_hash import behaviour_files

    flow_file = behaviour_files(path)[0]
    name = default_name(flow_file)
    owner = registry.owner(name, flow_file, workspace)
    if owner is None:
        return name, None
    entry = flow_entry(flow_file, Path(workspace.root).resolve())
    for other in dict.fromkeys(version.name for version in registry.list() if version.flow == entry):
        if registry.owner(other, flow_file, workspace) is None:  # its newest version is this flow's
            return other, None
    return name, owner


def deployment_state(path: Path) -> Deployment:
    """Where the flow at `path` runs and its rollout weights, under the registered name it owns.
    Empty when the workspace has no registry or the flow was never deployed; when its name
    belongs to another flow, empty with `taken_by` set (that flow's state is not this one's)."""
    from promptwise.config import find_workspace_root, load_workspace
    from promptwise.deploy import audit, rollout
    from promptwise.deploy.registry import Registry

    workspace = load_workspace(find_workspace_root(path))
    deployed: dict[str, str] = {}
    current: dict = {}
    name = None
    registry = Registry.existing(workspace)  # the workspace's file, a shared folder's or a team database
    if registry is not None:
        with registry:
            name, taken_by = registered_name(registry, path, workspace)
            if taken_by is not None:
                return Deployment({}, {}, taken_by, name)
            for entry in audit.entries(registry.database, name=name):
                if (entry.outcome == "ok" and entry.target and entry.to_version
                        and entry.action in ("deploy", "promote", "rollback")):
                    deployed[entry.target] = entry.to_version
            # the state file beside the registry, or the team database's (through its connection)
            current = rollout.read(rollout.state_for(workspace, name, registry))["current"] or {}
    weights = {str(v): w for v, w in (current.get("weights") or {}).items() if isinstance(w, int) and w > 0}
    return Deployment(deployed, weights, None, name if registry is not None else None)


def taken_title(owner) -> str:
    """The one lens of a flow whose name another flow owns: its traces share that flow's name,
    so figures would be the other flow's."""
    return (f"name {owner.name!r} belongs to another flow ({owner.flow}, {owner.id}): "
            f"no live figures here; package this flow with --name to deploy it")


def live_lenses(path: Path, now_ns: int | None = None) -> list[LiveLens]:
    """In the executor: the live lenses of the flow at `path` (see the module's docstring)."""
    from promptwise.config import find_workspace_root
    from promptwise.monitoring.aggregates import Selection, example_traces, figures
    from promptwise.monitoring.source import open_traces

    try:
        state = deployment_state(path)
    except Exception:  # an unreadable settings file, registry or rollout state: figures still help
        logger.debug("no deployment state for %s", path, exc_info=True)
        state = Deployment({}, {})
    if state.taken_by is not None:
        return [LiveLens(taken_title(state.taken_by), opens=False)]
    deployed, weights = state.deployed, state.weights
    found: list[LiveLens] = []
    where = where_title(deployed, weights)
    if where:
        found.append(LiveLens(where))
    now_ns = now_ns or time.time_ns()
    connection = open_traces(find_workspace_root(path))
    if connection is None:
        return found
    try:
        selection = Selection(since_ns=now_ns - WINDOW_SECONDS * 10**9, flow=traces_flow_name(path))
        groups = {group.key: group for group in figures(connection, selection, by="version") if group.requests}
        if weights:
            live = sorted(weights, key=lambda v: -weights[v])
        elif deployed:
            live = [max(deployed.values(), key=_number)]
        else:  # never deployed: the version that answered last, not another registered name's
            # (traces name a flow by its file: chat2/chat.prompty packaged as chat2 is "chat" too)
            own = [g for g in groups.values() if state.name is None or not _registered_elsewhere(g.key, state.name)]
            live = [max(own, key=lambda g: g.last_ns).key] if own else []
        for version in live:
            group = groups.get(version)
            if group is None:
                continue
            chosen = Selection(since_ns=selection.since_ns, flow=selection.flow, version=version)
            example = example_traces(connection, chosen, errors_only=bool(group.errors), slowest=not group.errors,
                                     limit=1)
            weight = weights.get(version) if len(weights) > 1 else None
            found.append(LiveLens(figures_title(version, group, weight=weight), example[0] if example else None))
    finally:
        connection.close()
    return found


# Lenses are asked for on every edit, and a day of traffic can be a million rows: the figures
# are kept per flow for a short while, or until the span store is written (a new run or request).
CACHE_SECONDS = 30.0
_cache: dict[Path, tuple[float, tuple, list[LiveLens]]] = {}


def _store_stamp(path: Path) -> tuple:
    """The span store's files' modification times (SQLite in WAL mode writes the -wal file)."""
    from promptwise.config import find_workspace_root
    from promptwise.tracing.store import store_path

    store = store_path(find_workspace_root(path))
    stamp = []
    for file in (store, store.with_name(store.name + "-wal")):
        try:
            stamp.append(file.stat().st_mtime_ns)
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def _safe_live_lenses(path: Path) -> list[LiveLens]:
    now = time.monotonic()
    try:
        stamp = _store_stamp(path)
    except Exception:
        stamp = ()
    cached = _cache.get(path)
    if cached is not None and now - cached[0] < CACHE_SECONDS and cached[1] == stamp:
        return cached[2]
    try:
        found = live_lenses(path)
    except Exception:  # a damaged or locked store: no lens, never a failed request
        logger.warning("live lenses failed for %s", path, exc_info=True)
        found = []
    _cache[path] = (now, stamp, found)
    return found


async def lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    if context.kind not in ("flow_dag", "flex_flow", "prompty") or uris.is_unsaved(context.path):
        return []
    found = []
    for lens in await ls.run_cpu(_safe_live_lenses, context.path):
        # Where it runs opens the Monitor view (a client command) for this flow.
        command = types.Command(title=lens.title, command=SHOW_MONITOR, arguments=[{"uri": context.uri}])
        if not lens.opens:  # no command: the editor shows the title as a label
            command = types.Command(title=lens.title, command="")
        elif lens.trace_id:
            command = types.Command(title=lens.title, command=SHOW_TRACE,
                                    arguments=[{"trace_id": lens.trace_id, "uri": context.uri}])
        found.append(types.CodeLens(range=TOP, command=command))
    return found
