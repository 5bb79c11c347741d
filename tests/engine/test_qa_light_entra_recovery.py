"""`auth: entra` in a long-running process (`promptwise serve`): finding no credential was remembered
for the life of the client, so a server started before its managed identity answered (or before an
`az login`) failed every request until restarted. It is remembered for FAILURE_MEMORY_SECONDS (a
batch's rows still fail at once on it), then a new DefaultAzureCredential looks again. The managed
identity is the fake server's stand-in (IDENTITY_ENDPOINT/IDENTITY_HEADER); nothing is mocked."""

from __future__ import annotations

import asyncio

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine import entra
from promptwise.engine.entra import CredentialError, EntraTokens

from test_entra_auth import IDENTITY_HEADER, TOKEN, identity_environment  # noqa: F401 (a fixture)


def test_the_credential_is_looked_for_again_once_the_failure_memory_passes(identity_environment):
    with FakeOpenAI(api_key=TOKEN, identity_header="not-ready-yet") as server:
        identity_environment.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
        identity_environment.setenv("IDENTITY_HEADER", IDENTITY_HEADER)

        async def scenario() -> list[int]:
            tokens = EntraTokens("connection 'keyless'")
            looked_up = []
            try:
                with pytest.raises(CredentialError, match="no credential gave a token"):
                    await tokens()
                looked_up.append(len(server.identity_requests))
                server.identity_header = IDENTITY_HEADER  # the identity answers from now on
                with pytest.raises(CredentialError):  # remembered: the next rows fail at once
                    await tokens()
                looked_up.append(len(server.identity_requests))
                identity_environment.setattr(entra, "FAILURE_MEMORY_SECONDS", 0.0)
                assert await tokens() == TOKEN
                looked_up.append(len(server.identity_requests))
            finally:
                await tokens.aclose()
            return looked_up

        first, remembered, recovered = asyncio.run(scenario())
    assert first >= 1 and remembered == first and recovered > remembered
