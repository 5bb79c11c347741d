"""The registry of packaged flow versions: immutable, numbered per name, each with a snapshot.

`promptwise package` stores a version: the flow's content hash (documents/content_hash.py, the
same value runs, evaluations and traces record, so the version finds its evidence), a name, a
number (v1, v2... per name; packaging content that is already registered returns that version),
who and when, and a snapshot of every behaviour file laid out as in the workspace (the flow, its
templates and tools, additional includes, the workspace settings), so the version can be served
or deployed later even after the workspace has changed.

Where: `registry.sqlite` and `versions/<name>/v<N>/` under the workspace's `.promptwise/` by
default; a folder shared by a team with `registry: {path: DIR}` in promptwise.yaml (relative to
that file; on a local or cluster file system that supports SQLite's locking); or a team database,
PostgreSQL, with `registry: {url: ${env:PROMPTWISE_REGISTRY_URL}}` (registry_postgres.py: the
versions' files are stored in the database and unpacked into `.promptwise/registry-cache/` when
used). Versions cannot be changed or deleted: triggers refuse UPDATE and DELETE, and snapshot
files are written read-only; `materialize` checks a snapshot still hashes to its version.

Rollout states (rollout.py) live in the registry folder: the shared folder, else the workspace's
`.promptwise/` (with a team database too: a rollout belongs to the machine that serves it).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from promptwise.deploy.errors import DeployError
from promptwise.deploy.targets.base import VersionRef

REGISTRY_FILE = "registry.sqlite"
SNAPSHOTS_DIR = "versions"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")  # also a valid image name, Kubernetes label and file name

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY,           -- "<name>:v<number>"
    name TEXT NOT NULL,
    number INTEGER NOT NULL,
    content_hash TEXT NOT NULL,    -- documents.content_hash.flow_content_hash
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    source TEXT NOT NULL,          -- the flow path it was packaged from
    flow TEXT NOT NULL,            -- the flow's path inside the snapshot (POSIX)
    snapshot TEXT NOT NULL,        -- the snapshot folder, relative to the registry folder
    files TEXT NOT NULL,           -- JSON: snapshot path -> sha256 of its bytes
    UNIQUE (name, number),
    UNIQUE (name, content_hash)
);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are immutable: package a new version instead'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are immutable: they are never deleted'); END;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    who TEXT NOT NULL,             -- OS user, and git user.email when set
    action TEXT NOT NULL,          -- package | deploy | promote | rollback | rollout
    name TEXT,                     -- the flow's registered name
    from_version TEXT,
    to_version TEXT,
    target TEXT,                   -- docker | kubernetes | azureml | serve ...
    outcome TEXT NOT NULL,         -- ok | refused | failed
    details TEXT                   -- JSON (never a secret)
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class Version:
    id: str
    name: str
    number: int
    content_hash: str
    created_at: float
    created_by: str
    source: str
    flow: str
    snapshot: Path
    files: dict

    def ref(self) -> VersionRef:
        return VersionRef(self.id, self.name, self.number, self.content_hash, self.snapshot, self.flow)

    def to_json(self) -> dict:
        return {"version": self.id, "name": self.name, "number": self.number, "content_hash": self.content_hash,
                "created_at": self.created_at, "created_by": self.created_by, "source": self.source,
                "flow": self.flow, "snapshot": str(self.snapshot), "files": sorted(self.files)}


def registry_root(workspace) -> Path:
    """The registry folder of a `WorkspaceConfig`: `registry.path` (relative to the settings file)
    or the workspace's `.promptwise/` (also with a team database: its cache and rollouts)."""
    section = _section(workspace)
    raw = section.get("path")
    unknown = sorted(set(section) - {"path", "url"})
    if unknown:
        raise DeployError(f"{_where(workspace)}: unknown `registry` setting {', '.join(unknown)}; known: path (a "
                          f"shared folder), url (a team database: ${{env:PROMPTWISE_REGISTRY_URL}})")
    if raw not in (None, "") and section.get("url") not in (None, ""):
        raise DeployError(f"{_where(workspace)}: `registry` has both `path` and `url`; keep one (a shared folder "
                          f"or a team database)")
    if raw in (None, ""):
        return workspace.state_dir
    if not isinstance(raw, str):
        raise DeployError(f"{workspace.source}: `registry.path` must be a folder path (text), not {raw!r}")
    base = workspace.source.parent if workspace.source else workspace.root
    return (base / os.path.expanduser(raw)).resolve()


