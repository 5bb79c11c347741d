"""The append-only audit log of package / deploy / promote / rollback: who, what, when, from which
version to which. It lives in the registry's database (so a shared registry has one log), in a
table whose triggers refuse UPDATE and DELETE."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ACTIONS = ("package", "deploy", "promote", "rollback", "rollout")


@dataclass
class AuditEntry:
    seq: int
    at: float
    who: str
    action: str
    name: str | None
    from_version: str | None
    to_version: str | None
    target: str | None
    outcome: str
    details: dict

    def to_json(self) -> dict:
        return asdict(self)


def actor(where: Path | None = None) -> str:
    """Who acts: the OS user, with git's user.email when one is set (`alice <alice@example.com>`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    email = ""
    git = shutil.which("git")
    if git:
        try:
            email = subprocess.run([git, "config", "user.email"], cwd=where or None, capture_output=True, text=True,
                                   timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            email = ""
    return f"{user} <{email}>" if email else user


def record(db: sqlite3.Connection, action: str, *, who: str, name: str | None = None, from_version: str | None = None,
           to_version: str | None = None, target: str | None = None, outcome: str = "ok",
           details: dict[str, Any] | None = None) -> int:
    """Append one entry; returns its sequence number. `details` must hold no secret."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    from promptwise.redaction import redact_value

    cursor = db.execute(  # RETURNING, not lastrowid: a team database (PostgreSQL) has no lastrowid
        "INSERT INTO audit(at, who, action, name, from_version, to_version, target, outcome, details)"
        " VALUES (?,?,?,?,?,?,?,?,?) RETURNING seq",
        (time.time(), who, action, name, from_version, to_version, target, outcome,
         json.dumps(redact_value(details or {}), sort_keys=True, default=str)))
    return int(cursor.fetchall()[0][0])  # fetchall: SQLite ends the statement (and its write) at the last row


def entries(db: sqlite3.Connection, *, name: str | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Oldest first (the order things happened)."""
    query, args = "SELECT * FROM audit", []
    if name:
        query, args = query + " WHERE name=?", [name]
    query += " ORDER BY seq"
    rows = db.execute(query, args).fetchall()
    if limit:
        rows = rows[-limit:]
    return [AuditEntry(r["seq"], r["at"], r["who"], r["action"], r["name"], r["from_version"], r["to_version"],
                       r["target"], r["outcome"], json.loads(r["details"] or "{}")) for r in rows]
