"""The `tracing:` section of promptwise.yaml.

    tracing:
      enabled: true            # record spans at all (the local store and, when configured, OTLP)
      capture_content: true    # keep prompts as sent, replies as received, inputs and outputs
      retention_days: 30       # spans older than this are deleted from the local store
      queue_size: 10000        # spans waiting to be stored; beyond it they are dropped and counted
      pii: redact              # personal data in stored/exported content: redact | hash | drop (tracing/pii.py)
      pii_key: ${env:NAME}     # hash only: the HMAC key

OTLP export is switched on by the standard OTEL_EXPORTER_OTLP_ENDPOINT /
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT environment variables, not here: the same settings file
then works on a laptop and in a deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptwise.config import ConfigError, WorkspaceConfig, load_workspace

SECTION = "tracing"


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    capture_content: bool = True
    retention_days: float = Field(default=30.0, gt=0)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    pii: Literal["redact", "hash", "drop"] = "redact"
    pii_key: str | None = None


def tracing_settings(workspace: WorkspaceConfig | Path) -> TracingSettings:
    """The workspace's tracing settings (defaults when it has none). Raises ConfigError naming
    the settings file and line for a section that cannot be used."""
    if not isinstance(workspace, WorkspaceConfig):
        workspace = load_workspace(workspace)
    section = workspace.section(SECTION)
    return parse_settings(section, workspace)


def parse_settings(raw: Any, workspace: WorkspaceConfig | None = None) -> TracingSettings:
    if isinstance(raw, TracingSettings):
        return raw
    where = _where(workspace)
    if raw is None:
        return TracingSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: `{SECTION}` must be a mapping (enabled, capture_content, retention_days, "
                          "queue_size)")
    try:
        settings = TracingSettings.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field_name = ".".join(str(part) for part in first["loc"]) or SECTION
        if first["type"] == "extra_forbidden":
            hint = "allowed settings: " + ", ".join(TracingSettings.model_fields)
        else:
            hint = "fix the value"
        raise ConfigError(f"{where}: `{SECTION}.{field_name}`: {first['msg']}; {hint}") from None
    if settings.pii == "hash":  # the key must be usable now, not at the first span
        from promptwise.tracing.pii import PiiKeyError, resolve_key

        try:
            resolve_key(settings.pii_key)
        except PiiKeyError as error:
            raise ConfigError(f"{where}: {error}") from None
    return settings


def _where(workspace: WorkspaceConfig | None) -> str:
    if workspace is None or workspace.source is None:
        return "tracing settings"
    line = workspace.section_lines.get(SECTION)
    return f"{workspace.source}:{line}" if line else str(workspace.source)
