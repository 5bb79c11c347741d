"""Keep secret values out of the store, logs and error messages.

Every secret the engine resolves (API keys from `${env:NAME}`) is registered here; `redact`
replaces them in any text before it is stored or shown, and a log record factory does the same
for every log record (installed the first time a secret is registered).

A bottom module (it imports nothing of ours): the engine registers secrets, and the store,
evaluation and reports redact with it, without the store knowing the engine.
"""

from __future__ import annotations

import json
import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
# Longest first (so a secret containing another is masked whole), each with its JSON-escaped form.
_ordered: tuple[tuple[str, str], ...] = ()
_filter_installed = False
MASK = "***"
_MIN_LENGTH = 4  # shorter values ("x", "na") would mangle ordinary text and protect nothing


def _install_filter() -> None:
    """Wrap the log record factory, so every record from any logger or handler is redacted."""
    global _filter_installed
    with _lock:
        if _filter_installed:
            return
        _filter_installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string is logging's problem to report, not ours
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(redacting_factory)


def register_secret(value: str | None) -> None:
    if not value or len(value) < _MIN_LENGTH:
        return
    global _ordered
    with _lock:
        _secrets.add(value)
        _ordered = tuple((secret, json.dumps(secret, ensure_ascii=False)[1:-1])
                         for secret in sorted(_secrets, key=len, reverse=True))
    _install_filter()


def redact(text: str) -> str:
    if not text or not _ordered:
        return text
    for secret, _ in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def dumps_redacted(value) -> str:
    """JSON text of `value` (ensure_ascii off, unknown types as str) with every secret masked.

    The store writes several values per row: checking the finished text once for each secret
    is much cheaper than walking every value, and in the usual case (no secret inside) that
    is all it costs. If a secret's JSON form does occur, the value is walked and masked."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    for secret, escaped in _ordered:
        if escaped in text:
            return json.dumps(redact_value(value), ensure_ascii=False, default=str)
    return text


def redact_value(value):
    """Redact strings inside nested JSON-like data."""
    if not _ordered:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value
