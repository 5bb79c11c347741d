"""A streamed reply's model-call span carries the completion's id (gen_ai.response.id), gathered
from the stream's chunks as the plain reply's is read from its body. Through a real `promptwise
serve` answering a prompty as Server-Sent Events, and the fake model."""

from __future__ import annotations

import json
import sqlite3

import httpx

from promptwise import span_attributes as A
from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace
from test_serve_disconnect import wait_until


def test_a_streamed_replys_span_has_the_completions_id(tmp_path):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        process = ServeProcess(root / "echo.prompty")
        try:
            with httpx.stream("POST", process.url + "/score", json={"question": "stream me"},
                              headers={"accept": "text/event-stream"}, timeout=30) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                events = [line for line in answer.iter_lines() if line.startswith("data:")]
            assert events

            def llm_span():
                store = root / ".promptwise" / "traces.sqlite"
                if not store.exists():
                    return None
                with sqlite3.connect(store) as db:
                    row = db.execute("SELECT attributes FROM spans WHERE kind = 'llm'").fetchone()
                return json.loads(row[0]) if row else None

            span = wait_until(llm_span)
        finally:
            process.stop()
    assert span is not None, "the model call's span never reached the store"
    assert span[A.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")
