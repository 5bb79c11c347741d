"""The one way to read a file a user's document names (`source.path`, `${file:...}`, a sample,
a template, settings): only regular files, never more than a size limit, never blocking.

A cloned repository can name `/dev/zero` (endless), `/dev/urandom`, a FIFO (blocks forever on
open), a socket, or a path with a NUL character. `open()` + `read()` would hang or fill the
memory; this module refuses them with a reason the caller shows as a problem at the file and
line that named the path. The refusal is an `OSError`, so callers that already report
unreadable files report these too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_READ_BYTES = 10 * 1024 * 1024  # a prompt, template, sample or settings file is far smaller
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux; longer paths are refused before the system call
MAX_NAME_BYTES = 255  # NAME_MAX: the longest file or folder name


class UnreadableFile(OSError):
    """Why a named file was not read; `str()` is the reason alone (no errno prefix)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(errno.EINVAL, reason, os.fspath(path) if "\x00" not in os.fspath(path) else None)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_special(path: str | os.PathLike, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _kind(mode)
        raise UnreadableFile(path, f"{kind}, not a regular file; only regular files are read"
                             if kind.startswith("a ") else f"{kind}; only regular files are read")


def check_path(path: str | os.PathLike) -> None:
    """Refuse a path no system call should see: a NUL character, or longer than PATH_MAX."""
    text = os.fspath(path)
    if "\x00" in text:
        raise UnreadableFile(path, "the path contains a NUL character; remove it")
    encoded = text.encode("utf-8", errors="surrogateescape")
    if len(encoded) > MAX_PATH_BYTES:
        raise UnreadableFile(path, f"the path is longer than {MAX_PATH_BYTES:,} bytes; shorten it")
    if any(len(name) > MAX_NAME_BYTES for name in encoded.split(b"/")):
        raise UnreadableFile(path, f"a name in the path is longer than {MAX_NAME_BYTES} bytes; shorten it")


def usable_path(path: str | os.PathLike) -> bool:
    """False for a path no system call should see (see check_path)."""
    try:
        check_path(path)
    except UnreadableFile:
        return False
    return True


def read_user_bytes(path: str | os.PathLike, max_bytes: int = MAX_READ_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, else UnreadableFile (an OSError;
    a missing file raises FileNotFoundError as usual)."""
    check_path(path)
    info = os.stat(path)  # follows symlinks: a link to /dev/zero is /dev/zero
    _refuse_special(path, info.st_mode)
    if info.st_size > max_bytes:
        raise UnreadableFile(path, _too_large(info.st_size, max_bytes))
    # O_NONBLOCK: if the file was swapped for a FIFO since stat, open must not wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _refuse_special(path, os.fstat(descriptor).st_mode)
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew while we read
        raise UnreadableFile(path, _too_large(len(data), max_bytes))
    return data


def read_user_text(path: str | os.PathLike, max_bytes: int = MAX_READ_BYTES, encoding: str = "utf-8") -> str:
    """`read_user_bytes` decoded (raises UnicodeDecodeError as `Path.read_text` does)."""
    return read_user_bytes(path, max_bytes).decode(encoding)


def _too_large(size: int, limit: int) -> str:
    return f"the file is too large ({size / 1_048_576:.1f} MB, limit {limit / 1_048_576:g} MB); keep data out of it"


def is_regular_file(path: str | os.PathLike) -> bool:
    """`Path.is_file()` that is False for a bad path instead of raising (NUL, too long)."""
    try:
        check_path(path)
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def why_not_regular(path: str | os.PathLike) -> str | None:
    """Why a path that is not a readable regular file is refused (NUL, too long, a device,
    FIFO, socket or folder), or None when it is a regular file or simply missing."""
    try:
        check_path(path)
        _refuse_special(path, os.stat(path).st_mode)
    except UnreadableFile as error:
        return error.reason
    except (OSError, ValueError):
        return None
    return None
