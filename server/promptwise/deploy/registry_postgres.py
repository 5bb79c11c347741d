"""A team database for the registry: PostgreSQL through psycopg 3 (the `teamdb` extra).

`registry: {url: ${env:PROMPTWISE_REGISTRY_URL}}` in promptwise.yaml puts the versions, their
files and the audit log in one PostgreSQL database that a team shares, instead of
`.promptwise/registry.sqlite` in each workspace. The URL holds a password, so it is read from the
environment only (`${env:NAME}`); a literal URL is accepted only when it holds no password (peer
or certificate authentication). The password is registered with redaction.py, so no log line,
error or audit entry carries it.

A version's files are stored in the database (`version_files`, bytea), in the same transaction
as the version's row: a teammate on another machine gets every version without a shared mount,
a version never exists without its files, and one backup (pg_dump) holds everything. Flows are
small (a few KB to a few MB), well within what bytea is for. Each machine unpacks a version into
its workspace's `.promptwise/registry-cache/` when it is served or deployed, checked against
the digests recorded at packaging.

The database's tables mirror the SQLite registry's (registry.py), with triggers that refuse
UPDATE, DELETE and TRUNCATE of versions, their files and the audit log. `connect` returns an
object with the one method registry.py and audit.py use, `execute(sql, args)` with `?`
placeholders and rows readable by position and by column name, as sqlite3's are.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

from promptwise.deploy.errors import DeployError, MissingExtra

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# One lock for schema creation and version numbering (pg_advisory_xact_lock takes a bigint).
LOCK_KEY = int.from_bytes(hashlib.sha256(b"promptwise registry").digest()[:8], "big", signed=True)
CONNECT_TIMEOUT = 10  # seconds; a URL's own connect_timeout wins

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    number INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    created_by TEXT NOT NULL,
    source TEXT NOT NULL,
    flow TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    files TEXT NOT NULL,
    UNIQUE (name, number),
    UNIQUE (name, content_hash)
);
CREATE TABLE IF NOT EXISTS version_files (
    version_id TEXT NOT NULL REFERENCES versions(id),
    path TEXT NOT NULL,            -- POSIX, relative to the version's snapshot folder
    data BYTEA NOT NULL,
    PRIMARY KEY (version_id, path)
);
CREATE TABLE IF NOT EXISTS audit (
    seq BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    name TEXT,
    from_version TEXT,
    to_version TEXT,
    target TEXT,
    outcome TEXT NOT NULL,
    details TEXT
);
CREATE TABLE IF NOT EXISTS rollout_states (  -- rollout.py's state document of a flow, one row per change
    seq BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL              -- {"current": ..., "history": [...], "declared": ...} as JSON
);
CREATE INDEX IF NOT EXISTS rollout_states_by_name ON rollout_states (name, seq);
CREATE OR REPLACE FUNCTION promptwise_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
"""
_TRIGGERS = {  # name -> (table, message); each also has a `<name>_truncate` statement trigger
    "versions_immutable": ("versions", "versions are immutable: package a new version instead"),
    "version_files_immutable": ("version_files", "a version's files are immutable"),
    "audit_append_only": ("audit", "the audit log is append-only"),
    "rollout_states_append_only": ("rollout_states", "rollout states are append-only: write a new state"),
}


class NoRegistryYet(DeployError):
    """A read-only look at a database where nothing was packaged yet."""


def resolve_url(raw: object, where: str) -> str:
    """The database URL of `registry.url`: `${env:NAME}` references replaced from the
    environment. A literal password is refused: it would sit in a file that is committed."""
    if not isinstance(raw, str) or not raw.strip():
        raise DeployError(f"{where}: `registry.url` must be a PostgreSQL URL, e.g. "
                          f"url: ${{env:PROMPTWISE_REGISTRY_URL}}")
    if _has_password(_ENV_REF.sub("", raw)):
        raise DeployError(f"{where}: `registry.url` holds a literal password; put the URL in an environment "
                          f"variable and write url: ${{env:PROMPTWISE_REGISTRY_URL}}")

    def value(match: re.Match) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if not found:
            raise DeployError(f"{where}: `registry.url` reads the environment variable {name}, which is not set; "
                              f"set it to the team database's URL (postgresql://USER:PASSWORD@HOST:PORT/DB)")
        return found

    url = _ENV_REF.sub(value, raw.strip())
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise DeployError(f"{where}: `registry.url` must be a postgresql:// URL (the team database is PostgreSQL), "
                          f"not {_scheme_of(url)}")
    from promptwise.redaction import register_secret, register_url_credentials

    register_url_credentials(url)
    register_secret(_password(url))
    return url


