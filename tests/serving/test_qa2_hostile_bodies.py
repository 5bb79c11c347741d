"""Bodies a hostile or careless client sends to POST /score get a 400 that says what is wrong in
the client's terms, never a traceback, and the server goes on answering. A number of more
digits than the server converts said before "use sys.set_int_max_str_digits() to increase the
limit": advice for whoever runs Python, not for the client."""

from __future__ import annotations

import sys

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

LIMIT = sys.get_int_max_str_digits()  # the server's, from the same environment


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path_factory.mktemp("qa2-hostile"), fake.base_url, ECHO_PROMPTY)
        process = ServeProcess(root / "echo.prompty")
        yield process
        process.stop()


@pytest.mark.parametrize(("body", "says"), [
    (b'{"question": ' + b"9" * (LIMIT + 1) + b"}",
     f"a number in it has more than {LIMIT:,} digits; send such a value as a string"),
    (b'{"question": "a"', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "nests JSON too deeply"),
    (b'{"question": "\xff"}', "not UTF-8"),
])
def test_a_bad_body_is_a_400_in_the_clients_terms(served, body, says):
    answer = httpx.post(served.url + "/score", content=body, headers={"content-type": "application/json"},
                        timeout=30)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert says in error["message"] and error["id"] == answer.headers["x-request-id"]
    assert "sys." not in error["message"] and "Traceback" not in answer.text
    assert httpx.post(served.url + "/score", json={"question": "still here?"}, timeout=30).status_code == 200
