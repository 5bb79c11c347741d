"""Runs send the model what Prompt flow would send (issue 9 part 2), against the fake server."""

from __future__ import annotations

import pytest

from promptwise.engine.runner import run_flow

PROMPTY_HEAD = """
---
model:
  api: chat
  configuration: {type: openai, model: gpt-4o-mini}
"""
PROMPTY_BODY = """---
system:
Answer briefly.
user:
{{question}}
"""


def _user_text(request) -> str:
    return request.body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("front", "files", "given", "sent"),
    [
        pytest.param("sample:\n  question: From the sample mapping?\n", {}, {}, "From the sample mapping?",
                     id="sample-mapping-gives-the-inputs"),
        pytest.param("sample: ${file:sample.json}\n", {"sample.json": '{"question": "From the file?"}'}, {},
                     "From the file?", id="sample-file-gives-the-inputs"),
        pytest.param("", {}, {"question": "Passed through?"}, "Passed through?",
                     id="no-inputs-no-sample-passes-inputs-through"),
        pytest.param("sample:\n  question: not this\n", {}, {"question": "Given wins?"}, "Given wins?",
                     id="given-inputs-replace-the-sample"),
    ],
)
async def test_prompty_input_signature(workspace, front, files, given, sent):
    root = workspace({"p.prompty": PROMPTY_HEAD + front + PROMPTY_BODY, **files})
    result = await run_flow(root / "p.prompty", given)
    assert result.status == "completed", result.error
    assert _user_text(workspace.server.requests[0]) == sent
