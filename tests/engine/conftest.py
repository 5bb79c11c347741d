"""Fixtures for engine tests: the fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI


@pytest.fixture
def fake_server():
    with FakeOpenAI() as server:
        yield server
