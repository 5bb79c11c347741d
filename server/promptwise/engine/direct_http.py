"""Model calls on one HTTP stack: the request the `openai` SDK built, sent again by aiohttp.

Why: against a fast endpoint the client is the bottleneck of a batch. Measured per call
(3,000 calls, 64 in flight, a 5 ms endpoint in another process): the SDK's `client.post` over
its aiohttp transport 1.40 ms of CPU, over its default transport 1.98 ms, httpx2 alone 1.43 ms,
aiohttp alone 0.29 ms. The SDK builds each request anew (options model, headers, URL parsing,
an httpx2 request that its aiohttp transport then converts into an aiohttp one), and that is
most of the cost of a row.

How: the first call of each (path, model) on a connection goes through the SDK as before. An
httpx event hook (public httpx API) records the URL and headers the SDK sent: authentication,
Azure deployment routing and `api-version`, default query parameters, its user agent and
platform headers. Later calls send that URL and those headers with the new body through one
aiohttp session per connection. Failures become the SDK's own exceptions (`APIStatusError`,
`APITimeoutError`, `APIConnectionError`), so classification, Retry-After and retries are the
same either way.

Not used (the SDK sends every call): without aiohttp installed (`promptwise[fast]`), for
streamed replies, and for Entra ID connections (their bearer token is refreshed per request).
"""

from __future__ import annotations

import json
import urllib.request
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import openai

try:  # the SDK's HTTP library: httpx2 for openai 3, httpx before
    import httpx2
except ImportError:  # pragma: no cover - openai < 3
    import httpx as httpx2

# Headers of the recorded request that belong to that one request (or that aiohttp sets itself).
_PER_REQUEST_HEADERS = frozenset(("content-length", "host", "x-stainless-retry-count", "idempotency-key",
                                  "accept-encoding", "connection", "transfer-encoding"))

# The (path, model) a call going through the SDK is for, so the event hook knows what it records.
_recording: ContextVar[tuple[str, str] | None] = ContextVar("promptwise_recording", default=None)


class DirectSender:
    """Replays recorded SDK requests with new bodies over one aiohttp session (per event loop)."""

    def __init__(self, timeout: float, concurrency: int) -> None:
        self.timeout = timeout
        self.concurrency = concurrency
        # (path, model) -> the URL, headers and proxy (or None) of the SDK's request
        self.templates: dict[tuple[str, str], tuple[str, dict[str, str], str | None]] = {}
        self._session: aiohttp.ClientSession | None = None

    # -- recording ---------------------------------------------------------------------------
    @contextmanager
    def recording(self, path: str, model: str):
        """Around an SDK call whose request should be recorded."""
        token = _recording.set((path, model))
        try:
            yield
        finally:
            _recording.reset(token)

    async def remember(self, request: httpx2.Request) -> None:
        """httpx `request` event hook on the SDK's HTTP client."""
        key = _recording.get()
        if key is None or key in self.templates or request.method != "POST":
            return
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _PER_REQUEST_HEADERS}
        url = str(request.url)
        self.templates[key] = (url, headers, _environment_proxy(url))

    def knows(self, path: str, model: str) -> bool:
        return (path, model) in self.templates

    # -- sending -----------------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Connections: at least the run's concurrency, all kept alive (as the SDK client's
            # limits); TLS verified with the SDK client's own context, proxies from the environment.
            # (The proxy is looked up once per recorded URL: aiohttp's trust_env would look it
            # up in a thread on every request.)
            from promptwise.engine.providers import shared_ssl_context  # (providers imports this module)

            connector = aiohttp.TCPConnector(limit=max(1, self.concurrency), ssl=shared_ssl_context())
            self._session = aiohttp.ClientSession(connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def post(self, path: str, model: str, content: bytes) -> Any:
        """POST `content` (JSON bytes) as the SDK would; the parsed JSON answer, or the SDK's exception."""
        url, headers, proxy = self.templates[(path, model)]
        session = self._open()
        try:
            async with session.post(url, data=content, headers=headers, proxy=proxy) as response:
                raw = await response.read()
                status = response.status
                if status >= 400:
                    raise _status_error(url, status, response.raw_headers, raw)
        except (aiohttp.ServerTimeoutError, TimeoutError) as error:
            raise openai.APITimeoutError(httpx2.Request("POST", url)) from error
        except aiohttp.ClientError as error:
            # The cause chain keeps the OS error (a refused connection is told apart from others).
            raise openai.APIConnectionError(message=f"{type(error).__name__}: {error}",
                                            request=httpx2.Request("POST", url)) from error
        return json.loads(raw)

    def rebind(self) -> None:
        """Forget the session of an earlier event loop (it cannot be used, nor closed, from this one)."""
        self._session = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _environment_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY / NO_PROXY choose for `url`, as the SDK's client would."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _status_error(url: str, status: int, raw_headers, raw: bytes) -> openai.APIStatusError:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    response = httpx2.Response(status, headers=[(k, v) for k, v in raw_headers], content=raw,
                               request=httpx2.Request("POST", url))
    return openai.APIStatusError(f"Error code: {status} - {body}", response=response, body=body)
