"""Keep secret values out of the store, logs and error messages.

Every secret the engine resolves (API keys from `${env:NAME}`) is registered here; `redact`
replaces them in any text before it is stored or shown, and a log record factory does the same
for every log record (installed the first time a secret is registered).
"""

from __future__ import annotations

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
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
    with _lock:
        _secrets.add(value)
    _install_filter()


def redact(text: str) -> str:
    if not text or not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value):
    """Redact strings inside nested JSON-like data."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value
