"""The `serve:` section of promptwise.yaml: API keys, limits, CORS and logging for `promptwise serve`.

    serve:
      keys:                                # each key names a consumer; never written in clear
        - consumer: claims-portal
          key: ${env:CLAIMS_PORTAL_KEY}      # read from the environment at start-up, then hashed
        - consumer: batch-jobs
          sha256: 9f86d081884c7d65...        # or the key's sha256 (hex), e.g. `promptwise serve --hash-key`
      limits:                              # per consumer; `default` for any consumer not named
        default: {requests_per_minute: 600, tokens_per_minute: 200000}
        batch-jobs: {requests_per_minute: 60}
      max_body_bytes: 1048576              # 413 above it
      timeout_seconds: 120                 # a request that takes longer is answered 504
      max_concurrency: 64                  # requests in flight per worker; more are answered 503
      cors: {allow_origins: ["https://portal.example"]}   # off unless given
      log_inputs: false                    # the access log never has inputs unless this is true

Every value is validated here; a mistake is a `ServeConfigError` naming the file, the setting
and the fix, reported before the server starts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_ENV_ONLY = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_CONSUMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class ServeConfigError(Exception):
    """The `serve:` settings cannot be used; the message names the file, setting and fix."""


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass
class ServeSettings:
    key_hashes: dict[str, str] = field(default_factory=dict)  # sha256 hex of a key -> consumer
    limits: dict[str, Limits] = field(default_factory=dict)  # consumer (or "default") -> limits
    max_body_bytes: int = 1024 * 1024
    timeout_seconds: float = 120.0
    max_concurrency: int = 64
    cors_origins: list[str] = field(default_factory=list)
    log_inputs: bool = False

    @property
    def requires_keys(self) -> bool:
        return bool(self.key_hashes)

    def consumer_for(self, presented: str | None) -> str | None:
        """The consumer a presented key belongs to, or None. Compared as hashes, in constant time."""
        if not presented:
            return None
        digest = hash_key(presented)
        found = None
        for stored, consumer in self.key_hashes.items():
            if hmac.compare_digest(stored, digest):
                found = consumer
        return found

    def limits_for(self, consumer: str) -> Limits:
        return self.limits.get(consumer) or self.limits.get("default") or Limits()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_serve_settings(section: Any, where: str, environ: Mapping[str, str] | None = None) -> ServeSettings:
    """ServeSettings from the raw `serve:` mapping (None: defaults). `where` names the file."""
    environ = os.environ if environ is None else environ
    if section is None:
        return ServeSettings()
    if not isinstance(section, dict):
        raise ServeConfigError(f"{where}: `serve` must be a mapping of settings (keys, limits, ...)")
    known = {"keys", "limits", "max_body_bytes", "timeout_seconds", "max_concurrency", "cors", "log_inputs"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ServeConfigError(f"{where}: `serve.{unknown[0]}` is not a setting; use one of {', '.join(sorted(known))}")
    settings = ServeSettings()
    settings.key_hashes = _keys(section.get("keys"), where, environ)
    settings.limits = _limits(section.get("limits"), where)
    settings.max_body_bytes = _positive_int(section, "max_body_bytes", settings.max_body_bytes, where)
    settings.max_concurrency = _positive_int(section, "max_concurrency", settings.max_concurrency, where)
    timeout = section.get("timeout_seconds", settings.timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ServeConfigError(f"{where}: `serve.timeout_seconds` must be a number of seconds above 0, got {timeout!r}")
    settings.timeout_seconds = float(timeout)
    cors = section.get("cors")
    if cors is not None:
        origins = cors.get("allow_origins") if isinstance(cors, dict) else None
        if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
            raise ServeConfigError(f"{where}: `serve.cors` must be `{{allow_origins: [\"https://...\"]}}`")
        settings.cors_origins = origins
    log_inputs = section.get("log_inputs", False)
    if not isinstance(log_inputs, bool):
        raise ServeConfigError(f"{where}: `serve.log_inputs` must be true or false")
    settings.log_inputs = log_inputs
    return settings


def _keys(raw: Any, where: str, environ: Mapping[str, str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ServeConfigError(f"{where}: `serve.keys` must be a list of `{{consumer: NAME, key: ${{env:VAR}}}}` items")
    hashes: dict[str, str] = {}
    for index, item in enumerate(raw):
        at = f"{where}: `serve.keys[{index}]`"
        if not isinstance(item, dict) or not isinstance(item.get("consumer"), str):
            raise ServeConfigError(f"{at} must name its `consumer` (and give `key: ${{env:VAR}}` or `sha256: HEX`)")
        consumer = item["consumer"]
        if not _CONSUMER.match(consumer):
            raise ServeConfigError(f"{at}: consumer {consumer!r} must be 1-64 letters, digits, `_.@-`")
        key, digest = item.get("key"), item.get("sha256")
        if (key is None) == (digest is None):
            raise ServeConfigError(f"{at} needs exactly one of `key: ${{env:VAR}}` or `sha256: HEX`")
        if key is not None:
            match = _ENV_ONLY.match(str(key))
            if not match:
                # Never echo the value: it may be the secret itself.
                raise ServeConfigError(f"{at}: `key` must be an `${{env:VAR}}` reference; a key written in clear "
                                       f"would be stored in the settings file. Export it and write "
                                       f"`key: ${{env:VAR}}`, or give its hash as `sha256:`")
            value = environ.get(match.group(1), "")
            if not value:
                raise ServeConfigError(f"{at} refers to ${{env:{match.group(1)}}}, but the environment variable "
                                       f"{match.group(1)} is not set; export it before `promptwise serve`")
            digest = hash_key(value)
        elif not isinstance(digest, str) or not _HEX64.match(digest):
            raise ServeConfigError(f"{at}: `sha256` must be 64 hex digits (the sha256 of the key)")
        digest = digest.lower()
        if digest in hashes and hashes[digest] != consumer:
            raise ServeConfigError(f"{at}: the same key is given for consumers `{hashes[digest]}` and `{consumer}`")
        hashes[digest] = consumer
    return hashes


def _limits(raw: Any, where: str) -> dict[str, Limits]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ServeConfigError(f"{where}: `serve.limits` must map a consumer (or `default`) to its limits")
    limits: dict[str, Limits] = {}
    for consumer, values in raw.items():
        at = f"{where}: `serve.limits.{consumer}`"
        if not isinstance(values, dict):
            raise ServeConfigError(f"{at} must be `{{requests_per_minute: N, tokens_per_minute: N}}`")
        unknown = sorted(set(values) - {"requests_per_minute", "tokens_per_minute"})
        if unknown:
            raise ServeConfigError(f"{at}.{unknown[0]} is not a limit; use requests_per_minute or tokens_per_minute")
        limits[str(consumer)] = Limits(_positive_int(values, "requests_per_minute", None, at),
                                       _positive_int(values, "tokens_per_minute", None, at))
    return limits


def _positive_int(values: dict, name: str, default: int | None, where: str) -> int | None:
    value = values.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ServeConfigError(f"{where}: `{name}` must be a whole number above 0, got {value!r}")
    return value
