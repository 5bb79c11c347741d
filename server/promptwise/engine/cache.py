"""The response cache: re-running an unchanged prompt costs nothing.

Keyed by the exact request (endpoint, model, messages, parameters), stored in
`<workspace>/.promptwise/cache.sqlite` (WAL, so several runs may share it). Secrets are
never part of the key or the value.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from promptwise.engine.secrets import dumps_redacted

CACHE_FILE = "cache.sqlite"


def request_key(endpoint: dict, model: str, messages: list[dict], params: dict) -> str:
    payload = json.dumps({"endpoint": endpoint, "model": model, "messages": messages, "params": params},
                         sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, state_dir: Path) -> None:
        path = Path(state_dir) / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL,"
                " created_at REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0)")
        except sqlite3.DatabaseError as error:
            self._db.close()
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise
            from promptwise.store.schema import DamagedDatabase

            raise DamagedDatabase(path, error, "it only holds cached model answers; or pass --no-cache") from None
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key=?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            self._db.execute("UPDATE responses SET hits = hits + 1 WHERE key=?", (key,))
        return json.loads(row[0])

    def put(self, key: str, response: dict) -> None:
        text = dumps_redacted(response)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses(key, response, created_at) VALUES (?,?,?)",
                             (key, text, time.time()))

    def clear(self) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM responses").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
