"""Keep secret values out of the store, logs, error messages and reports.

Every secret the engine resolves (API keys from `${env:NAME}`, credentials inside an endpoint
URL) is registered here; `redact` replaces them in any text before it is stored or shown, and
a log record factory does the same for every log record (installed the first time a secret is
registered).

A secret comes back in other shapes than the one registered: an endpoint that echoes a request
URL shows it URL-encoded, one that echoes a Basic `Authorization` header shows it in base64, an
HTML page escapes it. Each registered secret is therefore masked in those forms too. Credentials
in URLs (`user:password@host`, `?subscription-key=...`, `&sig=...`) are masked by their shape
as well, so a URL never seen at registration (an endpoint's redirect, a prompty's own
`base_url`) does not carry one through.

A bottom module (it imports nothing of ours): the engine registers secrets, and the store,
evaluation and reports redact with it, without the store knowing the engine.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

_lock = threading.Lock()
_secrets: set[str] = set()
# Every form to mask, longest first (so a secret containing another is masked whole), each with
# its JSON-escaped form (what the store's JSON text holds).
_ordered: tuple[tuple[str, str], ...] = ()
_escaped_differently: tuple[str, ...] = ()  # the JSON forms of _ordered that differ from the form itself
_filter_installed = False
MASK = "***"
_MIN_LENGTH = 4  # shorter values ("x", "na") would mangle ordinary text and protect nothing
_MIN_ENCODED_LENGTH = 8  # an encoded fragment shorter than this would match ordinary text

# Query parameters that carry a credential (Azure API Management, SAS tokens, function keys...).
_CREDENTIAL_PARAMETERS = (
    "subscription-key", "subscription_key", "api-key", "api_key", "apikey", "key", "code", "sig",
    "signature", "token", "access_token", "id_token", "refresh_token", "password", "pwd", "secret",
    "client_secret", "auth", "x-api-key",
)  # fmt: skip
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@?#'\"<>]*):([^/\s@?#'\"<>]+)@")
# What follows the scheme in every _URL_USERINFO match. It opens with a literal, which the regex
# engine finds fast; _URL_USERINFO itself is tried at every word (~37 ns a character: 0.4 ms for
# 10 KB of prompt), so it runs only where this is found.
_URL_USERINFO_TAIL = re.compile(r"://[^/\s:@?#'\"<>]*:[^/\s@?#'\"<>]+@")
# `?name=value` for a credential-like name: matched from its "=" (a literal, found fast), with the
# `?name` checked behind it, instead of from every `?`, `&` and `;` (a character class, which the
# regex engine tries at each position: ~6x slower on log-like text). The value is group 1; what
# stands before the "=" is left as it is.
_URL_QUERY_SECRET = re.compile(
    "(?i)=(?:" + "|".join(f"(?<=[?&;]{re.escape(name)}=)" for name in _CREDENTIAL_PARAMETERS) + r")([^&#\s'\"<>\\]+)")


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


def _base64_cores(value: str) -> set[str]:
    """The base64 text a secret always turns into, wherever it sits in the encoded bytes.

    Base64 maps 3 bytes to 4 characters, so the characters a secret produces depend on its
    offset (mod 3) in the encoded string (`apikey:SECRET` in a Basic header puts it at 7): for
    each of the three offsets, the characters determined by the secret's bytes alone."""
    raw = value.encode("utf-8")
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        head = (0, 2, 3)[offset]  # characters that mix in the bytes before the secret
        tail = 1 if (offset + len(raw)) % 3 else 0  # the one that mixes in the bytes after it
        core = encoded[head:len(encoded) - tail]
        cores.update((core, core.replace("+", "-").replace("/", "_")))  # standard and URL-safe
    return cores


def encoded_forms(value: str) -> set[str]:
    """`value` and the shapes it takes when echoed: URL-encoded (once and twice, `%20` and `+`
    for spaces), HTML-escaped, and base64 (standard and URL-safe, at any offset)."""
    forms = {value, quote(value, safe=""), quote_plus(value, safe=""), quote(quote(value, safe=""), safe=""),
             html.escape(value, quote=True)}
    forms = {form for form in forms if form == value or len(form) >= _MIN_ENCODED_LENGTH}
    forms.update(core for core in _base64_cores(value) if len(core) >= _MIN_ENCODED_LENGTH)
    return forms


