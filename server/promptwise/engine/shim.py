"""Make `import promptflow...` work in user tool code when promptflow is not installed.

A meta-path finder maps `promptflow` and `promptflow.<sub>` to our stand-ins in
`promptwise.engine.promptflow_shim` (and `promptflow._core.tool` to its `core`). It is
installed only if `importlib.util.find_spec("promptflow")` finds nothing, so a real
promptflow installation always wins.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

SHIM_PACKAGE = "promptwise.engine.promptflow_shim"
# Old and private spellings found in real flows, and where they live in the shim.
_ALIASES = {
    "promptflow._core": "core",
    "promptflow._core.tool": "core",
    "promptflow._core.tool_meta": "core",
    "promptflow._core.metric_logger": "core",
    "promptflow.tools": "core",
    "promptflow.tools.common": "tools_common",
    "promptflow.core._flow": "core",
    "promptflow.contracts.multimedia": "contracts.multimedia",
    "promptflow.client": "core",
    "promptflow.connections": "connections",
    "promptflow.entities": "entities",
    "promptflow.tracing": "tracing",
    "promptflow.core": "core",
    "promptflow.contracts": "contracts",
    "promptflow.contracts.types": "contracts.types",
}


# Attributes that belong to a module object itself, not to what it exports.
_MODULE_OWN = frozenset({"__name__", "__spec__", "__loader__", "__path__", "__file__", "__package__", "__builtins__",
                         "__cached__"})


class _ShimLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        # A fresh module per name, sharing the target's objects: reusing one module object
        # under several names would let the import system overwrite its attributes.
        module = types.ModuleType(spec.name)
        target = importlib.import_module(self.target)
        module.__dict__.update({k: v for k, v in vars(target).items() if k not in _MODULE_OWN})
        return module

    def exec_module(self, module) -> None:
        pass  # everything was copied in create_module


class _ShimFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "promptflow" and not fullname.startswith("promptflow."):
            return None
        if fullname == "promptflow":
            target_name = SHIM_PACKAGE
        elif fullname in _ALIASES:
            target_name = f"{SHIM_PACKAGE}.{_ALIASES[fullname]}"
        else:
            return None  # not something the shim provides: a normal ImportError follows
        is_package = fullname in ("promptflow", "promptflow._core", "promptflow.contracts", "promptflow.core",
                                  "promptflow.tools")
        return importlib.machinery.ModuleSpec(fullname, _ShimLoader(target_name), is_package=is_package)


_installed = False


def promptflow_installed() -> bool:
    if _installed:
        return False
    try:
        return importlib.util.find_spec("promptflow") is not None
    except (ImportError, ValueError):
        return False


def install() -> bool:
    """Install the shim unless promptflow is importable. Returns True if the shim is active."""
    global _installed
    if _installed:
        return True
    if promptflow_installed():
        return False
    sys.meta_path.insert(0, _ShimFinder())  # first: the shim package's own __path__ must not load copies
    _installed = True
    return True


def metrics_context():
    """The context variable `log_metric` writes to (the real promptflow's, if installed, is not ours)."""
    from promptwise.engine.promptflow_shim.core import current_metrics

    return current_metrics
