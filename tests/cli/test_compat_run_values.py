"""`run --inputs` / `--init` take values as `pf flow test` does: NAME=VALUE pairs, one JSON
object, or one JSON file (`--init init.json`)."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import UserError
from promptwise.commands.run import parse_values


@pytest.mark.parametrize(
    ("items", "json_values", "expected"),
    [
        pytest.param(["a=1", "b=x=y"], False, {"a": "1", "b": "x=y"}, id="pairs"),
        pytest.param(['{"a": 1, "b": [2]}'], False, {"a": 1, "b": [2]}, id="inline-json-object"),
        pytest.param(["FILE"], True, {"model_config": {"model": "m"}}, id="json-file"),
        pytest.param(['model_config={"model": "m"}', "n=[1]"], True, {"model_config": {"model": "m"}, "n": [1]},
                     id="json-values-for-init"),
        pytest.param(['text={"not parsed"'], False, {"text": '{"not parsed"'}, id="inputs-keep-text"),
        pytest.param(None, False, {}, id="nothing"),
    ],
)
def test_parse_values(tmp_path, items, json_values, expected):
    init_file = tmp_path / "init.json"
    init_file.write_text(json.dumps({"model_config": {"model": "m"}}), encoding="utf-8")
    items = [str(init_file) if item == "FILE" else item for item in items] if items else items
    assert parse_values(items, "--init", json_values=json_values) == expected


@pytest.mark.parametrize(
    ("items", "words"),
    [
        pytest.param(["missing.json"], "no file"),
        pytest.param(["{not json"], "not valid JSON"),
        pytest.param(["[1, 2]"], "write NAME=VALUE"),
        pytest.param(['x={"a": }'], "not valid JSON"),
        pytest.param(["LIST_FILE"], "must hold a JSON object"),
    ],
)
def test_parse_values_errors_say_what_to_write(tmp_path, items, words):
    list_file = tmp_path / "list.json"
    list_file.write_text("[1]", encoding="utf-8")
    items = [str(list_file) if item == "LIST_FILE" else item for item in items]
    with pytest.raises(UserError, match=words):
        parse_values(items, "--init", json_values=True)