def registry_url(workspace) -> str | None:
    """The team database's URL (`registry.url`, from the environment), or None."""
    raw = _section(workspace).get("url")
    if raw in (None, ""):
        return None
    from promptwise.deploy.registry_postgres import resolve_url

    return resolve_url(raw, _where(workspace))


def _section(workspace) -> dict:
    from promptwise.config import ConfigError

    try:
        return workspace.section("registry")
    except ConfigError as error:  # `registry: 5`: said as every registry mistake is, never a traceback
        raise DeployError(str(error)) from None


def _where(workspace) -> str:
    line = workspace.section_lines.get("registry")
    return f"{workspace.source}:{line}" if workspace.source and line else str(workspace.source or "promptwise.yaml")


def default_name(flow_file: Path) -> str:
    """The flow folder's name (a .prompty's stem), made a valid version name."""
    raw = flow_file.parent.name if flow_file.name.lower().startswith("flow.") else flow_file.stem
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")[:63]
    return name or "flow"


def flow_entry(flow_file: Path, root: Path) -> str:
    """The flow's path in workspace `root` (POSIX) as a version records it: a .prompty's file,
    a flow file's folder."""
    relative = _inside(flow_file, root, flow_file)
    return relative if flow_file.name.lower().endswith(".prompty") else Path(relative).parent.as_posix()


def name_taken(name: str, owner: Version, flow_file: Path) -> str:
    """Why `flow_file` may not go by `name`, which `owner`'s flow already has, and what to do."""
    what = "file" if flow_file.name.lower().endswith(".prompty") else "folder"
    return (f"{flow_file}: its name {name!r} (from its {what} name) belongs to another flow, {owner.flow} "
            f"({owner.id} was packaged from it); two flows under one name would share its versions and rollout: "
            f"rename this flow's {what} so the names differ")


def check_name_owner(workspace, flow_path: Path, registry: "Registry | None" = None) -> None:
    """DeployError when the registered name `flow_path` goes by belongs to another flow of the
    workspace (serve and rollout would otherwise act on that flow's versions). Opens the
    workspace's registry unless given one."""
    from promptwise.documents.content_hash import behaviour_files

    try:
        flow_file = behaviour_files(flow_path)[0]
    except (OSError, ValueError):
        return  # not a flow: the caller says so
    opened = Registry.existing(workspace) if registry is None else None
    if registry is None and opened is None:
        return  # nothing packaged yet
    try:
        name = default_name(flow_file)
        owner = (registry or opened).owner(name, flow_file, workspace)
    finally:
        if opened is not None:
            opened.close()
    if owner is not None:
        raise DeployError(name_taken(name, owner, flow_file))


def open_database(root: Path, *, readonly: bool = False) -> sqlite3.Connection:
    from promptwise.config import STATE_DIR
    from promptwise.store.schema import connect

    path = root / REGISTRY_FILE
    if readonly and not path.is_file():
        raise DeployError(f"{root}: no registry here yet; package a flow first (promptwise package FLOW)")
    # Outside a workspace's .promptwise/ it is a shared folder, possibly on a network file system.
    return connect(path, readonly=readonly, schema=SCHEMA, version=1, shared=root.name != STATE_DIR,
                   what="the versions and audit entries it held will not be listed")


