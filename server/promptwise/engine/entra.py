"""Keyless Azure OpenAI: Microsoft Entra ID tokens for connections with `auth: entra`
(Prompt flow writes `auth_mode: meid_token`).

Tokens come from azure-identity's `DefaultAzureCredential` (environment service principal,
workload identity, managed identity, Azure CLI / PowerShell / Developer CLI sign-in), through
`get_bearer_token_provider`, the callable the `openai` client takes as `azure_ad_token_provider`;
the credential caches and refreshes tokens. azure-identity is an optional extra
(`pip install 'promptwise[azure]'`), imported only when such a connection is used.
"""

from __future__ import annotations

import asyncio
import logging
import time

from promptwise.common.extras import install_command
from promptwise.redaction import forget_secret, redact, register_secret

# The audience of Azure OpenAI (and Azure AI services) tokens.
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
INSTALL_HINT = install_command("azure")
# How long finding no credential is remembered: the rows of a batch fail at once with it, and a
# long-running `promptwise serve` looks again afterwards (a managed identity that was not ready
# yet, an `az login` since) instead of failing every request until it is restarted.
FAILURE_MEMORY_SECONDS = 60.0


class CredentialError(Exception):
    """No Entra ID credential gave a token: the message names what was tried (redacted)."""


def require_azure_identity(what: str) -> None:
    """Raise ImportError with the install command unless azure-identity can be imported."""
    try:
        import azure.identity.aio  # noqa: F401
    except ImportError:
        raise ImportError(f"{what} uses Entra ID (auth: entra), which needs the azure-identity package: "
                          f"{INSTALL_HINT}") from None


class EntraTokens:
    """An `azure_ad_token_provider` for one client: bearer tokens from DefaultAzureCredential.

    Finding no credential at all is remembered for FAILURE_MEMORY_SECONDS, so the rows of a batch
    fail at once with the same message instead of each walking the whole chain again (which
    probes endpoints); then a new credential looks again (azure-identity's own managed identity
    credential stops probing an endpoint it once found unavailable)."""

    def __init__(self, label: str) -> None:
        # azure-identity logs each failed look-up as a warning; our error says it all, once.
        quiet = logging.getLogger("azure.identity")
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.ERROR)
        self.label = label
        self._new_credential()
        self._failure: CredentialError | None = None
        self._failed_at = 0.0
        self._tokens: list[str] = []  # the tokens handed out that may still be valid
        # One look-up at a time: the rows that start together would otherwise each walk the
        # chain before the first learns there is no credential. Once a token is cached the
        # look-up returns at once, so waiting here costs nothing.
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError

        async with self._lock:
            if self._failure is not None:
                if time.monotonic() - self._failed_at < FAILURE_MEMORY_SECONDS:
                    raise self._failure
                await self.credential.close()
                self._new_credential()
                self._failure = None
            try:
                token = await self._provider()
            except ClientAuthenticationError as error:  # CredentialUnavailableError is one too
                self._failure = CredentialError(no_credential_message(self.label, str(error)))
                self._failed_at = time.monotonic()
                raise self._failure from None
        if token not in self._tokens:  # a bearer token is a key for an hour: never stored or shown
            register_secret(token)
            self._tokens.append(token)
            if len(self._tokens) > 2:  # the current and the one before (refreshed early, still valid)
                forget_secret(self._tokens.pop(0))
        return token

    def _new_credential(self) -> None:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

        self.credential = DefaultAzureCredential()
        self._provider = get_bearer_token_provider(self.credential, COGNITIVE_SERVICES_SCOPE)

    async def aclose(self) -> None:
        await self.credential.close()


def no_credential_message(label: str, detail: str) -> str:
    """What was tried, one credential per clause, from azure-identity's report."""
    tried = []
    for line in detail.splitlines():
        name, sep, reason = line.strip().partition(": ")
        if line.startswith(("\t", " ")) and sep and name.endswith("Credential"):
            reason = reason.removeprefix(name).removeprefix("(None)").strip()  # "XCredential authentication ..."
            tried.append(f"{name} ({reason.split('. ')[0].rstrip('.')})")
    what = "; ".join(tried) if tried else detail.strip().splitlines()[0] if detail.strip() else "no detail"
    return redact(
        f"{label} uses Entra ID (auth: entra), but no credential gave a token; tried: {what}. Sign in with "
        "`az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a workload identity), or run "
        "where a managed identity is assigned; or give the connection `api_key: ${env:NAME}` instead")
