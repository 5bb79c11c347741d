"""Rollout state of a flow: which packaged versions a `promptwise serve FLOW` answers with.

One JSON file per flow, `<registry>/rollouts/<name>.json`, written atomically (temp file +
rename) so a running server never reads half a state; the server watches its mtime. The file
keeps the previous states (newest last) so `rollout rollback` is one write, instant. With a team
database (`registry.url`) the same document lives in the database instead
(registry_postgres.RolloutStates, a row per change), so a rollout set on one machine steers the
servers on every other; `state_for` says where. The functions below take either: a Path (the
file) or a RolloutStates.

    {"current": {"weights": {"triage:v1": 95, "triage:v2": 5}, "sticky_key": "x-user-id",
                 "shadow": {"version": "triage:v3", "share": 10}},
     "history": [ ...earlier "current" values... ],
     "declared": {"source": "promptwise.yaml", "state": ...}}  # the last one applied from a file (rollout_file.py)
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from promptwise.deploy.errors import DeployError

HISTORY = 50  # previous states kept for rollback
_REQUIRE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|>|<)\s*(-?[0-9.]+)\s*$")


def state_path(registry_root: Path, name: str) -> Path:
    return registry_root / "rollouts" / f"{name}.json"


def state_for(workspace, name: str, registry=None):
    """Where the rollout state of flow `name` lives: the team database when `registry.url` is
    set (through `registry`'s connection when given, else one of its own: close() it), else the
    state file beside the registry."""
    from promptwise.deploy.registry import _where, registry_root, registry_url

    url = registry_url(workspace)
    if url is None:
        return state_path(registry_root(workspace), name)
    from promptwise.deploy import registry_postgres

    if registry is not None and registry.team_database:
        return registry_postgres.RolloutStates(registry.database, name)
    return registry_postgres.RolloutStates(registry_postgres.connect(url, _where(workspace)), name, url=url,
                                           where=_where(workspace))


def close(where) -> None:
    if not isinstance(where, Path):
        where.close()


def check_state(state: dict, where: str) -> dict:
    """The state as served, or DeployError saying what is wrong."""
    weights = state.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise DeployError(f"{where}: a rollout needs `weights`: VERSION -> percent")
    for version, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise DeployError(f"{where}: the weight of {version} must be a whole percent 0-100, not {weight!r}")
    total = sum(weights.values())
    if total != 100:
        raise DeployError(f"{where}: the weights add up to {total}, not 100 "
                          f"({', '.join(f'{v}={w}' for v, w in weights.items())})")
    sticky = state.get("sticky_key")
    if sticky is not None and (not isinstance(sticky, str) or not sticky.strip()):
        raise DeployError(f"{where}: `sticky_key` must be a header name such as x-user-id")
    shadow = state.get("shadow")
    if shadow is not None:
        if not isinstance(shadow, dict) or not isinstance(shadow.get("version"), str):
            raise DeployError(f"{where}: `shadow` must be {{version: NAME:vN, share: PERCENT}}")
        share = shadow.get("share", 100)
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 100:
            raise DeployError(f"{where}: the shadow share must be a percent above 0 and at most 100, not {share!r}")
    return state


def parse_weights(pairs: list[str]) -> dict[str, int]:
    """`triage:v1=95 triage:v2=5` -> {version: weight}; a lone VERSION is 100."""
    weights: dict[str, int] = {}
    for pair in pairs:
        version, sep, weight = pair.rpartition("=")
        if not sep:
            version, weight = pair, "100"
        if not version or not weight.strip().isdigit():
            raise DeployError(f"`{pair}`: give VERSION=WEIGHT with a whole percent, e.g. triage:v2=5")
        if version in weights:
            raise DeployError(f"`{version}` is given twice")
        weights[version] = int(weight)
    return weights


def parse_requirement(text: str) -> tuple[str, str, float]:
    match = _REQUIRE.match(text)
    if not match:
        # A bare metric name is what the shell leaves of an unquoted `category_match>=0.95`: it took
        # `>=0.95` as a redirection (and made a file named `=0.95`).
        hint = (" (unquoted, the shell takes `>` as a redirection: quote the gate)"
                if re.fullmatch(r"\s*[A-Za-z0-9_.\-]+\s*", text) else "")
        raise DeployError(f"--require {text!r}: write METRIC>=VALUE in quotes, e.g. --require "
                          f"'category_match>=0.95'{hint}")
    try:
        return match.group(1), match.group(2), float(match.group(3))
    except ValueError:
        raise DeployError(f"--require {text!r}: {match.group(3)!r} is not a number") from None


def meets(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold, "<": value < threshold}[op]


def read(path) -> dict:
    """{"current": state or None, "history": [...]}; a missing file is no rollout."""
    if not isinstance(path, Path):
        return path.read()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "history": []}
    except (OSError, ValueError) as error:
        raise DeployError(f"{path}: the rollout state is unreadable ({error}); fix or delete it") from None
    if not isinstance(data, dict):
        raise DeployError(f"{path}: the rollout state is not a JSON object; fix or delete it")
    data.setdefault("current", None)
    data.setdefault("history", [])
    return data


def write(path, data: dict) -> None:
    """Atomic: readers see the old file or the new one, never a part."""
    if not isinstance(path, Path):
        return path.write(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


_held = threading.local()  # the state files this thread has locked (a nested `locked` takes no second lock)


@contextmanager
def locked(path):
    """An exclusive lock for a read-compare-write of the state at `path`: for a file, `.NAME.lock`
    beside it (the kernel drops it if the holder dies; without fcntl, on Windows, no lock); in a
    team database, a transaction holding the flow's advisory lock."""
    if not isinstance(path, Path):
        with path.locked():
            yield
        return
    try:
        import fcntl
    except ImportError:
        fcntl = None
    held = _held.__dict__.setdefault("paths", set())
    if fcntl is None or path in held:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.stem}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def replace_current(path, state: dict, *, declared: dict | None = None) -> dict:
    """Write `state` as current, pushing the old current onto the history; returns the old one.
    `declared`: the file declaration it comes from (kept otherwise)."""
    with locked(path):
        data = read(path)
        previous = data["current"]
        history = list(data["history"])
        if previous is not None:
            history.append(previous)
        write(path, {**data, "current": state, "history": history[-HISTORY:],
                     **({"declared": declared} if declared else {})})
    return previous