class Registry:
    """`root` is the registry folder; with `url` (a team database) the versions live in that
    database and `root` holds only their unpacked copies (and the rollouts)."""

    def __init__(self, root: Path, *, readonly: bool = False, url: str | None = None,
                 where: str = "promptwise.yaml") -> None:
        self.root = Path(root)
        self.readonly = readonly
        self._lock = threading.RLock()
        self.team_database = url is not None
        if url is not None:
            from promptwise.deploy import registry_postgres

            self._db = registry_postgres.connect(url, where, readonly=readonly)
            self.location = f"the team database {registry_postgres.describe(url)}"
            self._snapshots = self.root / "registry-cache" / registry_postgres.cache_key(url)
        else:
            self._db = open_database(self.root, readonly=readonly)
            self.location = str(self.root)
            self._snapshots = self.root

    @classmethod
    def for_workspace(cls, workspace, *, readonly: bool = False) -> "Registry":
        return cls(registry_root(workspace), readonly=readonly, url=registry_url(workspace), where=_where(workspace))

    @classmethod
    def existing(cls, workspace) -> "Registry | None":
        """The workspace's registry opened read-only, or None when none was made yet (no local
        file; a team database is always opened, and says so when it cannot be)."""
        url = registry_url(workspace)
        root = registry_root(workspace)
        if url is None:
            return cls(root, readonly=True) if (root / REGISTRY_FILE).is_file() else None
        from promptwise.deploy.registry_postgres import NoRegistryYet

        try:
            return cls(root, readonly=True, url=url, where=_where(workspace))
        except NoRegistryYet:
            return None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def database(self) -> sqlite3.Connection:
        """The registry's connection, for the audit log that lives beside the versions (a
        registry_postgres.Connection, with the same `execute`, for a team database)."""
        return self._db

    def _begin_exclusive(self) -> None:
        if self.team_database:
            self._db.begin_exclusive()
        else:
            self._db.execute("BEGIN IMMEDIATE")

    # ----- writes -----

    def package(self, flow_path: Path, workspace, *, name: str | None = None, who: str) -> tuple[Version, bool]:
        """Register the flow at `flow_path` (in `workspace`); returns (version, created). The same
        content under the same name returns the existing version (created False)."""
        from promptwise.documents.content_hash import behaviour_files, flow_content_hash

        flow_file, files = behaviour_files(flow_path)
        if not flow_file.name.lower().endswith(".prompty") and _within(self.root, flow_file.parent):
            raise DeployError(f"the registry folder {self.root} is inside the flow folder {flow_file.parent}: every "
                              f"version would copy the ones before it; set registry.path outside the flow")
        chosen, name = name is not None, name or default_name(flow_file)
        if not _NAME.match(name):
            raise DeployError(f"--name {name!r}: a version name is 1-63 lowercase letters, digits, '.', '_' or '-', "
                              f"starting with a letter or digit")
        owner = None if chosen else self.owner(name, flow_file, workspace)
        if owner is not None:  # checked before the content: a copied flow hashes alike
            raise DeployError(f"{name_taken(name, owner, flow_file)}; or, if this flow moved from there, package it "
                              f"with --name {name} to keep the name")
        content_hash = flow_content_hash(flow_path)
        existing = self._find(name=name, content_hash=content_hash)
        if existing is not None:
            return existing, False
        root = Path(workspace.root).resolve()
        layout = {_inside(file, root, flow_file): file for file in files.values()}
        if workspace.source is not None:
            layout[_inside(Path(workspace.source), root, flow_file)] = Path(workspace.source)
        snapshot_flow = _inside(flow_file, root, flow_file)
        staging = self._snapshots / SNAPSHOTS_DIR / f".staging-{secrets.token_hex(6)}"
        try:
            digests = _copy(layout, staging, has_settings=workspace.source is not None)
            copied = staging / snapshot_flow
            entry = flow_entry(flow_file, root)
            if flow_content_hash(copied) != content_hash:  # the snapshot must run what was hashed
                raise DeployError(f"{flow_file}: the snapshot does not hash as the flow does (a file changed while "
                                  f"packaging?); package again")
            with self._lock:
                self._begin_exclusive()
                try:
                    raced = self._find(name=name, content_hash=content_hash)
                    if raced is not None:  # another process packaged the same content meanwhile
                        self._db.execute("ROLLBACK")
                        return raced, False
                    number = self._db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE name=?",
                                              (name,)).fetchone()[0]
                    final = self._snapshots / SNAPSHOTS_DIR / name / f"v{number}"
                    final.parent.mkdir(parents=True, exist_ok=True)
                    if final.exists():  # left by a crash between rename and commit: never ours to trust
                        _remove(final)
                    os.replace(staging, final)
                    version_id = f"{name}:v{number}"
                    self._db.execute(
                        "INSERT INTO versions(id, name, number, content_hash, created_at, created_by, source, flow,"
                        " snapshot, files) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (version_id, name, number, content_hash, time.time(), who, str(flow_path),
                         entry, final.relative_to(self._snapshots).as_posix(), json.dumps(digests, sort_keys=True)))
                    if self.team_database:  # the files travel with the row: one transaction
                        for relative in sorted(digests):
                            self._db.execute("INSERT INTO version_files(version_id, path, data) VALUES (?,?,?)",
                                             (version_id, relative, (final / relative).read_bytes()))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        finally:
            if staging.exists():
                _remove(staging)
        return self.get(f"{name}:v{number}"), True

    # ----- reads -----

    def _from_record(self, record) -> Version:
        return Version(record["id"], record["name"], record["number"], record["content_hash"], record["created_at"],
                       record["created_by"], record["source"], record["flow"], self._snapshots / record["snapshot"],
                       json.loads(record["files"]))

    def owner(self, name: str, flow_file: Path, workspace) -> Version | None:
        """The newest version of `name` when it was packaged from another flow of the workspace
        than `flow_file` (two flows named alike: chat/chat.prompty and chat2/chat.prompty are both
        "chat" by default), else None. Versions record the flow's workspace path, so this holds
        on every machine of a team registry."""
        versions = self.list(name)
        if not versions:
            return None
        try:
            entry = flow_entry(flow_file, Path(workspace.root).resolve())
        except DeployError:  # a flow outside the workspace is refused when packaged
            return None
        return versions[0] if versions[0].flow != entry else None

    def _find(self, *, name: str, content_hash: str) -> Version | None:
        with self._lock:
            record = self._db.execute("SELECT * FROM versions WHERE name=? AND content_hash=?",
                                      (name, content_hash)).fetchone()
        return self._from_record(record) if record else None

    def list(self, name: str | None = None) -> list[Version]:
        """Newest first."""
        query, args = "SELECT * FROM versions", []
        if name:
            query, args = query + " WHERE name=?", [name]
        with self._lock:
            records = self._db.execute(query + " ORDER BY created_at DESC, number DESC", args).fetchall()
        return [self._from_record(r) for r in records]

    def get(self, ref: str) -> Version:
        """A version by id (`name:v3`), by name (its newest version, also `name:latest`), or by a
        content hash prefix (`sha256:3f2a...`, at least 8 hex digits). DeployError when none
        matches, with the ids that are close."""
        ref = ref.strip()
        with self._lock:
            if ref.startswith("sha256:") and len(ref) >= 15:
                records = self._db.execute("SELECT * FROM versions WHERE content_hash LIKE ? ORDER BY created_at DESC",
                                           (ref.replace("%", "").replace("_", "") + "%",)).fetchall()
            else:
                name, _, tag = ref.partition(":")
                if tag in ("", "latest"):
                    records = self._db.execute("SELECT * FROM versions WHERE name=? ORDER BY number DESC LIMIT 1",
                                               (name,)).fetchall()
                else:
                    records = self._db.execute("SELECT * FROM versions WHERE id=?", (ref,)).fetchall()
            known = [r[0] for r in self._db.execute("SELECT id FROM versions ORDER BY created_at DESC")]
        if not records:
            close = difflib.get_close_matches(ref, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else (
                f"; known versions: {', '.join(known[:8])}" if known else "; none is packaged yet (promptwise package FLOW)")
            raise DeployError(f"no version {ref!r} in the registry {self.location}{hint}")
        names = {r["name"] for r in records}
        if len(names) > 1:
            raise DeployError(f"{ref!r} matches versions of {', '.join(sorted(names))}: name one as NAME:vN")
        return self._from_record(records[0])

    def materialize(self, ref: str) -> Path:
        """The flow path (folder or .prompty) inside the version's snapshot, checked to still hash
        as the version: a snapshot edited by hand is refused rather than served."""
        from promptwise.documents.content_hash import flow_content_hash

        version = self.get(ref)
        flow = version.snapshot / version.flow
        if self.team_database and (not flow.exists() or flow_content_hash(flow) != version.content_hash):
            self._unpack(version)  # the database holds the version: its local copy is only a cache
        if not flow.exists():
            raise DeployError(f"{version.id}: its snapshot {version.snapshot} is missing; the registry folder was "
                              f"moved or cleaned")
        if flow_content_hash(flow) != version.content_hash:
            raise DeployError(f"{version.id}: its snapshot {version.snapshot} was modified after packaging; "
                              f"versions are immutable (package the changed flow as a new version)")
        return flow


    def _unpack(self, version: Version) -> None:
        """Write a team-database version's files into its cache folder, each checked against
        the digest recorded when it was packaged."""
        with self._lock:
            rows = self._db.execute("SELECT path, data FROM version_files WHERE version_id=?", (version.id,)).fetchall()
        found = {row["path"]: bytes(row["data"]) for row in rows}
        if set(found) != set(version.files) or any(
                hashlib.sha256(data).hexdigest() != version.files[path] for path, data in found.items()):
            raise DeployError(f"{version.id}: its files in {self.location} do not match the digests recorded when it "
                              f"was packaged; package the flow again as a new version")
        staging = version.snapshot.parent / f".staging-{secrets.token_hex(6)}"
        try:
            for relative, data in found.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                target.chmod(0o444)
            if version.snapshot.exists():
                _remove(version.snapshot)
            os.replace(staging, version.snapshot)
        except OSError as error:
            if not version.snapshot.exists():  # another process unpacked it meanwhile: fine
                raise DeployError(f"{version.id}: cannot unpack it into {version.snapshot}: {error}") from None
        finally:
            if staging.exists():
                _remove(staging)


def _remove(folder: Path) -> None:
    """Delete a snapshot folder (its files are read-only, their folders are not)."""
    shutil.rmtree(folder, ignore_errors=True)


def _within(path: Path, folder: Path) -> bool:
    """`path` is in `folder` where the content hash walks (hidden folders such as .promptwise/ are not)."""
    try:
        parts = path.resolve().relative_to(folder.resolve()).parts
    except ValueError:
        return False
    return not any(part.startswith(".") for part in parts)


def _inside(file: Path, root: Path, flow_file: Path) -> str:
    try:
        return file.resolve().relative_to(root).as_posix()
    except ValueError:
        raise DeployError(f"{flow_file}: it uses {file}, which is outside the workspace {root}; a version holds "
                          f"only workspace files (move it into the workspace)") from None


def _copy(layout: dict[str, Path], staging: Path, *, has_settings: bool) -> dict[str, str]:
    """Copy every file to its place under `staging`, read-only; returns path -> sha256."""
    digests = {}
    for relative, source in sorted(layout.items()):
        data = source.read_bytes()
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o444)
        digests[relative] = hashlib.sha256(data).hexdigest()
    if not has_settings:  # the snapshot is a workspace of its own: settings discovery stops here
        (staging / "promptwise.yaml").write_text("{}\n", encoding="utf-8")
        digests["promptwise.yaml"] = hashlib.sha256(b"{}\n").hexdigest()
    return digests
