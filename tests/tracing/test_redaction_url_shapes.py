"""URL credentials are masked by their shape in every span's content, on the request path: the
faster forms of those shapes (redaction.py) mask exactly what the plain regexes masked.

The plain forms below are the ones redaction.py used before: a `?name=value` regex opening with
`[?&;]` and the userinfo regex tried on every text holding an "@". They are compared with
`redact_url_credentials` and `_has_url_credentials` on generated texts built from the pieces
URLs, query strings, e-mail addresses and log lines are made of, case variants included.
"""

from __future__ import annotations

import random
import re

from promptwise import redaction
from promptwise.redaction import MASK, redact_url_credentials

_PLAIN_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@?#'\"<>]*):([^/\s@?#'\"<>]+)@")
_PLAIN_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(re.escape(p) for p in redaction._CREDENTIAL_PARAMETERS)
                          + r")=)([^&#\s'\"<>\\]+)")


def _plain_redact(text: str) -> str:
    if "@" in text:
        text = _PLAIN_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    if "=" in text:
        text = _PLAIN_QUERY.sub(lambda m: m.group(1) + MASK, text)
    return text


def _plain_has(text: str) -> bool:
    return ("@" in text and _PLAIN_USERINFO.search(text) is not None) or (
        "=" in text and _PLAIN_QUERY.search(text) is not None)


_PIECES = [
    "https://", "HTTP://", "git+ssh://", "s3://", "://", ":/", "user", "u.ser-1", ":", "p@ss", "pa55", "@", "@@",
    "host.example.com", "/path", "?", "&", ";", "#", "=", "==", "key", "KEY", "Key", "\u212aey",  # Kelvin sign K
    "\u017fig", "sig", "Sig", "x-api-key", "api-key", "subscription-key", "Subscription-Key", "access_token", "code",
    "keys", "monkey", "value", "v4lu3", "a;b", " ", "\t", "\n", "'", '"', "<", ">", "\\", "\x00", "corr=5d0e7b42",
    "jane.doe@example.com", "2026-03-04T10:22:31Z", "é", "%40", "+",
    "?key=abc", "&Sig=x", ";TOKEN=t0k", "?sig=", "https://u:p@h", "ftp://:x@", "http://u@h",  # whole shapes too
]


def test_the_faster_url_credential_shapes_mask_what_the_plain_regexes_masked():
    rng = random.Random(11)
    texts = ["https://user:pa55@host/x?sig=abc&key=d;token=e", "a;API-KEY=zz b", "x?q=1&token=", "mail a@b.cd",
             "?sig=abc;key=def", "?sig=&key=v", "?sig=;key=v", "s3://a:b@c?\u212aey=1", "?\u017fig=x"]
    texts += ["".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 25))) for _ in range(10_000)]
    changed = 0
    for text in texts:
        expected = _plain_redact(text)
        assert redact_url_credentials(text) == expected, text
        assert redaction._has_url_credentials(text) == _plain_has(text), text
        changed += expected != text
    assert changed > 2_000  # the generated texts hold credentials in many shapes, not just clean text
