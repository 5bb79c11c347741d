"""Named connections to model endpoints, with secrets only as `${env:NAME}` references.

A workspace's `promptwise.yaml` may define connections:

    connections:
      local:  {type: openai_compatible, base_url: http://127.0.0.1:11434/v1}
      azure:  {type: azure_openai, azure_endpoint: "${env:AZURE_OPENAI_ENDPOINT}",
               api_key: "${env:AZURE_OPENAI_API_KEY}", api_version: 2024-06-01}
      keyless: {type: azure_openai, azure_endpoint: "${env:AZURE_OPENAI_ENDPOINT}", auth: entra}

`auth: entra` (Prompt flow: `auth_mode: meid_token`) signs in with Microsoft Entra ID instead of
a key (engine/entra.py; needs `pip install 'promptwise[azure]'`).

Where a flow names a connection that is not defined (Prompt flow flows say
`connection: open_ai_connection`), the workspace's `defaults.connection` is used, and failing
that the variables people already set: `OPENAI_API_KEY`/`OPENAI_BASE_URL`, or
`AZURE_OPENAI_API_KEY`/`AZURE_OPENAI_ENDPOINT`/`OPENAI_API_VERSION` for Azure.

Everything is resolved before a run starts, so a missing variable is one clear error up
front. Resolved secret values are registered with `promptwise.redaction`, which
redacts them from anything written to the store, logs or error messages.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from promptwise.common.connection_auth import AUTH_KEYS, auth_value
from promptwise.redaction import redact_url_credentials, register_secret, register_url_credentials

CONNECTION_TYPES = ("openai", "azure_openai", "openai_compatible", "custom")
_TYPE_ALIASES = {
    "openai": "openai",
    "open_ai": "openai",
    "openaiconnection": "openai",
    "azure_openai": "azure_openai",
    "azure_open_ai": "azure_openai",  # Prompt flow's spelling (`pf connection create -f`)
    "azure": "azure_openai",
    "azureopenai": "azure_openai",
    "azureopenaiconnection": "azure_openai",
    "openai_compatible": "openai_compatible",
    "custom": "custom",
    "customconnection": "custom",
    "serverless": "openai_compatible",
}
_FIELDS = ("type", "api_key", "base_url", "azure_endpoint", "api_version", "azure_deployment", "organization")
_SECRET_FIELDS = ("api_key",)
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
DEFAULT_AZURE_API_VERSION = "2024-10-21"


class ConnectionConfigError(Exception):
    """A connection cannot be resolved; the message says which, why and what to do."""


@dataclass(frozen=True)
class Connection:
    """A resolved connection: everything the provider needs, secrets included (never printed)."""

    name: str
    type: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    azure_deployment: str | None = None
    organization: str | None = None
    auth: str = "key"  # "entra": Microsoft Entra ID tokens instead of a key (azure_openai only)
    # `custom` connections (for Python tools taking a CustomConnection): name/value pairs
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    configs: tuple[tuple[str, str], ...] = ()
    # Where it was defined (a settings file, a .prompty, or the environment variables), for messages
    origin: str | None = field(default=None, compare=False)

    @property
    def is_azure(self) -> bool:
        return self.type == "azure_openai"

    @property
    def endpoint(self) -> str | None:
        if self.type == "custom":
            return None
        return self.azure_endpoint if self.is_azure else (self.base_url or "https://api.openai.com/v1")

    def label(self) -> str:
        """`connection 'local' from /w/promptwise.yaml`: which connection, defined where."""
        return f"connection '{self.name}'" + (f" from {self.origin}" if self.origin else "")

    def describe(self) -> dict:
        """Safe to store and show: no secret values."""
        described = {
            "name": self.name,
            "type": self.type,
            "endpoint": redact_url_credentials(self.endpoint) if self.endpoint else None,
            "api_version": self.api_version,
        }
        if self.auth != "key":
            described["auth"] = self.auth
        return described


def _normalise_type(value: object, where: str) -> str:
    key = str(value or "").strip().lower().replace("-", "_")
    if key in _TYPE_ALIASES:
        return _TYPE_ALIASES[key]
    raise ConnectionConfigError(
        f"{where}: unknown connection type {value!r}; use one of {', '.join(CONNECTION_TYPES)}")


def expand_env(value: str, where: str, environ: Mapping[str, str]) -> str:
    """Replace every `${env:NAME}`; a variable that is not set is an error naming it."""

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if (name not in environ or environ[name] == "") and default is not None:
            return default  # `${env:NAME:default}` (prompty)
        if name not in environ or environ[name] == "":
            raise ConnectionConfigError(
                f"{where} refers to ${{env:{name}}}, but the environment variable {name} is not set; "
                f"export {name}=... before running, or change the connection")
        return environ[name]

    return _ENV_REF.sub(substitute, value)


def resolve_spec(name: str, spec: Mapping, where: str, environ: Mapping[str, str] | None = None,
                 origin: str | None = None) -> Connection:
    """Turn one connection definition (a mapping from settings or a prompty file) into a Connection.

    `origin` says where it was defined, for messages (default: `where`)."""
    environ = os.environ if environ is None else environ
    origin = origin or where
    if not isinstance(spec, Mapping):
        raise ConnectionConfigError(f"{where}: connection `{name}` must be a mapping of settings")
    if _normalise_type(spec.get("type") or "openai", f"{where}: connection `{name}`") == "custom":
        return _custom(name, spec, where, environ, origin)
    spec = _from_promptflow(spec, f"{where}: connection `{name}`")
    unknown = sorted(set(spec) - set(_FIELDS) - {"name", "model", "azure_deployment_name", *AUTH_KEYS})
    if unknown:
        raise ConnectionConfigError(
            f"{where}: connection `{name}` has unknown setting(s) {', '.join(unknown)}; "
            f"known settings are {', '.join(_FIELDS)} (and Prompt flow's api_base, api_type)")
    values: dict[str, str | None] = {}
    for key in _FIELDS[1:]:
        raw = spec.get(key)
        if raw is None:
            continue
        if isinstance(raw, (datetime.date, datetime.datetime)):
            raw = raw.isoformat()  # YAML reads `api_version: 2024-06-01` as a date
        if not isinstance(raw, (str, int, float)):
            raise ConnectionConfigError(f"{where}: connection `{name}`: `{key}` must be a string")
        raw = str(raw)
        if key in _SECRET_FIELDS and raw and not _ENV_REF.fullmatch(raw.strip()):
            raise ConnectionConfigError(
                f"{where}: connection `{name}`: `{key}` holds a literal secret; write it as ${{env:NAME}} "
                f"and set the variable NAME, so the secret stays out of files")
        values[key] = expand_env(raw, f"{where}: connection `{name}`: `{key}`", environ)
    kind = _normalise_type(spec.get("type") or ("azure_openai" if values.get("azure_endpoint") else "openai"),
                           f"{where}: connection `{name}`")
    auth = _auth(spec, kind, values, f"{where}: connection `{name}`")
    if auth != "key":
        values["auth"] = auth
    if kind == "azure_openai":
        values.setdefault("azure_endpoint", environ.get("AZURE_OPENAI_ENDPOINT"))
        if auth == "key":
            values.setdefault("api_key", environ.get("AZURE_OPENAI_API_KEY"))
        values.setdefault("api_version", environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION)
        if not values.get("azure_endpoint"):
            raise ConnectionConfigError(
                f"{where}: connection `{name}` (azure_openai) has no endpoint; set `azure_endpoint` "
                f"or export AZURE_OPENAI_ENDPOINT")
        if auth == "key" and not values.get("api_key"):
            raise ConnectionConfigError(
                f"{where}: connection `{name}` (azure_openai) has no key; set `api_key: ${{env:NAME}}` "
                f"or export AZURE_OPENAI_API_KEY, or use Entra ID with `auth: entra`")
    elif kind == "openai":
        values.setdefault("api_key", environ.get("OPENAI_API_KEY"))
        values.setdefault("base_url", environ.get("OPENAI_BASE_URL"))
        if not values.get("api_key"):
            raise ConnectionConfigError(
                f"{where}: connection `{name}` (openai) has no key; set `api_key: ${{env:NAME}}` "
                f"or export OPENAI_API_KEY")
    else:  # openai_compatible: local servers often need no key at all
        if not values.get("base_url"):
            raise ConnectionConfigError(
                f"{where}: connection `{name}` (openai_compatible) needs `base_url`, "
                f"e.g. http://127.0.0.1:11434/v1 for Ollama")
    if values.get("api_key"):
        register_secret(values["api_key"])
    for key in ("base_url", "azure_endpoint"):  # `?subscription-key=...`, `user:password@host`
        register_url_credentials(values.get(key))
    return Connection(name=name, type=kind, origin=origin, **values)


# Prompt flow's connection files (`pf connection create -f azure_openai.yml`, or what `pf connection
# show` prints) name the endpoint `api_base` and carry `api_type` and metadata (`$schema`, `module`,
# the ARM `resource_id`, dates); such a file pasted under `connections:` works as it is.
PROMPTFLOW_METADATA = ("$schema", "module", "resource_id", "created_date", "last_modified_date", "expiry_time")
PROMPTFLOW_KEYS = (*PROMPTFLOW_METADATA, "api_type", "api_base")


def _from_promptflow(spec: Mapping, where: str) -> Mapping:
    """`spec` with Prompt flow's keys read: `api_base` becomes `azure_endpoint` (Azure) or `base_url`,
    `api_type: azure` without a `type` means azure_openai, and the metadata describes the file only."""
    if not any(key in spec for key in PROMPTFLOW_KEYS):
        return spec
    read = {key: value for key, value in spec.items() if key not in PROMPTFLOW_KEYS}
    api_type = str(spec.get("api_type") or "").strip().lower()
    if not read.get("type") and api_type == "azure":
        read["type"] = "azure_openai"
    api_base = spec.get("api_base")
    if api_base is not None:
        azure = _normalise_type(read.get("type") or "openai", where) == "azure_openai"
        target = "azure_endpoint" if azure else "base_url"
        if read.get(target) is not None:
            raise ConnectionConfigError(f"{where}: both `api_base` (Prompt flow's name) and `{target}` give the "
                                        f"endpoint; keep one")
        read[target] = api_base
    return read




def _auth(spec: Mapping, kind: str, values: Mapping, where: str) -> str:
    """"key" or "entra", checked: Entra ID is for azure_openai connections, takes no key, and needs
    the azure extra (said now, before a run starts, rather than on the first call)."""
    given = [(key, spec[key]) for key in AUTH_KEYS if spec.get(key) is not None]
    if not given:
        return "key"
    key, raw = given[0]
    auth = auth_value(raw)
    if auth is None:
        raise ConnectionConfigError(f"{where}: `{key}: {raw}` is not an authentication Promptwise knows; write "
                                    f"`auth: entra` (Microsoft Entra ID) or `auth: key` (api_key)")
    if auth == "entra":
        if kind != "azure_openai":
            raise ConnectionConfigError(f"{where}: `{key}: {raw}` (Entra ID) applies to azure_openai connections; "
                                        f"set `type: azure_openai`, or give this one an api_key")
        if values.get("api_key"):
            raise ConnectionConfigError(f"{where}: `{key}: {raw}` signs in with Entra ID, so `api_key` is not used; "
                                        f"remove one of the two")
        from promptwise.engine.entra import require_azure_identity

        try:
            require_azure_identity(where)
        except ImportError as error:
            raise ConnectionConfigError(str(error)) from None
    return auth


def _custom(name: str, spec: Mapping, where: str, environ: Mapping[str, str], origin: str) -> Connection:
    """`type: custom` with `secrets` (each `${env:NAME}`) and `configs` (plain values)."""
    unknown = sorted(set(spec) - {"type", "secrets", "configs", "name", *PROMPTFLOW_METADATA})
    if unknown:
        raise ConnectionConfigError(f"{where}: custom connection `{name}` has unknown setting(s) {', '.join(unknown)}; "
                                    f"put values under `secrets` (as ${{env:NAME}}) or `configs`")
    pairs = {}
    for section in ("secrets", "configs"):
        mapping = spec.get(section) or {}
        if not isinstance(mapping, Mapping):
            raise ConnectionConfigError(f"{where}: connection `{name}`: `{section}` must be a mapping")
        values = []
        for key, raw in mapping.items():
            raw = raw.isoformat() if isinstance(raw, (datetime.date, datetime.datetime)) else str(raw)
            if section == "secrets" and not _ENV_REF.fullmatch(raw.strip()):
                raise ConnectionConfigError(
                    f"{where}: connection `{name}`: secret `{key}` holds a literal value; write it as "
                    f"${{env:NAME}} and set the variable NAME")
            value = expand_env(raw, f"{where}: connection `{name}`: `{section}.{key}`", environ)
            if section == "secrets":
                register_secret(value)
            else:
                register_url_credentials(value)  # a config URL with a password in it
            values.append((str(key), value))
        pairs[section] = tuple(values)
    return Connection(name=name, type="custom", secrets=pairs["secrets"], configs=pairs["configs"], origin=origin)


def default_connection(name: str, azure: bool, environ: Mapping[str, str] | None = None) -> Connection:
    """A connection from the variables the openai client itself reads. `azure` (the node looks
    like Azure: it has `deployment_name`) picks the Azure variables, unless only the OpenAI ones
    are set; without the hint, the Azure ones are used when only they are set."""
    environ = os.environ if environ is None else environ
    has_openai = bool(environ.get("OPENAI_API_KEY") or environ.get("OPENAI_BASE_URL"))
    has_azure = bool(environ.get("AZURE_OPENAI_ENDPOINT"))
    if azure and has_openai and not has_azure:
        azure = False
    elif not azure and has_azure and not has_openai:
        azure = True
    where = "no connection configured"
    if azure:
        return resolve_spec(name, {"type": "azure_openai"}, f"{where} (using AZURE_OPENAI_* variables)", environ,
                            "the environment (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY)")
    return resolve_spec(name, {"type": "openai"}, f"{where} (using OPENAI_API_KEY/OPENAI_BASE_URL)", environ,
                        "the environment (OPENAI_BASE_URL, OPENAI_API_KEY)")


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds `limit`."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _one_typo_from(name: str, defined: Mapping) -> str | None:
    """A defined connection `name` is a typo of (one or two letters off, or a different case);
    None for names that merely look alike (`azure_open_ai_connection` vs `open_ai_connection`)."""
    limit = 1 if len(name) < 8 else 2
    for candidate in defined:
        candidate = str(candidate)
        if candidate.lower() == name.lower() or (
                abs(len(candidate) - len(name)) <= limit and _edit_distance(name, candidate, limit) <= limit):
            return candidate
    return None


def _register_named_keys(specs: Mapping, environ: Mapping[str, str]) -> None:
    """Mask from the start the keys the connections name (`api_key: ${env:NAME}`, a custom
    connection's `secrets`), not only once a node resolves that connection: a flex entry or a
    python tool that reads the variable itself must not put its value in a trace, a run or an
    error message either."""
    for spec in specs.values():
        if not isinstance(spec, Mapping):
            continue
        secrets = spec.get("secrets")
        for raw in [spec.get("api_key"), *(secrets.values() if isinstance(secrets, Mapping) else ())]:
            if isinstance(raw, str):
                for match in _ENV_REF.finditer(raw):
                    register_secret(environ.get(match.group(1)))


class ConnectionResolver:
    """Resolves connection names for one run, from the workspace settings and the environment."""

    def __init__(self, settings: Mapping | None = None, source: str = "promptwise.yaml",
                 environ: Mapping[str, str] | None = None) -> None:
        settings = settings or {}
        self.source = str(source)
        self.environ = os.environ if environ is None else environ
        self.specs: Mapping = settings.get("connections") or {}
        if not isinstance(self.specs, Mapping):
            raise ConnectionConfigError(f"{self.source}: `connections` must be a mapping of name -> settings")
        defaults = settings.get("defaults") or {}
        self.default_name: str | None = defaults.get("connection") if isinstance(defaults, Mapping) else None
        self._cache: dict[tuple[str | None, bool], Connection] = {}
        _register_named_keys(self.specs, self.environ)

    @classmethod
    def for_workspace(cls, workspace) -> "ConnectionResolver":
        """From a `promptwise.config.WorkspaceConfig`."""
        return cls(workspace.settings, str(workspace.source or workspace.root / "promptwise.yaml"))

    def resolve(self, name: str | None, *, azure_hint: bool = False) -> Connection:
        """The connection called `name` (None = the default one).

        `azure_hint` says the caller looks like Azure (a node with `deployment_name`), which
        picks the Azure variables when nothing is configured.
        """
        key = (name, azure_hint)
        if key in self._cache:
            return self._cache[key]
        if name and name in self.specs:
            connection = resolve_spec(name, self.specs[name], self.source, self.environ)
        elif name and (typo_of := _one_typo_from(name, self.specs)):
            # `check` says did-you-mean (PW216); a run must not quietly use another endpoint
            raise ConnectionConfigError(
                f"connection `{name}` is not defined in {self.source}; did you mean `{typo_of}`? Fix the name, "
                f"or define `{name}` under `connections`")
        elif self.default_name:
            if self.default_name not in self.specs:
                raise ConnectionConfigError(
                    f"{self.source}: defaults.connection is `{self.default_name}`, which is not defined under "
                    f"`connections`; add it or change the default")
            connection = resolve_spec(self.default_name, self.specs[self.default_name], self.source, self.environ)
        else:
            try:
                connection = default_connection(name or "default", azure_hint, self.environ)
            except ConnectionConfigError as error:
                if not name:
                    raise
                defined = ", ".join(self.specs) or "none"
                raise ConnectionConfigError(
                    f"connection `{name}` is not defined in {self.source} (defined: {defined}) and the fallback "
                    f"failed: {error}. Define `{name}` under `connections`, set defaults.connection, or export "
                    f"the variables") from None
        self._cache[key] = connection
        return connection
