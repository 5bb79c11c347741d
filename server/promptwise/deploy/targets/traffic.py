"""The traffic split the cloud targets share: `traffic: {version: percent}` and a shadow
`mirror: version` (with `mirror_percent`), checked before anything is called."""

from __future__ import annotations

import re
from typing import Any

from promptwise.deploy.errors import DeployError
from promptwise.deploy.targets.base import DeployRequest

VERSION_ID = re.compile(r"^(?P<name>.+):v(?P<number>[0-9]+)$")


def weights(request: DeployRequest, settings: dict[str, Any], target: str) -> dict[str, int]:
    """version id -> percent: `traffic` as set (whole percents adding up to 100, versions of this
    flow, including the one being deployed), else this version 100, or `--weight` (request.weight)
    for it and the rest for the version deployed before it."""
    version = request.version
    raw = settings.get("traffic")
    if raw is None:
        if request.weight is None or request.weight == 100:
            return {version.id: 100}
        if not request.previous or request.previous == version.id:
            # Was "deploy <this version> without --weight first": deploying it again at N% then fails the same way.
            keeper = (f"{version.id} is the version deployed there" if request.previous == version.id
                      else f"no earlier version of {version.name} is deployed on {target}")
            raise DeployError(f"--weight {request.weight}: {keeper} to serve the other {100 - request.weight}%; "
                              f"deploy the version that keeps them first (without --weight), then this one with "
                              f"--weight, or give the whole split as `deploy.{target}.traffic` in promptwise.yaml "
                              f"(--out writes files only: it deploys nothing for --weight to split with)")
        return {request.previous: 100 - request.weight, version.id: request.weight}
    if request.weight is not None:
        raise DeployError(f"--weight {request.weight} and `deploy.{target}.traffic` both set the split; give one "
                          f"(nothing was changed)")
    if not isinstance(raw, dict) or not raw:
        raise DeployError(f"`deploy.{target}.traffic` must map versions to percents, e.g. "
                          f"{{{version.name}:v1: 90, {version.id}: 10}}")
    split = {}
    for ref, weight in raw.items():
        ref = str(ref)
        check_version_id(ref, version.name, f"deploy.{target}.traffic")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise DeployError(f"`deploy.{target}.traffic`: the weight of {ref} must be a whole percent 0-100, "
                              f"not {weight!r}")
        split[ref] = weight
    total = sum(split.values())
    if total != 100:
        raise DeployError(f"`deploy.{target}.traffic`: the weights add up to {total}, not 100 "
                          f"({', '.join(f'{v}={w}' for v, w in split.items())}); nothing was changed")
    if version.id not in split:
        raise DeployError(f"`deploy.{target}.traffic` does not name {version.id}, the version being deployed")
    return split


def mirror(request: DeployRequest, settings: dict[str, Any], target: str) -> tuple[str, int | None] | None:
    """The shadow version and the percent of requests copied to it (None: the platform's default)."""
    ref = settings.get("mirror")
    if not ref:
        return None
    check_version_id(str(ref), request.version.name, f"deploy.{target}.mirror")
    percent = settings.get("mirror_percent")
    if percent is not None and (not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100):
        raise DeployError(f"`deploy.{target}.mirror_percent` {percent!r}: a whole percent 0-100")
    return str(ref), percent


def others(request: DeployRequest, settings: dict[str, Any], target: str) -> list[str]:
    """The versions besides this one that the split or the mirror sends requests to."""
    found = [v for v in weights(request, settings, target) if v != request.version.id]
    shadow = mirror(request, settings, target)
    if shadow and shadow[0] != request.version.id and shadow[0] not in found:
        found.append(shadow[0])
    return found


def check_version_id(ref: str, name: str, setting: str) -> None:
    match = VERSION_ID.match(ref)
    if match is None or match["name"] != name:
        raise DeployError(f"`{setting}`: {ref!r} is not a version of {name} (write {name}:vN)")


def number(version_id: str) -> int:
    match = VERSION_ID.match(version_id)
    return int(match["number"]) if match else 0
