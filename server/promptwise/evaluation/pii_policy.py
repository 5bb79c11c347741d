"""Personal data in stored and exported traffic: redacted, hashed or dropped (`tracing.pii`).

The policy itself, below the stores that apply it: the trace store (tracing/), the run store
(store/run_store.py, with `tracing.pii_runs`) and the access log (serving/) all use this one.

    tracing:
      pii: redact                    # redact (default) | hash | drop
      pii_key: ${env:TRACE_PII_KEY}  # hash only: the HMAC key, so equal values hash alike

The detectors are the evaluation's (evaluation/safety.py: e-mail, phone, payment card (Luhn),
IBAN (mod 97), US SSN (issuance rules), UK NINO (prefix rules), French NIR (key), Dutch BSN
(11-proof), Spanish DNI/NIE (control letter), Finnish HETU (control character), names after a
field like "Name:", a salutation, "my name is" or a title; see find_pii for the limits). A policy applies to the content a span carries (prompts, replies, inputs, outputs,
events, the status message) in the store's writer thread and in the OTLP exporter's thread:
never on the request path, and nothing leaves either way unprocessed.

- redact: each finding becomes `[EMAIL]`, `[CARD]`...
- hash:   each finding becomes `[EMAIL:<16 hex>]`, an HMAC-SHA256 of the normalised value under
          the key: the same person joins across traces, the value itself is not recoverable
          without the key.
- drop:   a value holding any finding is replaced whole by `[dropped: personal data]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from typing import Any, Sequence

from promptwise.evaluation.safety import ALL_PII_KINDS, find_pii

MODES = ("redact", "hash", "drop")
DROPPED = "[dropped: personal data]"
_ENV_ONLY = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
# Every detector needs one of these in the text: most values (model names, ids, short replies)
# are passed over with one scan.
_WORTH_SCANNING = re.compile(r"@|\d|[Nn]ame|Dear|[Pp]atient|[Cc]ustomer|[Cc]ontact|[Aa]ttn|Mr|Ms|Miss|Dr|Prof")


class PiiKeyError(ValueError):
    """`hash` mode without a usable key."""


def key_variable(reference: str | None, *, where: str = "tracing.pii_key") -> str:
    """The environment variable a `${env:NAME}` key setting names (never a literal: a key
    written in a settings file would be committed). Raises PiiKeyError saying what to write.
    Reads no environment: `promptwise check` calls it where the key is not exported."""
    if not reference:
        raise PiiKeyError(f"`tracing.pii: hash` needs a key: set `{where}: ${{env:NAME}}` and export NAME")
    match = _ENV_ONLY.match(reference.strip()) if isinstance(reference, str) else None
    if match is None:
        raise PiiKeyError(f"`{where}` must be an environment reference like ${{env:TRACE_PII_KEY}}, not a literal")
    return match.group(1)


def resolve_key(reference: str | None, *, where: str = "tracing.pii_key") -> bytes:
    """The HMAC key named by `${env:NAME}` (key_variable). Raises PiiKeyError saying what to set."""
    name = key_variable(reference, where=where)
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise PiiKeyError(f"`{where}`: environment variable {name} is "
                          f"{'not set' if not value else 'shorter than 16 characters'}; export a random key")
    from promptwise.redaction import register_secret

    register_secret(value)  # masked in logs and stored text, like every other key
    return value.encode("utf-8")


class PiiPolicy:
    def __init__(self, mode: str = "redact", key: bytes | None = None,
                 kinds: Sequence[str] = ALL_PII_KINDS) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown PII mode {mode!r} (use one of {', '.join(MODES)})")
        if mode == "hash" and not key:
            raise PiiKeyError("`tracing.pii: hash` needs a key")
        self.mode, self.key, self.kinds = mode, key, tuple(kinds)

    def _token(self, kind: str, value: str) -> str:
        if self.mode == "redact":
            return f"[{kind.upper()}]"
        normalised = value.lower() if kind in ("email", "name") else re.sub(r"[\s.-]", "", value).upper()
        digest = hmac.new(self.key, f"{kind}:{normalised}".encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return f"[{kind.upper()}:{digest}]"

    def text(self, text: str) -> str:
        """`text` with its personal data handled by the mode (unchanged when there is none)."""
        if not text or _WORTH_SCANNING.search(text) is None:
            return text
        stripped = text.lstrip()
        if stripped[:1] in "[{":  # JSON text (messages, inputs): process the strings inside, keep it JSON
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                # One scan over all its strings first (joined by NUL, which no detector crosses):
                # most messages hold nothing, and then nothing is walked or re-encoded.
                if not find_pii("\x00".join(_strings(parsed)), self.kinds):
                    return text
                governed = self.value(parsed)
                return text if governed == parsed else json.dumps(governed, ensure_ascii=False)
        findings = find_pii(text, self.kinds)
        if not findings:
            return text
        if self.mode == "drop":
            return DROPPED
        pieces, last = [], 0
        for finding in findings:
            pieces += [text[last:finding.start], self._token(finding.kind, finding.text)]
            last = finding.end
        pieces.append(text[last:])
        return "".join(pieces)

    def value(self, value: Any) -> Any:
        """Strings inside nested data (an attribute value, a JSON document) processed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {(self.text(key) if isinstance(key, str) else key): self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            governed = [self.value(item) for item in value]
            return tuple(governed) if isinstance(value, tuple) else governed
        return value

    def attributes(self, attributes: dict[str, Any], names: frozenset[str] | None = None) -> dict[str, Any]:
        """Attributes with the values of `names` (all when None) processed."""
        return {key: (self.value(value) if names is None or key in names else value)
                for key, value in attributes.items()}


def _strings(value: Any) -> list[str]:
    """The strings in nested data, keys included, in document order (one list filled as it goes:
    the span writer decodes every request's messages into their strings)."""
    found: list[str] = []
    _collect_strings(value, found)
    return found


def _collect_strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                found.append(key)
            elif isinstance(key, tuple):
                _collect_strings(key, found)
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, (dict, list, tuple)):
                _collect_strings(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, (dict, list, tuple)):
                _collect_strings(item, found)


def policy_from_settings(settings) -> PiiPolicy:
    """The policy a TracingSettings asks for. Raises PiiKeyError for hash mode without a key."""
    mode = getattr(settings, "pii", "redact")
    key = resolve_key(getattr(settings, "pii_key", None)) if mode == "hash" else None
    return PiiPolicy(mode, key)
