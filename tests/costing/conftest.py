"""Fixtures for the costing tests.

`raw_tiktoken` is tiktoken's own `get_encoding`, the reference our counts must equal. It
reads the same published BPE files through tiktoken's documented cache (TIKTOKEN_CACHE_DIR,
files named by the SHA-1 of their URL), which tiktoken checks against the published hash
itself; so the reference never downloads and never goes through our loader.
"""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import tiktoken

from promptwise.costing.tokenizers import read_verified_bpe

BPE_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Counting must never touch the network: any outbound connection fails the test."""

    def refuse(self, address, *args, **kwargs):
        raise AssertionError(f"costing code tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="session")
def raw_tiktoken(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name, url in BPE_URLS.items():
        key = hashlib.sha1(url.encode()).hexdigest()
        (cache / key).write_bytes(read_verified_bpe(name))  # rebuilt from ours; tiktoken checks its hash
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        encodings = {name: tiktoken.get_encoding(name) for name in BPE_URLS}
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous
    return encodings
