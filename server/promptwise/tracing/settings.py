"""The `tracing:` section of promptwise.yaml.

    tracing:
      enabled: true            # record spans at all (the local store and, when configured, OTLP)
      capture_content: true    # keep prompts as sent, replies as received, inputs and outputs
      retention_days: 30       # spans older than this are deleted from the local store
      queue_size: 10000        # spans waiting to be stored; beyond it they are dropped and counted
      pii: redact              # personal data in stored/exported content: redact | hash | drop (tracing/pii.py)
      pii_key: ${env:NAME}     # hash only: the HMAC key
      pii_runs: false          # true: the same policy on the run store's rows too (store/run_store.py)
      encrypt:                 # optional: content in the local store encrypted at rest (store/encryption.py)
        key: ${env:PROMPTWISE_STORE_KEY}
        previous_keys:         # optional: older keys, still read until `promptwise traces rekey`
          - ${env:PROMPTWISE_STORE_KEY_OLD}

OTLP export is switched on by the standard OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT environment variables, not here: the same settings file
then works on a laptop and in a deployment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptwise.config import ConfigError, WorkspaceConfig, load_workspace

SECTION = "tracing"
PII_MODES = ("redact", "hash", "drop")


# Plain frozen dataclasses, not pydantic models: every traced process (a run, each served
# worker) reads these settings once at start, and building a pydantic model there cost about
# 0.2 s of CPU (pydantic's import, its plugin scan, the schema). A section that is plainly
# right is read by _plain_settings; anything else (a value to coerce, a mistake to explain)
# goes through the pydantic models of _models(), so what is accepted and what is said stays
# pydantic's. tests/cli/test_light_core.py keeps the two readings equal.
@dataclass(frozen=True)
class EncryptSettings:
    key: str
    previous_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class TracingSettings:
    enabled: bool = True
    capture_content: bool = True
    retention_days: float = 30.0  # > 0
    queue_size: int = 10_000  # 1 .. 1,000,000
    pii: str = "redact"  # one of PII_MODES
    pii_key: str | None = None
    pii_runs: bool = False  # strict: a quoted "true" is refused, not ignored
    encrypt: EncryptSettings | None = None


@lru_cache(maxsize=None)
def _models():
    """The pydantic models of the section (TracingSettings, EncryptSettings), built on first use."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field

    class EncryptModel(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        key: str
        previous_keys: tuple[str, ...] = ()

    class TracingModel(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        enabled: bool = True
        capture_content: bool = True
        retention_days: float = Field(default=30.0, gt=0)
        queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
        pii: Literal["redact", "hash", "drop"] = "redact"
        pii_key: str | None = None
        pii_runs: bool = Field(default=False, strict=True)
        encrypt: EncryptModel | None = None

    return TracingModel, EncryptModel


def _plain_encrypt(raw: Any) -> EncryptSettings | None:
    if not isinstance(raw, dict) or set(raw) - {"key", "previous_keys"} or type(raw.get("key")) is not str:
        return None
    previous = raw.get("previous_keys", ())
    if type(previous) not in (list, tuple) or any(type(item) is not str for item in previous):
        return None
    return EncryptSettings(key=raw["key"], previous_keys=tuple(previous))


def _plain_settings(raw: dict) -> TracingSettings | None:
    """The section as the pydantic models would read it, when every setting is plainly right;
    None when anything needs pydantic (a value to coerce, or a mistake to explain)."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("enabled", "capture_content", "pii_runs") and type(value) is bool:
            pass
        elif key == "retention_days" and type(value) in (int, float) and math.isfinite(value) and value > 0:
            value = float(value)
        elif key == "queue_size" and type(value) is int and 1 <= value <= 1_000_000:
            pass
        elif key == "pii" and type(value) is str and value in PII_MODES:
            pass
        elif key == "pii_key" and (value is None or type(value) is str):
            pass
        elif key == "encrypt" and value is None:
            pass
        elif key == "encrypt":
            value = _plain_encrypt(value)
            if value is None:
                return None
        else:
            return None
        values[key] = value
    return TracingSettings(**values)


def _validated(raw: dict, where: str) -> TracingSettings:
    """The section read by pydantic: its coercions, or a ConfigError with its message."""
    from pydantic import ValidationError

    tracing_model, encrypt_model = _models()
    try:
        model = tracing_model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field_name = ".".join(str(part) for part in first["loc"]) or SECTION
        if first["type"] == "extra_forbidden":
            kind = EncryptSettings if first["loc"][:1] == ("encrypt",) else TracingSettings
            hint = "allowed settings: " + ", ".join(item.name for item in fields(kind))
        else:
            hint = "fix the value"
        raise ConfigError(f"{where}: `{SECTION}.{field_name}`: {first['msg']}; {hint}") from None
    values = model.model_dump()
    if model.encrypt is not None:
        values["encrypt"] = EncryptSettings(**model.encrypt.model_dump())
    return TracingSettings(**values)


def tracing_settings(workspace: WorkspaceConfig | Path) -> TracingSettings:
    """The workspace's tracing settings (defaults when it has none). Raises ConfigError naming
    the settings file and line for a section that cannot be used."""
    if not isinstance(workspace, WorkspaceConfig):
        workspace = load_workspace(workspace)
    section = workspace.section(SECTION)
    return parse_settings(section, workspace)


def parse_settings(raw: Any, workspace: WorkspaceConfig | None = None, *, environment: bool = True) -> TracingSettings:
    """`environment=False` (promptwise check): key settings are checked for their form only,
    not for the variables they name being exported here."""
    if isinstance(raw, TracingSettings):
        return raw
    where = _where(workspace)
    if raw is None:
        return TracingSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: `{SECTION}` must be a mapping (enabled, capture_content, retention_days, "
                          "queue_size)")
    settings = _plain_settings(raw) or _validated(raw, where)
    if settings.pii == "hash":  # the key must be usable now, not at the first span
        from promptwise.tracing.pii import PiiKeyError, key_variable, resolve_key

        try:
            (resolve_key if environment else key_variable)(settings.pii_key)
        except PiiKeyError as error:
            raise ConfigError(f"{where}: {error}") from None
    if settings.encrypt is not None:  # a literal key is refused at once; an unset variable only by writers
        from promptwise.store.encryption import PREVIOUS_SETTING, SETTING, StoreKeyError, env_reference

        try:
            env_reference(settings.encrypt.key, SETTING)
            for number, reference in enumerate(settings.encrypt.previous_keys):
                env_reference(reference, f"{PREVIOUS_SETTING}[{number}]")
        except StoreKeyError as error:
            raise ConfigError(f"{where}: {error}") from None
    return settings


def store_keyring(workspace: WorkspaceConfig | Path, *, strict: bool = False):
    """The keyring of the workspace's trace store (store/encryption.py). Writers pass strict=True:
    encryption asked for but a key unusable is a ConfigError naming the setting. Readers get a
    keyring that opens what it can and says what to set for the rest (also when the settings
    file itself cannot be read)."""
    from promptwise.store.encryption import Keyring, StoreKeyError, keyring_from_settings

    try:
        if not isinstance(workspace, WorkspaceConfig):
            workspace = load_workspace(workspace)
        settings = tracing_settings(workspace)
    except ConfigError as error:
        if strict:
            raise
        return Keyring(problem=str(error))
    try:
        return keyring_from_settings(settings.encrypt, where=_where(workspace), strict=strict)
    except StoreKeyError as error:
        raise ConfigError(str(error)) from None


def connection_keyring(connection):
    """The reading keyring of the workspace whose trace store an SQLite `connection` has open
    (for readers that query the store with SQL and open sealed values themselves)."""
    path = next((row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"), "")
    return store_keyring(Path(path).parent.parent) if path else store_keyring(Path.cwd())


def _where(workspace: WorkspaceConfig | None) -> str:
    if workspace is None or workspace.source is None:
        return "tracing settings"
    line = workspace.section_lines.get(SECTION)
    return f"{workspace.source}:{line}" if line else str(workspace.source)
