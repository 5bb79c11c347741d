"""The one spelling of a flow version that users see and type.

A packaged version is its id (`chat:v3`); unpackaged content is `sha256:` and the first 12 hex
digits of its content hash (documents/content_hash.py). The server's `x-promptwise-version`
header and /metrics, `promptwise monitor` (its rows, rollups and online scores) and every
`--version` filter use this spelling, so a value copied from one finds the others.

Stored data keeps what it recorded (traces keep the full hash); `label_sql` gives the same label
inside SQLite queries, and `version_match_sql` turns what a user typed (a label, the full hash,
a shorter hash prefix, or bare hex digits) into a condition on a label.
"""

from __future__ import annotations

import re

HASH_PREFIX = "sha256:"
SHOWN_DIGITS = 12
LABEL_LENGTH = len(HASH_PREFIX) + SHOWN_DIGITS
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")


def version_label(version: str | None, content_hash: str | None = None) -> str | None:
    """The label of a version id or, when there is none, of the content hash (None if neither)."""
    value = version or content_hash
    if not value:
        return None
    return value[:LABEL_LENGTH] if value.startswith(HASH_PREFIX) else value


def label_sql(version: str, content_hash: str | None = None) -> str:
    """version_label as an SQLite expression over columns (NULL when both are NULL or empty).
    Written for speed: monitor evaluates it for every row of a window (GLOB, not LIKE, which
    folds case; a `> ''` test rather than NULLIF, which repeats its argument)."""
    def shortened(column: str) -> str:
        return f"CASE WHEN {column} GLOB '{HASH_PREFIX}*' THEN substr({column}, 1, {LABEL_LENGTH}) ELSE {column} END"

    fallback = f"CASE WHEN {content_hash} > '' THEN {shortened(content_hash)} END" if content_hash else "NULL"
    return f"(CASE WHEN {version} > '' THEN {shortened(version)} ELSE {fallback} END)"


def version_match_sql(label: str, wanted: str) -> tuple[str, list]:
    """A condition that the label expression `label` names the version a user typed: an id as is;
    a content hash whole, as its label, or by a shorter prefix (`sha256:3f2a`, or bare `3f2a91`)."""
    wanted = wanted.strip()
    if _HEX.fullmatch(wanted):
        wanted = HASH_PREFIX + wanted
    if wanted.startswith(HASH_PREFIX):
        wanted = wanted[:LABEL_LENGTH].lower()
        if len(wanted) < LABEL_LENGTH:
            return f"substr({label}, 1, {len(wanted)}) = ?", [wanted]
    return f"{label} = ?", [wanted]
