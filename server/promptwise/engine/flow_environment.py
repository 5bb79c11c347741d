"""What a flow's code runs inside: its `environment_variables`, its `additional_includes`, and
a stdout that belongs to Promptwise.

- `environment_variables` (flow.dag.yaml / flow.flex.yaml) are set in `os.environ` while the
  flow runs (imports included) and restored afterwards. Values may be `${env:NAME}` (read
  from the environment) or Prompt flow's `${CONNECTION.field}` (a field of a connection
  defined in the workspace). Values that come from secrets are registered for redaction;
  none of them is written to the run store.
- `additional_includes` name files and folders outside the flow folder that Prompt flow
  copies next to the flow before running it. Promptwise does not copy: a node's
  `source.path` that is not in the flow folder is looked up in the includes (by the
  include's own name, as the copy would be named), and each include is importable by its
  name (`import utils` for `../shared/utils.py`, `from common import x` for `../common/`).
- While user code runs, `print()` goes to stderr, so stdout carries only our output
  (`--format json` stays parseable, and the language server's protocol stays clean).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from promptwise.documents.files import usable_path
from promptwise.engine.connections import ConnectionConfigError, ConnectionResolver, expand_env
from promptwise.engine.errors import FlowError
from promptwise.engine.secrets import register_secret

_CONNECTION_REF = re.compile(r"^\$\{([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\}$")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL", re.IGNORECASE)

# ----- stdout -----

_stdout_lock = threading.Lock()
_stdout_depth = 0
_saved_stdout = None


@contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """Send `sys.stdout` to stderr while user code may run.

    Process-wide (tool threads see it too) and counted, so concurrent runs in one process
    restore stdout only when the last of them ends."""
    global _stdout_depth, _saved_stdout
    with _stdout_lock:
        if _stdout_depth == 0:
            _saved_stdout = sys.stdout
            sys.stdout = sys.stderr
        _stdout_depth += 1
    try:
        yield
    finally:
        with _stdout_lock:
            _stdout_depth -= 1
            if _stdout_depth == 0:
                sys.stdout = _saved_stdout
                _saved_stdout = None


@contextmanager
def stdout_fd_to_stderr() -> Iterator[None]:
    """For the command line: also point file descriptor 1 at stderr while a run goes on, so
    what a tool's subprocess or C library writes to stdout cannot corrupt our output either.
    (Not for the language server, whose fd 1 is the protocol: it runs jobs in a worker that
    does the same with a private copy of its stdout.)"""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no usable fd 1: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 1)
        os.close(saved)


# ----- environment_variables -----


def resolve_environment_variables(variables: Mapping[str, Any], where: str, resolver: ConnectionResolver
                                  ) -> dict[str, str]:
    """The values to set, with `${env:NAME}` and `${CONNECTION.field}` resolved (or a FlowError)."""
    resolved: dict[str, str] = {}
    for key, raw in (variables or {}).items():
        at = f"{where}: environment_variables.{key}"
        if raw is None:
            continue
        if isinstance(raw, bool):
            value = "true" if raw else "false"
        elif isinstance(raw, (dict, list)):
            raise FlowError(f"{at}: must be a string or number, not a {type(raw).__name__}")
        else:
            value = str(raw)
        secret = False
        match = _CONNECTION_REF.match(value.strip())
        if match is not None and match.group(1) != "env":
            value, secret = _connection_field(match.group(1), match.group(2), at, resolver)
        else:
            try:
                expanded = expand_env(value, at, resolver.environ)
            except ConnectionConfigError as error:
                raise FlowError(str(error)) from None
            if expanded != value:
                names = re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)", value)
                secret = any(_SECRET_NAME.search(name) for name in (str(key), *names))
            value = expanded
        if secret:
            register_secret(value)
        resolved[str(key)] = value
    return resolved


def _connection_field(name: str, field_name: str, at: str, resolver: ConnectionResolver) -> tuple[str, bool]:
    """Prompt flow's `${my_connection.api_key}`: (value, is secret)."""
    if name not in resolver.specs:
        defined = ", ".join(resolver.specs) or "none"
        raise FlowError(f"{at}: `${{{name}.{field_name}}}` names connection `{name}`, which is not defined under "
                        f"`connections` in {resolver.source} (defined: {defined}); define it or use ${{env:NAME}}")
    try:
        connection = resolver.resolve(name)
    except ConnectionConfigError as error:
        raise FlowError(f"{at}: {error}") from None
    secrets, configs = dict(connection.secrets), dict(connection.configs)
    if field_name in secrets:
        return secrets[field_name], True
    if field_name in configs:
        return configs[field_name], False
    aliases = {"api_base": "endpoint", "endpoint": "endpoint", "base_url": "endpoint", "azure_endpoint": "endpoint"}
    if field_name == "api_key" and connection.api_key:
        return connection.api_key, True
    if field_name in aliases and connection.endpoint:
        return connection.endpoint, False
    if field_name in ("api_version", "organization", "azure_deployment") and getattr(connection, field_name):
        return str(getattr(connection, field_name)), False
    raise FlowError(f"{at}: connection `{name}` has no value for `{field_name}`; use api_key, api_base, api_version, "
                    f"or a key of its secrets/configs")


@contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    """Set the variables for the run and put the previous values back after it."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ----- additional_includes -----


@dataclass
class Includes:
    """A flow's additional includes: name (as Prompt flow's copy would be named) -> real path."""

    items: dict[str, Path] = field(default_factory=dict)

    def find(self, folder: Path, relative: str) -> Path:
        """A `source.path`: in the flow folder if it is there, else inside an include."""
        local = folder / relative
        if not usable_path(relative) or local.exists() or not self.items:
            return local  # an unusable path (NUL, too long) is refused when the file is read
        parts = Path(relative).parts
        if not parts:
            return local
        root = self.items.get(parts[0])
        if root is None:
            return local
        candidate = root.joinpath(*parts[1:]) if len(parts) > 1 else root
        return candidate if candidate.exists() else local

    def module_file(self, module: str) -> Path | None:
        """The file of a dotted module name that lives in an include (flex `entry`)."""
        parts = module.split(".")
        for name, root in self.items.items():
            stem = name[:-3] if name.endswith(".py") else name
            if stem != parts[0]:
                continue
            base = root.joinpath(*parts[1:]) if root.is_dir() else root
            for candidate in (base, base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None


def resolve_includes(entries: list[tuple[str, Any]], folder: Path, flow_path: Path) -> Includes:
    """Check that each include exists and make it importable; FlowError names file:line."""
    includes = Includes()
    for entry, range_ in entries:
        line = f":{range_.start.line + 1}" if range_ is not None else ""
        path = (folder / entry).resolve()
        if not path.exists():
            raise FlowError(f"{flow_path}{line}: additional include {entry!r} does not exist ({path}); fix the path "
                            f"or remove it from `additional_includes`")
        includes.items[path.name] = path
    if includes.items:
        _finder.add(includes.items)
    return includes


class _IncludeFinder(importlib.abc.MetaPathFinder):
    """Imports a top-level name from an additional include, as if it had been copied next to
    the flow. Consulted after the normal finders, so the flow's own files win."""

    def __init__(self) -> None:
        self.roots: dict[str, Path] = {}
        self._lock = threading.Lock()

    def add(self, items: dict[str, Path]) -> None:
        with self._lock:
            for name, path in items.items():
                module = name[:-3] if path.is_file() and name.endswith(".py") else name
                if module.isidentifier():
                    self.roots[module] = path
            if self not in sys.meta_path:
                sys.meta_path.append(self)

    def find_spec(self, fullname, path=None, target=None):
        if "." in fullname:
            return None  # submodules are found through the package's __path__
        root = self.roots.get(fullname)
        if root is None:
            return None
        if root.is_file():
            return importlib.util.spec_from_file_location(fullname, root)
        init = root / "__init__.py"
        if init.is_file():
            return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(root)])
        spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)  # a namespace package
        spec.submodule_search_locations = [str(root)]
        return spec


_finder = _IncludeFinder()
