"""How a connection signs in, as written in promptwise.yaml: the spellings both the runtime
(engine/connections.py) and the checker (analysis/settings.py) read.

`auth: entra` (ours) and `auth_mode: meid_token` (Prompt flow's) mean Microsoft Entra ID tokens
(engine/entra.py, the `azure` extra); `auth: key` (the default) an api_key.
"""

from __future__ import annotations

AUTH_KEYS = ("auth", "auth_mode")
AUTH_VALUES = {"key": "key", "api_key": "key", "entra": "entra", "entra_id": "entra", "meid_token": "entra",
               "aad": "entra", "aad_token": "entra"}
# What Entra ID sign-in imports (checked without importing it) and the extra that brings it.
ENTRA_MODULE = "azure.identity"
ENTRA_EXTRA = "azure"


def auth_value(raw: object) -> str | None:
    """"key", "entra", or None for a spelling Promptwise does not know."""
    return AUTH_VALUES.get(str(raw).strip().lower())
