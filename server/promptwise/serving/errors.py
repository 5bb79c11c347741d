"""Error answers: Prompt flow's serving shape, with an id, a safe message and never a traceback.

    {"error": {"code": "UserError", "message": "...", "id": "3f9c0e1a2b4d5e6f",
               "innerError": {"code": "InputMismatch"}}}

`code` is Prompt flow's root code (UserError for 4xx, SystemError for 5xx) so its clients read
it as before; `innerError.code` says what happened, and `id` is the request id that the access
log and the trace carry too (and the x-request-id header).
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.responses import Response

# What went wrong -> (HTTP status, inner code).
KINDS = {
    "bad_request": (400, "BadRequest"),
    "unauthorized": (401, "Unauthorized"),
    "not_found": (404, "NotFound"),
    "method_not_allowed": (405, "MethodNotAllowed"),
    "not_acceptable": (406, "NotAcceptable"),
    "request_timeout": (408, "RequestTimeout"),
    "too_large": (413, "PayloadTooLarge"),
    "unsupported_media": (415, "UnsupportedMediaType"),
    "invalid_input": (422, "InputMismatch"),
    "rate_limited": (429, "RateLimited"),
    "flow_error": (400, "FlowExecutionError"),  # Prompt flow answers a failing node as a user error
    "internal": (500, "InternalError"),
    "upstream_error": (502, "ModelEndpointError"),
    "unavailable": (503, "ServiceUnavailable"),
    "timeout": (504, "Timeout"),
}


# The Retry-After of a 503 for a model endpoint that failed: the endpoint's own wait when it gave
# one (its 429's Retry-After, retry-after-ms or x-ratelimit-reset-*: engine/retry_after.py), kept
# within these bounds (an endpoint asking for 0 s would have its callers retry at once, one asking
# for a day's quota reset would have them give up); our own guess when it gave none.
UPSTREAM_WAIT_DEFAULT = 5.0
UPSTREAM_WAIT_MIN = 1.0
UPSTREAM_WAIT_MAX = 300.0


def upstream_retry_after(wait: float | None) -> float:
    if wait is None:
        return UPSTREAM_WAIT_DEFAULT
    return min(UPSTREAM_WAIT_MAX, max(UPSTREAM_WAIT_MIN, wait))


class ServeError(Exception):
    """`message` is what the caller reads; `detail` (when set) is for the operator only: it goes
    to the access log and the request's trace, never into a response."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.detail = detail

    @property
    def status(self) -> int:
        return KINDS[self.kind][0]


def error_body(kind: str, message: str, request_id: str) -> dict:
    status, inner = KINDS[kind]
    return {"error": {"code": "UserError" if status < 500 else "SystemError", "message": message, "id": request_id,
                      "innerError": {"code": inner}}}


def error_response(error: ServeError, request_id: str, headers: dict | None = None) -> Response:
    headers = dict(headers or {})
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
    body = json.dumps(error_body(error.kind, error.message, request_id), ensure_ascii=False)
    return Response(body, status_code=error.status, media_type="application/json", headers=headers)


def safe_message(message: str, *folders: Path) -> str:
    """An engine error as a caller may see it: paths under the flow's folder or workspace made
    relative (no server layout leaks), one line, bounded. The engine already redacts secrets."""
    text = message
    for folder in sorted({str(Path(f).resolve()) for f in folders}, key=len, reverse=True):
        text = text.replace(folder + "/", "").replace(folder, ".")
    text = " ".join(text.split())
    return text if len(text) <= 600 else text[:597] + "..."