def main_version(state: dict | None) -> str | None:
    """The version with the most traffic (the audit log's from/to)."""
    return max(state["weights"], key=state["weights"].get) if state else None


def roll_back(path) -> tuple[dict, dict]:
    """Back to the state before the current one: (the state left, the state now current)."""
    with locked(path):
        data = read(path)
        if data["current"] is None:
            raise DeployError(f"{path}: there is no rollout to roll back (promptwise rollout set FLOW VERSION=100)")
        if not data["history"]:
            raise DeployError(f"{path}: the rollout has no earlier state to roll back to")
        history = list(data["history"])
        restored = history.pop()
        write(path, {**data, "current": restored, "history": history})
    return data["current"], restored


def flow_name(flow: Path) -> str:
    """The registered name of a flow path (what `promptwise package` names it by default)."""
    from promptwise.deploy.service import _name_of

    return _name_of(flow)


def served_state(flow: Path, workspace) -> tuple[Path, Path] | None:
    """(state file, registry root) when the flow has a current rollout, checked servable:
    its weights right and every version materializing. None when it has no rollout. A rollout
    declared in promptwise.yaml or deploy.yaml (rollout_file.py) is applied first if it changed.
    With a team database the state is read there; the server's watcher finds it the same way
    (state_for), so the state file returned is then only where it would be."""
    from promptwise.deploy import rollout_file
    from promptwise.deploy.registry import Registry, registry_root

    root = registry_root(workspace)
    name = flow_name(flow)
    where = state_for(workspace, name)
    try:
        rollout_file.apply_on_serve(workspace, name, where)
        state = read(where)["current"]
    finally:
        close(where)
    if state is None:
        return None
    check_state(state, str(where))
    with Registry.for_workspace(workspace, readonly=True) as registry:
        for version in list(state["weights"]) + ([state["shadow"]["version"]] if state.get("shadow") else []):
            registry.materialize(version)
    return state_path(root, name), root


