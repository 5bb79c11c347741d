"""A number or boolean given for a `type: string` input (a JSONL cell, JSON inputs) reaches the flow
as its text, as Prompt flow's executor makes it on every line it runs (ValueType.STRING.parse is
str(v)): 3 -> "3", 3.0 -> "3.0", True -> "True". Was: passed on as int/bool, so a python node's
`text.upper()` failed the row where pf's batch run succeeds."""

from __future__ import annotations

import json

import pytest

from promptwise.engine.batch import run_batch
from promptwise.engine.runner import run_flow
from promptwise.engine.values import coerce
from promptwise.store import RunStore

FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          text: {type: string}
          count: {type: int, default: 1}
        outputs:
          loud: {reference: "${shout.output}"}
        nodes:
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {text: "${inputs.text}", count: "${inputs.count}"}
    """,
    "flow/shout.py": """
        from promptflow.core import tool

        @tool
        def shout(text: str, count: int) -> str:
            return f"{text.upper()}x{count!r}"  # text.upper() fails unless the value is text
    """,
}


@pytest.mark.parametrize("value, declared, expected", [
    (3, "string", "3"), (3.0, "string", "3.0"), (True, "string", "True"), (False, "str", "False"),
    (1e20, "text", "1e+20"), (-0.5, "String", "-0.5"), (12345678901234567890, "string", "12345678901234567890"),
    ("kept", "string", "kept"), ('{"a": 1}', "string", '{"a": 1}'),  # text for a string input stays text
    ({"a": 1}, "string", {"a": 1}), ([1], "string", [1]), (None, "string", None),  # passed on, as before
    (3, "int", 3), (True, "bool", True), ("3", "int", 3), ("true", "bool", True), (2, "double", 2),
    (3, None, 3),
])
def test_coerce_table(value, declared, expected):
    converted = coerce(value, declared, "text")
    assert converted == expected and type(converted) is type(expected)


async def test_a_batch_rows_numbers_and_booleans_for_a_string_input_run_as_text(workspace):
    root = workspace(FLOW)
    data = root / "data.jsonl"
    rows = [{"text": 3}, {"text": True}, {"text": 2.5, "count": 2}, {"text": "abc"}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = await run_batch(root / "flow", data, use_cache=False)
    assert (result.status, result.completed, result.failed) == ("completed", 4, 0)
    lines = [json.loads(line) for line in open(result.outputs_path)]
    assert [line["loud"] for line in lines] == ["3x1", "TRUEx1", "2.5x2", "ABCx1"]
    with RunStore(root / ".promptwise") as store:
        assert [row.inputs["text"] for row in store.get_rows(result.run)] == ["3", "True", "2.5", "abc"]


async def test_a_single_run_with_a_json_number_for_a_string_input(workspace):
    root = workspace(FLOW)
    result = await run_flow(root / "flow", {"text": 42, "count": 3})
    assert result.outputs == {"loud": "42x3"}
