"""Deployment targets by name, imported only when asked for (each may need an optional extra)."""

from __future__ import annotations

import difflib
import importlib

from promptwise.deploy.errors import DeployError
from promptwise.deploy.targets.base import Target

# name -> "module:Class"; a target's module imports its SDK lazily, so loading the class is cheap.
TARGETS = {
    "docker": "promptwise.deploy.targets.docker:DockerTarget",
    "kubernetes": "promptwise.deploy.targets.kubernetes:KubernetesTarget",
    "azureml": "promptwise.deploy.targets.azureml:AzureMLTarget",
}


def target_names() -> list[str]:
    return sorted(TARGETS)


def get_target(name: str) -> Target:
    """The target called `name`; DeployError with did-you-mean for an unknown one."""
    spec = TARGETS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, TARGETS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DeployError(f"unknown target {name!r}: {hint}targets are {', '.join(target_names())}")
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)()
