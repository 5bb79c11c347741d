"""Offline tiktoken encodings for `o200k_base` and `cl100k_base`.

tiktoken normally downloads its BPE files on first use. Promptwise ships them instead
(`costing/bpe/*.tiktoken.gz`, gzip of the exact published files), so counting works on a
fresh install with no network. We build each `tiktoken.Encoding` from:

- the ranks parsed from our file, after checking the SHA-256 of the decompressed bytes
  against the published hash (the `expected_hash` in `tiktoken_ext.openai_public`);
- the regex (`pat_str`) and special tokens taken from tiktoken's own constructor in
  `tiktoken_ext.openai_public`, so we never copy them by hand. The constructor is run
  on a copy of the function whose globals point `load_tiktoken_bpe` at our local loader:
  no environment variable, no cache directory and no module state is touched, so nothing
  else in the process is affected and no download can be attempted.

Encodings are built once per process and shared (tiktoken encoders are thread-safe).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import types
from pathlib import Path

import tiktoken
import tiktoken_ext.openai_public as openai_public

BPE_DIR = Path(__file__).with_name("bpe")

# SHA-256 of the decompressed, published files (the expected_hash values in
# tiktoken_ext/openai_public.py). Pinned here too, so a tiktoken upgrade that changed its
# constructor's URL or hash would be caught rather than silently trusted.
PUBLISHED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

SHIPPED_ENCODINGS = tuple(PUBLISHED_SHA256)


class TokenizerDataError(RuntimeError):
    """A shipped BPE file is missing or does not match its published hash."""


_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def bpe_path(name: str) -> Path:
    return BPE_DIR / f"{name}.tiktoken.gz"


def read_verified_bpe(name: str, expected_hash: str | None = None) -> bytes:
    """The decompressed BPE file for `name`, checked against its published SHA-256."""
    path = bpe_path(name)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise TokenizerDataError(
            f"{path}: cannot read the shipped tokenizer file ({error}); reinstall promptwise"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    for wanted in filter(None, (PUBLISHED_SHA256.get(name), expected_hash)):
        if actual != wanted:
            raise TokenizerDataError(
                f"{path}: SHA-256 {actual} does not match the published {wanted}; "
                "the file is corrupt or replaced — reinstall promptwise"
            )
    return data


def _parse_ranks(data: bytes, source: str) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError:
            raise TokenizerDataError(f"{source}: malformed line {line[:40]!r}") from None
    return ranks


def _local_loader(name: str):
    """A stand-in for tiktoken's `load_tiktoken_bpe` that reads only our shipped file."""

    def load_tiktoken_bpe(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        expected_file = f"/{name}.tiktoken"
        if not blobpath.endswith(expected_file):
            raise TokenizerDataError(
                f"tiktoken's {name} constructor asked for {blobpath}, not a file Promptwise ships"
            )
        return _parse_ranks(read_verified_bpe(name, expected_hash), str(bpe_path(name)))

    return load_tiktoken_bpe


def _constructor_args(name: str) -> dict:
    """Run tiktoken's own constructor for `name` with downloads redirected to our files."""
    constructor = getattr(openai_public, name)
    offline_globals = dict(constructor.__globals__)
    offline_globals["load_tiktoken_bpe"] = _local_loader(name)
    offline_constructor = types.FunctionType(
        constructor.__code__, offline_globals, constructor.__name__,
        constructor.__defaults__, constructor.__closure__,
    )
    return offline_constructor()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The shipped encoding `name` (`o200k_base` or `cl100k_base`), built once per process."""
    encoding = _encodings.get(name)
    if encoding is not None:
        return encoding
    if name not in PUBLISHED_SHA256:
        raise KeyError(f"no shipped tokenizer named {name!r}; shipped: {', '.join(SHIPPED_ENCODINGS)}")
    with _lock:
        encoding = _encodings.get(name)
        if encoding is None:
            encoding = tiktoken.Encoding(**_constructor_args(name))
            _encodings[name] = encoding
    return encoding


def count_text(text: str, encoding_name: str) -> int:
    """Tokens in `text`, with special-token strings counted as ordinary text (as the API does
    for message content)."""
    return len(get_encoding(encoding_name).encode_ordinary(text))
