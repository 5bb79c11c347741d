"""A JSON number or boolean sent for a `type: string` input is taken as its text, as `pf flow
serve` takes it (promptflow's ValueType.STRING.parse is str(v): 3 -> "3", 3.0 -> "3.0",
True -> "True"); objects, arrays and null are still a 422 naming the input and the type.
Was: 422 for numbers and booleans too, so a pf client sending {"count_hint": 3} broke on ours."""

from __future__ import annotations

import httpx
import pytest

from promptwise.serving.flow import InputProblem, _as_declared, check_value
from serving_process import ServeProcess, write_workspace

NO_MODEL = "http://127.0.0.1:9/v1"  # no model is called by these flows

FLOWS = {
    "typed/flow.dag.yaml": """
        inputs:
          text: {type: string}
          hint: {type: string, default: none}
          count: {type: int, default: 1}
        outputs:
          seen: {type: string, reference: "${show.output}"}
        nodes:
        - name: show
          type: python
          source: {type: code, path: show.py}
          inputs: {text: "${inputs.text}", hint: "${inputs.hint}", count: "${inputs.count}"}
    """,
    "typed/show.py": """
        from promptflow.core import tool

        @tool
        def show(text, hint, count) -> str:
            # repr: the test sees the Python type each input reached the node with
            return f"{text!r}|{hint!r}|{count!r}"
    """,
    "shout/flow.flex.yaml": "entry: app:shout\n",
    "shout/app.py": """
        def shout(text: str) -> str:
            return text.upper()  # fails on a bool or an int: the value must arrive as text
    """,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_workspace(tmp_path_factory.mktemp("coerce"), NO_MODEL, FLOWS)


@pytest.fixture(scope="module")
def typed(root):
    process = ServeProcess(root / "typed")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shout(root):
    process = ServeProcess(root / "shout")
    yield process
    process.stop()


# --- the unit table: what a value given for an input becomes, or the 422's words -------------------
def _accepted(value, declared="string"):
    converted = _as_declared("text", value, declared)
    check_value("text", converted, declared)
    return converted


@pytest.mark.parametrize("value, text", [
    (3, "3"), (0, "0"), (-7, "-7"), (12345678901234567890, "12345678901234567890"),
    (3.0, "3.0"), (-0.5, "-0.5"), (1e20, "1e+20"), (1.5e-07, "1.5e-07"),
    (True, "True"), (False, "False"),
    ("already text", "already text"), ("", ""),
])
def test_numbers_and_booleans_for_a_string_input_become_pf_s_text(value, text):
    assert _accepted(value) == text
    assert _accepted(value, "str") == text  # every spelling of a string type


@pytest.mark.parametrize("value, got", [({"a": 1}, "an object"), ([1, 2], "an array"), (None, "null")])
def test_objects_arrays_and_null_for_a_string_input_are_refused_by_name(value, got):
    with pytest.raises(InputProblem) as refused:
        _accepted(value)
    message = str(refused.value)
    assert "`text`" in message and "string" in message and got in message


@pytest.mark.parametrize("value, declared, expected", [
    (3, "int", 3), (3.0, "int", 3.0), (True, "bool", True), ("3", "int", 3), ("true", "bool", True),
    (2, "double", 2), ([1], "list", [1]), ({"a": 1}, "object", {"a": 1}),
])
def test_other_declared_types_are_unchanged(value, declared, expected):
    converted = _accepted(value, declared)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("value, declared", [(True, "int"), (3, "bool"), ("three", "int"), (3, "list")])
def test_only_string_inputs_take_other_json_types(value, declared):
    with pytest.raises(InputProblem):
        _accepted(value, declared)


# --- through a real `promptwise serve` process -------------------------------------------------------
@pytest.mark.parametrize("body, seen", [
    ({"text": 3}, "'3'|'none'|1"),
    ({"text": True}, "'True'|'none'|1"),
    ({"text": False, "hint": 0}, "'False'|'0'|1"),
    ({"text": 3.0, "hint": -0.25}, "'3.0'|'-0.25'|1"),
    ({"text": 1e20, "count": 2}, "'1e+20'|'none'|2"),  # int inputs keep their numbers
])
def test_a_served_dag_takes_numbers_and_booleans_for_string_inputs_as_text(typed, body, seen):
    response = httpx.post(typed.url + "/score", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"seen": seen}


@pytest.mark.parametrize("body, got", [
    ({"text": {"n": 3}}, "an object"),
    ({"text": [3]}, "an array"),
    ({"text": None}, "null"),
    ({"text": "ok", "hint": {"n": 3}}, "an object"),
])
def test_a_served_dag_still_refuses_objects_arrays_and_null_with_422(typed, body, got):
    response = httpx.post(typed.url + "/score", json=body, timeout=30)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["innerError"]["code"] == "InputMismatch"
    name = "`hint`" if "hint" in body else "`text`"
    assert name in error["message"] and "string" in error["message"] and got in error["message"]


def test_a_served_flex_entry_gets_text_for_its_str_parameter(shout):
    for value, answer in ((True, "TRUE"), (42, "42"), (2.5, "2.5")):
        response = httpx.post(shout.url + "/score", json={"text": value}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == answer  # a flex entry's plain value is answered as itself, as pf
    refused = httpx.post(shout.url + "/score", json={"text": [1]}, timeout=30)
    assert refused.status_code == 422 and "`text`" in refused.json()["error"]["message"]


def test_the_openapi_document_still_says_string(typed):
    document = httpx.get(typed.url + "/openapi.json", timeout=30).json()
    schema = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    properties = schema.get("properties") or document["components"]["schemas"][schema["$ref"].split("/")[-1]]["properties"]
    assert properties["text"]["type"] == "string" and properties["hint"]["type"] == "string"
    assert properties["count"]["type"] == "integer"
