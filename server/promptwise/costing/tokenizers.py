"""Offline tiktoken encodings for `o200k_base` and `cl100k_base`.

tiktoken normally downloads its BPE files on first use. Promptwise ships them instead, so
counting works on a fresh install with no network. Each published file is a line per token,
`base64(token) rank`, with ranks 0, 1, 2... in order; we ship the same tokens without the
base64 and the ranks (`costing/bpe/NAME.tiktoken.xz`, see `compact_bpe`): half the size of
gzip of the published file, and quicker to read. We build each `tiktoken.Encoding` from:

- the ranks read from our file, after checking the SHA-256 of its decompressed bytes
  (`SHIPPED_SHA256`). That those bytes are exactly the published file (the `expected_hash`
  in `tiktoken_ext.openai_public`, pinned as `PUBLISHED_SHA256`) is checked by the tests,
  which rebuild the published file from ours (`read_verified_bpe`);
- the regex (`pat_str`) and special tokens taken from tiktoken's own constructor in
  `tiktoken_ext.openai_public`, so we never copy them by hand. The constructor is run
  on a copy of the function whose globals point `load_tiktoken_bpe` at our local loader:
  no environment variable, no cache directory and no module state is touched, so nothing
  else in the process is affected and no download can be attempted.

Encodings are built once per process and shared (tiktoken encoders are thread-safe).
"""
from __future__ import annotations

import base64
import hashlib
import lzma
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when an encoding is first built: `check` and the editor's start need none
    import tiktoken

BPE_DIR = Path(__file__).with_name("bpe")

# SHA-256 of the decompressed, published files (the expected_hash values in
# tiktoken_ext/openai_public.py). Pinned here too, so a tiktoken upgrade that changed its
# constructor's URL or hash would be caught rather than silently trusted.
PUBLISHED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# SHA-256 of our files' decompressed bytes (`compact_bpe` of the published files).
SHIPPED_SHA256 = {
    "cl100k_base": "9ef8402c916638b4e5896df1b798958e6377ae5ee9ecce199388d117f2a44973",
    "o200k_base": "2f451f31d7403017d0b0dc6319ded23a09f33f573b1635c001fc6b91a1c21302",
}

SHIPPED_ENCODINGS = tuple(PUBLISHED_SHA256)


class TokenizerDataError(RuntimeError):
    """A shipped BPE file is missing or does not match its hash."""


_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def bpe_path(name: str) -> Path:
    return BPE_DIR / f"{name}.tiktoken.xz"


def compact_bpe(published: bytes) -> bytes:
    """What we ship for a published BPE file (before xz): the token count (4 bytes, big-endian),
    each token's length (one byte each), then the tokens' bytes, all in rank order."""
    tokens = []
    for rank, line in enumerate(published.splitlines()):
        token, written_rank = line.split()
        if int(written_rank) != rank:
            raise ValueError(f"line {rank + 1}: rank {int(written_rank)}, not {rank}: ranks must run 0, 1, 2...")
        tokens.append(base64.b64decode(token))
    return len(tokens).to_bytes(4, "big") + bytes(len(token) for token in tokens) + b"".join(tokens)


def _shipped_bytes(name: str) -> bytes:
    """Our decompressed file for `name`, checked against its SHA-256."""
    path = bpe_path(name)
    try:
        data = lzma.decompress(path.read_bytes())
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise TokenizerDataError(
            f"{path}: cannot read the shipped tokenizer file ({error}); reinstall promptwise"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHIPPED_SHA256[name]:
        raise TokenizerDataError(
            f"{path}: SHA-256 {actual} does not match the shipped {SHIPPED_SHA256[name]}; "
            "the file is corrupt or replaced — reinstall promptwise"
        )
    return data


def _parse_ranks(data: bytes, source: str) -> dict[bytes, int]:
    count = int.from_bytes(data[:4], "big")
    lengths = data[4:4 + count]
    if len(lengths) != count or 4 + count + sum(lengths) != len(data):
        raise TokenizerDataError(f"{source}: the token lengths do not add up to the file's size")
    ranks: dict[bytes, int] = {}
    start = 4 + count
    for rank, length in enumerate(lengths):
        ranks[data[start:start + length]] = rank
        start += length
    return ranks


def read_verified_bpe(name: str, expected_hash: str | None = None) -> bytes:
    """The published BPE file for `name`, rebuilt from ours and checked against its published
    SHA-256 (what tiktoken would download; for the tests and benchmarks that compare with it)."""
    ranks = _parse_ranks(_shipped_bytes(name), str(bpe_path(name)))
    data = b"".join(base64.b64encode(token) + b" %d\n" % rank for token, rank in ranks.items())
    actual = hashlib.sha256(data).hexdigest()
    for wanted in filter(None, (PUBLISHED_SHA256.get(name), expected_hash)):
        if actual != wanted:
            raise TokenizerDataError(
                f"{bpe_path(name)}: SHA-256 {actual} does not match the published {wanted}; "
                "the file is corrupt or replaced — reinstall promptwise"
            )
    return data


def _local_loader(name: str):
    """A stand-in for tiktoken's `load_tiktoken_bpe` that reads only our shipped file."""

    def load_tiktoken_bpe(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        expected_file = f"/{name}.tiktoken"
        if not blobpath.endswith(expected_file):
            raise TokenizerDataError(
                f"tiktoken's {name} constructor asked for {blobpath}, not a file Promptwise ships"
            )
        if expected_hash not in (None, PUBLISHED_SHA256[name]):
            raise TokenizerDataError(
                f"tiktoken expects {name} with SHA-256 {expected_hash}, not the published "
                f"{PUBLISHED_SHA256[name]} Promptwise ships; this tiktoken version is not supported"
            )
        return _parse_ranks(_shipped_bytes(name), str(bpe_path(name)))

    return load_tiktoken_bpe


def _constructor_args(name: str) -> dict:
    """Run tiktoken's own constructor for `name` with downloads redirected to our files."""
    import tiktoken_ext.openai_public as openai_public

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
            import tiktoken

            encoding = tiktoken.Encoding(**_constructor_args(name))
            _encodings[name] = encoding
    return encoding


def count_text(text: str, encoding_name: str) -> int:
    """Tokens in `text`, with special-token strings counted as ordinary text (as the API does
    for message content)."""
    return len(get_encoding(encoding_name).encode_ordinary(text))
