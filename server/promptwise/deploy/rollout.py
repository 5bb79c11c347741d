"""Rollout state of a flow: which packaged versions a `promptwise serve FLOW` answers with.

One JSON file per flow, `<registry>/rollouts/<name>.json`, written atomically (temp file +
rename) so a running server never reads half a state; the server watches its mtime. The file
keeps the previous states (newest last) so `rollout rollback` is one write, instant.

    {"current": {"weights": {"triage:v1": 95, "triage:v2": 5}, "sticky_key": "x-user-id",
                 "shadow": {"version": "triage:v3", "share": 10}},
     "history": [ ...earlier "current" values... ]}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from promptwise.deploy.errors import DeployError

HISTORY = 50  # previous states kept for rollback
_REQUIRE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|>|<)\s*(-?[0-9.]+)\s*$")


def state_path(registry_root: Path, name: str) -> Path:
    return registry_root / "rollouts" / f"{name}.json"


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
        raise DeployError(f"--require {text!r}: write METRIC>=VALUE, e.g. category_match>=0.95")
    try:
        return match.group(1), match.group(2), float(match.group(3))
    except ValueError:
        raise DeployError(f"--require {text!r}: {match.group(3)!r} is not a number") from None


def meets(value: float, op: str, threshold: float) -> bool:
    return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold, "<": value < threshold}[op]


def read(path: Path) -> dict:
    """{"current": state or None, "history": [...]}; a missing file is no rollout."""
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


def write(path: Path, data: dict) -> None:
    """Atomic: readers see the old file or the new one, never a part."""
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


def replace_current(path: Path, state: dict) -> dict:
    """Write `state` as current, pushing the old current onto the history; returns the old one."""
    data = read(path)
    previous = data["current"]
    history = list(data["history"])
    if previous is not None:
        history.append(previous)
    write(path, {"current": state, "history": history[-HISTORY:]})
    return previous


def roll_back(path: Path) -> tuple[dict, dict]:
    """Back to the state before the current one: (the state left, the state now current)."""
    data = read(path)
    if data["current"] is None:
        raise DeployError(f"{path}: there is no rollout to roll back (promptwise rollout set FLOW VERSION=100)")
    if not data["history"]:
        raise DeployError(f"{path}: the rollout has no earlier state to roll back to")
    history = list(data["history"])
    restored = history.pop()
    write(path, {"current": restored, "history": history})
    return data["current"], restored


def flow_name(flow: Path) -> str:
    """The registered name of a flow path (what `promptwise package` names it by default)."""
    from promptwise.deploy.service import _name_of

    return _name_of(flow)


def served_state(flow: Path, workspace) -> tuple[Path, Path] | None:
    """(state file, registry root) when the flow has a current rollout, checked servable:
    its weights right and every version materializing. None when it has no rollout."""
    from promptwise.deploy.registry import Registry, registry_root

    root = registry_root(workspace)
    path = state_path(root, flow_name(flow))
    state = read(path)["current"]
    if state is None:
        return None
    check_state(state, str(path))
    with Registry(root, readonly=True) as registry:
        for version in list(state["weights"]) + ([state["shadow"]["version"]] if state.get("shadow") else []):
            registry.materialize(version)
    return path, root