def live_figures(workspace_root: Path, versions: list[str], since_ns: int,
                 shadow: str | None = None) -> dict[str, dict]:
    """Served requests per version since `since_ns` from the trace store's `traces` rows
    (shadow requests included: they are the candidate's own runs): requests, errors,
    error_rate, p50_ms / p95_ms (nearest rank), cost_per_request; for the `shadow` version also
    `agreement` with the answers returned to the same requests. No traffic: requests 0."""
    import sqlite3

    from promptwise.tracing.store import store_path

    figures = {v: {"requests": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p95_ms": None,
                   "cost_per_request": None} for v in versions}
    path = store_path(workspace_root)
    if not path.is_file():
        return figures
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        for version in versions:
            where = "kind = 'request' AND version = ? AND start_ns >= ? AND duration_ms IS NOT NULL"
            count, errors = db.execute(f"SELECT COUNT(*), COALESCE(SUM(status = 'error'), 0) FROM traces WHERE {where}",
                                       (version, since_ns)).fetchone()
            if not count:
                continue
            def percentile(q: int) -> float:
                rank = max(0, -(-q * count // 100) - 1)  # nearest rank: ceil(q n / 100), 0-based
                return db.execute(f"SELECT duration_ms FROM traces WHERE {where} ORDER BY duration_ms "
                                  f"LIMIT 1 OFFSET ?", (version, since_ns, rank)).fetchone()[0]

            cost = db.execute(f"SELECT AVG(cost_usd) FROM traces WHERE {where} AND cost_usd IS NOT NULL",
                              (version, since_ns)).fetchone()[0]
            figures[version] = {"requests": count, "errors": int(errors), "error_rate": errors / count,
                                "p50_ms": percentile(50), "p95_ms": percentile(95), "cost_per_request": cost}
        if shadow is not None:
            figures[shadow]["agreement"] = _agreement(db, shadow, since_ns)
    except sqlite3.Error as error:
        raise DeployError(f"{path}: the trace store cannot be read for the live gate ({error})") from None
    finally:
        db.close()
    return figures


_OUTPUTS = "$.\"promptwise.flow.outputs\""
_REQUEST = "$.\"promptwise.request.id\""


def _agreement(db, shadow: str, since_ns: int, limit: int = 1000) -> dict:
    """How often the shadow's answer equals the answer returned to the same request (by request
    id; the newest `limit` shadow requests whose flow outputs were recorded: content capture on)."""
    answers = f"""SELECT json_extract(r.attributes, '{_REQUEST}'), json_extract(f.attributes, '{_OUTPUTS}')
        FROM traces t JOIN spans r ON r.trace_id = t.trace_id AND r.span_id = t.root_span_id
        JOIN spans f ON f.trace_id = t.trace_id AND f.parent_id IS NOT NULL
             AND json_extract(f.attributes, '{_OUTPUTS}') IS NOT NULL
        WHERE t.kind = 'request' AND t.start_ns >= ?"""
    from promptwise.store.encryption import is_sealed

    shadowed: dict[str, str] = {}
    for request_id, output in db.execute(answers + " AND t.version = ? ORDER BY t.start_ns DESC LIMIT ?",
                                         (since_ns, shadow, limit)):
        shadowed.setdefault(request_id, output)
    served: dict[str, str] = {}
    if shadowed:
        query = answers + f" AND t.version != ? AND json_extract(r.attributes, '{_REQUEST}') IN " \
                          "(SELECT value FROM json_each(?))"
        for request_id, output in db.execute(query, (since_ns, shadow, json.dumps(list(shadowed)))):
            served.setdefault(request_id, output)
    if any(map(is_sealed, (*shadowed.values(), *served.values()))):  # tracing.encrypt: outputs sealed in the store
        shadowed, served = _opened_outputs(db, shadowed), _opened_outputs(db, served)
    pairs = [(_answer(served[r]), _answer(shadowed[r])) for r in shadowed if r in served]
    same = sum(first == second for first, second in pairs)
    return {"compared": len(pairs), "same": same, "rate": same / len(pairs) if pairs else None}


def _opened_outputs(db, outputs: dict[str, str]) -> dict[str, str]:
    """Sealed flow outputs opened with the workspace's key; without it, a DeployError saying what to
    set (placeholders must not be compared as answers)."""
    from promptwise.span_attributes import FLOW_OUTPUTS
    from promptwise.tracing.settings import connection_keyring

    keyring = connection_keyring(db)
    opened = {request: keyring.open(text, FLOW_OUTPUTS) for request, text in outputs.items()}
    if keyring.unreadable:
        raise DeployError(f"the answers in the trace store are encrypted and cannot be compared: "
                          f"{keyring.missing()}")
    return opened


def _answer(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def live_problems(candidate: dict, stable: dict, *, error_margin: float, latency_margin: float,
                  min_requests: int, names: tuple[str, str]) -> list[str]:
    """Why the candidate's live figures are worse than the stable version's beyond the margins."""
    cand, stab = names
    if candidate["requests"] < min_requests:
        return [f"{cand} has {candidate['requests']} live requests; the live gate needs at least {min_requests} "
                f"(--min-requests)"]
    problems = []
    if stable["requests"]:
        if candidate["error_rate"] > stable["error_rate"] + error_margin:
            problems.append(f"{cand}'s live error rate {candidate['error_rate']:.1%} is over {stab}'s "
                            f"{stable['error_rate']:.1%} by more than {error_margin:.1%}")
        if candidate["p95_ms"] > stable["p95_ms"] * (1 + latency_margin):
            problems.append(f"{cand}'s live p95 {candidate['p95_ms']:.0f} ms is over {stab}'s "
                            f"{stable['p95_ms']:.0f} ms by more than {latency_margin:.0%}")
    return problems
