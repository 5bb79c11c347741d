"""The small rules behind pf parity, table by table: an endpoint's asked-for wait
(engine/retry_after.py), the Accept header (serving/streaming.py) and feedback's flatten
(serving/feedback.py). The behaviour through a real server is in test_pf_parity_http.py and
test_pf_parity_feedback.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from promptwise.engine.retry_after import upstream_wait
from promptwise.serving.errors import upstream_retry_after
from promptwise.serving.feedback import flattened


@pytest.mark.parametrize("headers, expected", [
    ({}, None),
    ({"Retry-After": "12"}, 12.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "2500", "Retry-After": "9"}, 2.5),  # milliseconds first: the finer of the two
    ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),  # an unreadable one is skipped
    ({"Retry-After": "-3"}, None),
    ({"Retry-After": "nan"}, None),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: no wait
    ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),  # none says which: the later
    ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "9000"}, 1.0),  # the exhausted one
    ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
    ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
    ({"x-ratelimit-reset-tokens": "7"}, 7.0),  # gateways that send plain seconds
    ({"x-ratelimit-reset-tokens": "6 minutes"}, None),
])
def test_the_wait_an_endpoint_asks_for(headers, expected):
    wait = upstream_wait(httpx.Headers(headers))
    assert wait == (pytest.approx(expected) if expected is not None else None)


def test_a_retry_after_date_is_the_seconds_until_it():
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 28 <= upstream_wait(httpx.Headers({"Retry-After": when})) <= 30


@pytest.mark.parametrize("wait, expected", [(None, 5.0), (0.0, 1.0), (0.2, 1.0), (42.0, 42.0), (86400.0, 300.0)])
def test_the_503s_retry_after_is_the_upstreams_wait_within_bounds(wait, expected):
    assert upstream_retry_after(wait) == expected


@pytest.mark.parametrize("accept, expected", [
    (None, (False, True)), ("", (False, True)), ("*/*", (False, True)), ("application/*", (False, True)),
    ("application/json;q=0.9", (False, True)), ("text/event-stream", (True, False)),
    ("Text/Event-Stream", (True, False)), ("text/event-stream, application/json", (True, True)),
    ("text/*", (False, False)), ("text/plain", (False, False)), (" , ", (False, True)),
])
def test_what_an_accept_header_takes(accept, expected):
    from starlette.requests import Request

    from promptwise.serving.streaming import accepted

    headers = [] if accept is None else [(b"accept", accept.encode())]
    assert accepted(Request({"type": "http", "headers": headers})) == expected


def test_two_accept_headers_are_read_together():
    from starlette.requests import Request

    from promptwise.serving.streaming import accepted

    request = Request({"type": "http", "headers": [(b"accept", b"text/plain"), (b"accept", b"application/json")]})
    assert accepted(request) == (False, True)


@pytest.mark.parametrize("body, expected", [
    ('{"rating": 4, "liked": false, "score": 0.5}', {"rating": 4, "liked": False, "score": 0.5}),
    ('{"comment": "personal text", "tags": ["a"], "nested": {"x": 1}}', {}),  # text stays in `feedback`
    ('{"promptwise.cost_usd": 9, "gen_ai.usage.input_tokens": 1, "feedback": 2, "http.route": 3}', {}),
    ('{"bad": NaN}', {}),  # Python's json reads NaN: not a finite number, nor
    ('{"inf": 1e999}', {}),  # an infinity
    ("[1, 2]", {}), ("thumbs up", {}), ("", {}),
])
def test_flatten_keeps_numbers_and_booleans_outside_the_schemas_names(body, expected):
    assert flattened(body) == expected