def _scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    return f"a {scheme}:// URL" if scheme else "a path or plain text"


def _password(url: str) -> str | None:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return urlsplit(url).password
    try:
        return conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001 - a malformed URL: libpq says so on connect
        return urlsplit(url).password


def _has_password(text: str) -> bool:
    parts = urlsplit(text.strip())
    return bool(parts.password) or re.search(r"(?i)(^|[?&\s])password=", text) is not None


def describe(url: str) -> str:
    """The database for messages: `postgresql://HOST:PORT/DB` (never a user's password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}{parts.path or '/'}"


def cache_key(url: str) -> str:
    """A folder name for this database's unpacked versions (two databases never share one)."""
    parts = urlsplit(url)
    return hashlib.sha256(f"{parts.hostname}:{parts.port}{parts.path}".encode()).hexdigest()[:12]


def _row_factory(cursor):
    names = [column.name for column in cursor.description or ()]
    index = {name: position for position, name in enumerate(names)}

    def make(values):
        return _Row(values, index)

    return make


class _Row(tuple):
    """A row readable as row[0] and row["column"], as sqlite3.Row is."""

    def __new__(cls, values, index):
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self):
        return list(self._index)


class Connection:
    """The registry's database connection: `execute` with sqlite3's `?` placeholders."""

    def __init__(self, connection, where: str) -> None:
        self._connection = connection
        self.where = where  # e.g. "promptwise.yaml `registry.url` (postgresql://db.internal:5432/registry)"

    def execute(self, sql: str, args=()):
        import psycopg

        try:
            return self._connection.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(args))
        except psycopg.OperationalError as error:  # the server went away, a timeout...
            raise DeployError(f"{self.where}: the team database failed: {_clean(error)}") from None

    def begin_exclusive(self) -> None:
        """A transaction that holds the registry's lock until COMMIT or ROLLBACK (versions are
        numbered one at a time, across every machine of the team)."""
        self.execute("BEGIN")
        self.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))

    def close(self) -> None:
        self._connection.close()


def _clean(error: Exception) -> str:
    from promptwise.deploy.errors import scrub

    return scrub(" ".join(str(error).split()))


def connect(url: str, where: str, *, readonly: bool = False) -> Connection:
    """Connect (creating the tables unless `readonly`). DeployError, naming the setting, when
    the extra is missing, the server cannot be reached or refuses, or (read-only) the database
    holds no registry yet."""
    try:
        import psycopg
    except ImportError:
        raise MissingExtra("team database registry (registry.url)", ["psycopg"], "teamdb") from None
    label = f"{where} `registry.url` ({describe(url)})"
    options = {"autocommit": True, "row_factory": _row_factory, "application_name": "promptwise"}
    if "connect_timeout" not in url:
        options["connect_timeout"] = CONNECT_TIMEOUT
    if readonly:
        options["options"] = "-c default_transaction_read_only=on"
    try:
        raw = psycopg.connect(url, **options)
    except psycopg.Error as error:
        raise DeployError(f"{label}: the team database cannot be reached: {_clean(error)}; check the server and "
                          f"the URL in the environment variable") from None
    connection = Connection(raw, label)
    try:
        if readonly:
            if connection.execute("SELECT to_regclass('versions')").fetchone()[0] is None:
                raise NoRegistryYet(f"{label}: no registry here yet; package a flow first (promptwise package FLOW)")
        else:
            _create_schema(connection)
    except psycopg.Error as error:
        raw.close()
        raise DeployError(f"{label}: the team database refused to set up the registry: {_clean(error)}") from None
    except BaseException:
        raw.close()
        raise
    return connection


