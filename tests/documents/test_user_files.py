"""documents/files.py: only regular files are read, within a size limit, never blocking; a
refusal says why (and is an OSError, so existing error paths report it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptwise.documents.files import (
    MAX_PATH_BYTES,
    UnreadableFile,
    read_user_bytes,
    read_user_text,
    why_not_regular,
)
from promptwise.documents.load import load_document, read_text


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jinja2"
    os.mkfifo(path)
    return path


SPECIAL = ["/dev/zero", "/dev/urandom", "/dev/null"]


@pytest.mark.parametrize("path", SPECIAL)
def test_devices_are_refused(path):
    with pytest.raises(UnreadableFile) as raised:
        read_user_bytes(path)
    assert "character device" in str(raised.value)
    assert why_not_regular(path) == raised.value.reason


def test_a_fifo_is_refused_without_blocking(fifo):
    with pytest.raises(UnreadableFile) as raised:
        read_user_text(fifo)
    assert "FIFO" in str(raised.value)


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "ask.jinja2"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnreadableFile):
        read_user_bytes(link)


def test_size_limit(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 2001)
    assert read_user_bytes(path, max_bytes=2001) == b"x" * 2001
    with pytest.raises(UnreadableFile) as raised:
        read_user_bytes(path, max_bytes=2000)
    assert "too large" in str(raised.value)


@pytest.mark.parametrize("path", ["a\x00b.json", "x" * (MAX_PATH_BYTES + 1)])
def test_bad_paths_are_refused_before_the_system_call(path):
    with pytest.raises(UnreadableFile):
        read_user_bytes(path)
    assert why_not_regular(path) is not None


def test_missing_file_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_user_bytes(tmp_path / "nope.json")
    assert why_not_regular(tmp_path / "nope.json") is None


@pytest.mark.parametrize("name", ["pipe.jinja2"])
def test_load_document_of_a_fifo_is_a_pw100_problem(fifo, name):
    document = load_document(fifo)
    assert document.kind == "unreadable"
    assert [p.code for p in document.problems] == ["PW100"]
    assert "FIFO" in document.problems[0].message


def test_read_text_of_a_device_and_of_a_nul_path():
    for path in (Path("/dev/zero"), Path("flow\x00.dag.yaml")):
        text, problem = read_text(path)
        assert text is None and problem.code == "PW100"
