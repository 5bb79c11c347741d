"""String, JSON and run-figure evaluators: scores, verdicts and reasons."""

from __future__ import annotations

import pytest

from promptwise.evaluation.base import EvaluatorConfigError
from promptwise.evaluation.computed import Contains, Cost, ExactMatch, JsonSchema, JsonValid, Latency, RegexMatch, Tokens


@pytest.mark.parametrize(
    "options, prediction, reference, value",
    [
        ({}, "database", "database", 1.0),
        ({}, " database\n", "database", 1.0),
        ({}, "Database", "database", 0.0),
        ({"ignore_case": True}, "Database", "database", 1.0),
        ({"strip": False}, " database", "database", 0.0),
        ({}, "b", ["a", "b"], 1.0),
        ({}, 3, "3", 1.0),
    ],
)
def test_exact_match(options, prediction, reference, value):
    score = ExactMatch("m", options=options).score({"prediction": prediction, "reference": reference})
    assert score.value == value
    assert score.passed is (value == 1.0)


def test_contains_and_regex():
    assert Contains("c").score({"prediction": "Root cause: disk full", "reference": "disk full"}).passed is True
    assert Contains("c").score({"prediction": "Root cause: Disk full", "reference": "disk full"}).passed is False
    regex = RegexMatch("r", options={"pattern": r"^INC-\d{4}$", "full_match": True})
    assert regex.score({"prediction": "INC-1234"}).value == 1.0
    assert regex.score({"prediction": "INC-1234 extra"}).value == 0.0
    with pytest.raises(EvaluatorConfigError, match="invalid regular expression"):
        RegexMatch("r", options={"pattern": "("})
    with pytest.raises(EvaluatorConfigError, match="needs `pattern:`"):
        RegexMatch("r")


def test_unknown_option_is_a_config_error():
    with pytest.raises(EvaluatorConfigError, match="has no option colour"):
        ExactMatch("m", options={"colour": "red"})


def test_json_valid():
    assert JsonValid("j").score({"prediction": '{"a": 1}'}).value == 1.0
    bad = JsonValid("j").score({"prediction": '{"a": 1'})
    assert bad.value == 0.0 and "not valid JSON" in bad.reason and bad.passed is False
    assert JsonValid("j").score({"prediction": {"already": "parsed"}}).value == 1.0


def test_json_schema(tmp_path):
    schema = {"type": "object", "required": ["indicator", "value"],
              "properties": {"indicator": {"type": "string"}, "value": {"type": "number"}}}
    evaluator = JsonSchema("s", options={"schema": schema})
    assert evaluator.score({"prediction": '{"indicator": "combined_ratio", "value": 94.1}'}).value == 1.0
    wrong = evaluator.score({"prediction": '{"indicator": "combined_ratio", "value": "94.1"}'})
    assert wrong.value == 0.0 and "value" in wrong.reason and "number" in wrong.reason
    assert evaluator.score({"prediction": "not json"}).value == 0.0
    path = tmp_path / "schema.json"
    path.write_text('{"type": "array"}', encoding="utf-8")
    assert JsonSchema("s", options={"schema_file": str(path)}).score({"prediction": "[1]"}).value == 1.0
    with pytest.raises(EvaluatorConfigError, match="schema is invalid"):
        JsonSchema("s", options={"schema": {"type": "no-such-type"}})


def test_run_figures_are_lower_is_better():
    latency = Latency("lat", threshold=2000)
    assert latency.score({"value": 1500.0}).passed is True
    assert latency.score({"value": 2500.0}).passed is False
    missing = latency.score({"value": None})
    assert missing.value is None and missing.error and "no latency" in missing.error
    assert Cost("c", threshold=0.01).score({"value": 0.02}).passed is False
    assert Tokens("t").score({"value": 120}).passed is None  # no threshold, no verdict


@pytest.mark.parametrize(
    "options, prediction, reference, value",
    [
        ({}, 6842, 6842.0, 1.0),
        ({}, "94.1", 94.1, 1.0),
        ({}, 94.15, 94.1, 0.0),
        ({"tolerance": 0.05}, 94.15, 94.1, 1.0),
        ({}, None, None, 1.0),
        ({}, None, 12.4, 0.0),
        ({}, "12.4%", 12.4, 0.0),  # text that is not a number compares as text
    ],
)
def test_exact_match_numbers(options, prediction, reference, value):
    assert ExactMatch("m", options=options).score({"prediction": prediction, "reference": reference}).value == value