def _create_schema(connection: Connection) -> None:
    """Idempotent, and safe when several machines connect for the first time at once."""
    if connection.execute("SELECT to_regclass('rollout_states')").fetchone()[0] is not None:  # the newest table
        existing = {row[0] for row in connection.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        if all(name in existing and f"{name}_truncate" in existing for name in _TRIGGERS):
            return
    connection.begin_exclusive()
    try:
        connection._connection.execute(SCHEMA)
        existing = {row[0] for row in connection.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        # Created once, by name (PostgreSQL 13 has no CREATE OR REPLACE TRIGGER).
        for name, (table, message) in _TRIGGERS.items():
            quoted = message.replace("'", "''")
            for trigger, when in ((name, "UPDATE OR DELETE ON {} FOR EACH ROW"),
                                  (f"{name}_truncate", "TRUNCATE ON {} FOR EACH STATEMENT")):
                if trigger not in existing:
                    connection._connection.execute(f"CREATE TRIGGER {trigger} BEFORE {when.format(table)} "
                                                   f"EXECUTE FUNCTION promptwise_refuse('{quoted}')")
        connection.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class RolloutStates:
    """The rollout state of one flow in the team database, so `promptwise rollout` on any machine
    steers every server of the team (rollout.py's file, with a team database). Each change appends
    a row holding the whole state document; the newest row of a name is its state, and the rows'
    `seq` is what servers poll. Read-compare-write happens in `locked()`: one transaction holding
    an advisory lock of the flow's name, so two machines never interleave a change."""

    def __init__(self, connection: Connection, name: str, *, url: str | None = None, where: str = "") -> None:
        self.connection = connection
        self.name = name
        self.url, self.where = url, where  # given: a connection of its own, closed with it, opened again if lost
        self.owned = url is not None
        self._depth = 0

    def _reconnected(self) -> None:
        """A connection of its own that the server dropped (a restart, a failover, an idle timeout)
        is opened again for the next read: a long-running `promptwise serve` outlives it."""
        if self.owned and not self._depth and (self.connection._connection.broken or self.connection._connection.closed):
            self.connection = connect(self.url, self.where)

    def __str__(self) -> str:
        return f"the rollout of {self.name} in {self.connection.where}"

    def _has_table(self) -> bool:  # a read-only look at a database from before rollouts lived there
        return self.connection.execute("SELECT to_regclass('rollout_states')").fetchone()[0] is not None

    def read(self) -> dict:
        self._reconnected()
        row = None
        if self._has_table():
            row = self.connection.execute("SELECT data FROM rollout_states WHERE name = ? ORDER BY seq DESC LIMIT 1",
                                          (self.name,)).fetchone()
        data = json.loads(row[0]) if row else {}
        data.setdefault("current", None)
        data.setdefault("history", [])
        return data

    def write(self, data: dict) -> None:
        self.connection.execute("INSERT INTO rollout_states (name, at, data) VALUES (?, ?, ?)",
                                (self.name, time.time(), json.dumps(data, sort_keys=True)))

    def token(self) -> int | None:
        """Changes whenever the state does (the newest row's number)."""
        self._reconnected()
        if not self._has_table():
            return None
        return self.connection.execute("SELECT max(seq) FROM rollout_states WHERE name = ?",
                                       (self.name,)).fetchone()[0]

    @contextmanager
    def locked(self):
        if self._depth:  # already inside this state's transaction
            yield
            return
        key = int.from_bytes(hashlib.sha256(f"promptwise rollout {self.name}".encode()).digest()[:8], "big",
                             signed=True)
        self.connection.execute("BEGIN")
        self._depth += 1
        try:
            self.connection.execute("SELECT pg_advisory_xact_lock(?)", (key,))
            yield
        except BaseException:
            try:
                self.connection.execute("ROLLBACK")
            except DeployError:  # the connection is gone, and its transaction with it
                pass
            raise
        else:
            self.connection.execute("COMMIT")
        finally:
            self._depth -= 1

    def close(self) -> None:
        if self.owned:
            self.connection.close()
