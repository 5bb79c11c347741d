"""Encryption at rest of the content a store keeps (prompts, replies, inputs, outputs, error texts).

    tracing:
      encrypt:
        key: ${env:PROMPTWISE_STORE_KEY}       # the key new values are sealed with
        previous_keys:                         # optional: older keys, still read (rotation)
          - ${env:PROMPTWISE_STORE_KEY_2026}

A sealed value is one string, `pwenc:1:<key id>:<base64 of nonce + AES-256-GCM ciphertext>`, put
where the plain value was (inside the attributes JSON, in the error and events columns): the
columns that lists, charts and monitoring filter or add up (times, tokens, cost, flow, version,
consumer, non-content attributes) stay plain, so SQL over them keeps working, and only content
costs a decryption to read.

- The key comes only from the environment (`${env:NAME}`), never from the settings file. Its text
  (at least 32 characters: `python -c "import secrets; print(secrets.token_urlsafe(32))"`) goes
  through HKDF-SHA256 to the 256-bit AES key.
- The key id (8 hex digits, a hash of the derived key that reveals nothing usable about it) is
  stored beside each value: a reader picks the key that sealed it, a store can hold values under
  several keys while they are rotated (`promptwise traces rekey` re-seals everything under the
  current key), and a wrong key is told apart from a damaged value.
- The field's name is the GCM associated data: a sealed value moved to another field fails to open.
- A reader without the key gets a placeholder saying which setting to set, never an exception.

Needs the `cryptography` package (the `encrypt` extra); imported only when encryption is on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from typing import Any, Iterable

from promptwise.common.extras import missing_extra

PREFIX = "pwenc:1:"
SETTING = "tracing.encrypt.key"
PREVIOUS_SETTING = "tracing.encrypt.previous_keys"
MIN_KEY_CHARS = 32
KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
_ENV_ONLY = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_ID_END = len(PREFIX) + 8  # pwenc:1:<8 hex>:<base64>
_NONCE_BYTES = 12


class StoreKeyError(ValueError):
    """A key setting that cannot be used: the message names the setting and what to do."""


def env_reference(reference: Any, where: str) -> tuple[str, str | None]:
    """(NAME, its value or None when unset) for a `${env:NAME}` reference; StoreKeyError for a
    literal (a key written in a settings file would be committed with it)."""
    match = _ENV_ONLY.match(reference.strip()) if isinstance(reference, str) else None
    if match is None:
        raise StoreKeyError(f"`{where}` must be an environment reference like ${{env:PROMPTWISE_STORE_KEY}}, not "
                            f"the key itself; export the key in that variable")
    return match.group(1), os.environ.get(match.group(1))


class StoreKey:
    """One AES-256-GCM key, derived from the key text, with its id."""

    def __init__(self, secret: str) -> None:
        try:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        except ImportError:
            raise StoreKeyError(missing_extra(f"encryption at rest (`{SETTING}`)", ("cryptography",),
                                              "encrypt")) from None
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"promptwise store encryption v1").derive(secret.encode("utf-8"))
        self.id = hashlib.sha256(b"promptwise key id\x00" + derived).hexdigest()[:8]
        self._aead = AESGCM(derived)

    def seal(self, plain: bytes, field: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain, field.encode("utf-8"))
        return f"{PREFIX}{self.id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, payload: bytes, field: str) -> bytes:
        return self._aead.decrypt(payload[:_NONCE_BYTES], payload[_NONCE_BYTES:], field.encode("utf-8"))


def key_from_reference(reference: Any, where: str) -> StoreKey:
    """The key a `${env:NAME}` setting names. StoreKeyError saying what to set when the variable
    is unset or too short to be a random key."""
    name, value = env_reference(reference, where)
    if not value:
        raise StoreKeyError(f"`{where}` names the environment variable {name}, which is not set: export the store "
                            f"key in {name} (a new one: {KEY_HINT})")
    if len(value) < MIN_KEY_CHARS:
        raise StoreKeyError(f"`{where}`: the key in {name} has {len(value)} characters; use a random key of at least "
                            f"{MIN_KEY_CHARS} ({KEY_HINT})")
    from promptwise.redaction import register_secret

    register_secret(value)  # masked in every log record, stored text and error message from now on
    return StoreKey(value)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key_id(value: Any) -> str | None:
    """The id of the key that sealed `value` (None when it is not a sealed value)."""
    if not is_sealed(value) or value[_ID_END:_ID_END + 1] != ":":
        return None
    key_id = value[len(PREFIX):_ID_END]
    return key_id if _KEY_ID.fullmatch(key_id) else None


class Keyring:
    """The current key (seals) and previous keys (only open), by id. A keyring without a current
    key (`problem` says why: the variable is unset, encryption is not configured) still opens
    nothing and turns every sealed value into a placeholder that says what to set."""

    def __init__(self, current: StoreKey | None = None, previous: Iterable[StoreKey] = (),
                 problem: str | None = None) -> None:
        self.current = current
        self.keys = {key.id: key for key in previous}
        if current is not None:
            self.keys[current.id] = current
        self.problem = problem
        self.unreadable = 0  # sealed values this keyring could not open (for a reader's notice)

    @property
    def sealing(self) -> bool:
        return self.current is not None

    # --- writing ---------------------------------------------------------------------
    def seal(self, value: Any, field: str) -> Any:
        """`value` sealed under the current key (None and already sealed values unchanged)."""
        if value is None or self.current is None or is_sealed(value):
            return value
        plain = b"s" + value.encode("utf-8") if isinstance(value, str) else \
            b"j" + json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
        return self.current.seal(plain, field)

    def seal_fields(self, values: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
        """A copy of `values` with those named in `fields` sealed (the dict itself if none is there)."""
        if self.current is None or fields.isdisjoint(values):
            return values
        return {name: self.seal(value, name) if name in fields else value for name, value in values.items()}

    # --- reading ---------------------------------------------------------------------
    def open(self, value: Any, field: str) -> Any:
        """The plain value of a sealed one (anything else unchanged); a placeholder text saying
        what is missing when no key here opens it."""
        if not is_sealed(value):
            return value
        key_id = sealed_key_id(value)
        key = self.keys.get(key_id) if key_id else None
        if key is None:
            self.unreadable += 1
            return self.placeholder(key_id)
        try:
            plain = key.open(base64.b64decode(value[_ID_END + 1:], validate=True), field)
        except Exception:  # cryptography's InvalidTag, or a cut value: the stored bytes are not what was sealed
            self.unreadable += 1
            return f"[encrypted value that does not open with key {key.id}: damaged or moved]"
        text = plain[1:].decode("utf-8")
        return text if plain[:1] == b"s" else json.loads(text)

    def open_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        if not any(is_sealed(value) for value in values.values()):
            return values
        return {name: self.open(value, name) for name, value in values.items()}

    def placeholder(self, key_id: str | None) -> str:
        return f"[encrypted with key {key_id}: {self.missing()}]"

    def missing(self) -> str:
        """Why a sealed value does not open here, and what to set."""
        if self.problem:
            return self.problem
        return (f"the key that sealed it is neither `{SETTING}` nor one of `{PREVIOUS_SETTING}`; add it to "
                f"{PREVIOUS_SETTING}")


def keyring_from_settings(encrypt: Any, *, where: str = "tracing settings", strict: bool) -> Keyring:
    """The keyring of a `tracing.encrypt` setting (an object with `key` and `previous_keys`, or
    None when encryption is off). `strict` (writers): a current key that cannot be used raises
    StoreKeyError, so content is never stored in the clear when encryption was asked for.
    Readers pass strict=False and get a keyring whose placeholders say what to set."""
    if encrypt is None:
        return Keyring(problem=f"this workspace's settings have no `{SETTING}`; set it to the "
                               "${env:NAME} that holds the key the store was written with")
    keys: list[StoreKey | None] = []
    problems = []
    references = [(encrypt.key, SETTING)] + [(reference, f"{PREVIOUS_SETTING}[{number}]")
                                              for number, reference in enumerate(encrypt.previous_keys or ())]
    for reference, setting in references:
        try:
            keys.append(key_from_reference(reference, setting))
        except StoreKeyError as error:
            if strict and setting == SETTING:  # a writer needs the current key; old ones only matter to readers
                raise StoreKeyError(f"{where}: {error}") from None
            keys.append(None)
            problems.append(str(error))
    return Keyring(keys[0], [key for key in keys[1:] if key is not None], problem="; ".join(problems) or None)