def register_secret(value: str | None) -> None:
    if not value or len(value) < _MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _reorder()
    _install_filter()


def forget_secret(value: str | None) -> None:
    """Stop masking a secret that is no longer valid (an expired bearer token, replaced by a new
    one), so a long run does not scan every row for every token it ever had."""
    with _lock:
        if value in _secrets:
            _secrets.discard(value)
            _reorder()


def _reorder() -> None:  # under _lock
    global _ordered, _escaped_differently
    forms = set().union(*(encoded_forms(secret) for secret in _secrets))
    _ordered = tuple((form, json.dumps(form, ensure_ascii=False)[1:-1])
                     for form in sorted(forms, key=len, reverse=True))
    _escaped_differently = tuple(escaped for form, escaped in _ordered if escaped != form)


def register_url_credentials(url: str | None) -> None:
    """Register the credentials an endpoint URL carries: the password of `user:password@host`
    and credential-like query parameters (`?subscription-key=...`), so every later echo of them
    is masked, whatever shape the echo takes."""
    if not url or ("@" not in url and "=" not in url):
        return
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:  # not a URL we can take apart: the shape-based masking still applies
        return
    if password:
        register_secret(unquote(password))
        register_secret(password)
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if name.lower() in _CREDENTIAL_PARAMETERS:
            register_secret(value)


def redact_url_credentials(text: str) -> str:
    """Mask credentials by their place in a URL: `user:***@host`, `?subscription-key=***`."""
    if _may_hold_userinfo(text):
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    if "=" in text:
        text = _URL_QUERY_SECRET.sub("=" + MASK, text)
    return text


def _may_hold_userinfo(text: str) -> bool:
    return "@" in text and _URL_USERINFO_TAIL.search(text) is not None


def _has_url_credentials(text: str) -> bool:
    return (_may_hold_userinfo(text) and _URL_USERINFO.search(text) is not None) or (
        "=" in text and _URL_QUERY_SECRET.search(text) is not None)


def redact(text: str) -> str:
    if not text:
        return text
    for secret, _ in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return redact_url_credentials(text)


# `\uXXXX` or `\b` anywhere: one search instead of two two-character scans of the text (a prompt's
# JSON always gets this far: its line breaks are escaped). 2.8 KB of prompt: 6.4 -> 2.0 us (R, 15:14).
_SHAPE_STOPPING_ESCAPE = re.compile(r"\\[ub]")


def escapes_may_hide_secrets(json_text: str) -> bool:
    """Whether `redact` over JSON text (ensure_ascii off) could find less than it finds in the
    strings the text encodes: a registered secret whose JSON form differs from it (it holds a
    quote, a backslash or a control character) occurs in that form, or the text escapes a control
    character that is no whitespace (`\\uXXXX`, `\\b`: a URL credential's shape runs over the
    character itself but stops at its escape). Escaped quotes, backslashes and line breaks stop
    the URL shapes where the characters themselves stop them, so they need no second look."""
    if "\\" not in json_text:  # one fast scan: every escape, and every escaped form, holds a backslash
        return False
    if _SHAPE_STOPPING_ESCAPE.search(json_text) is not None:
        return True
    for escaped in _escaped_differently:  # usually none: secrets seldom hold quotes or backslashes
        if escaped in json_text:
            return True
    return False


def dumps_redacted(value) -> str:
    """JSON text of `value` (ensure_ascii off, unknown types as str) with every secret masked.

    The store writes several values per row: checking the finished text once for each secret
    is much cheaper than walking every value, and in the usual case (no secret inside) that
    is all it costs. If a secret's JSON form (or a URL credential) does occur, the value is
    walked and masked."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if _has_url_credentials(text) or any(escaped in text for _, escaped in _ordered):
        return json.dumps(redact_value(value), ensure_ascii=False, default=str)
    return text


def redact_value(value):
    """Redact strings inside nested JSON-like data (keys included: a key can be a URL too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(key) if isinstance(key, str) else key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value
