"""CI gates over aggregates, and JUnit XML that always parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from promptwise.evaluation.base import Score
from promptwise.evaluation.gates import GateError, evaluate_gates, parse_gate
from promptwise.evaluation.junit import write_junit
from promptwise.evaluation.runner import RowScores

METRICS = {
    "correct": {"mean": 0.8, "pass_rate": 0.8, "count": 10},
    "classes": {"mean": 0.7, "accuracy": 0.7, "per_class": {"db.timeout": {"f1": 0.5, "precision": 0.4}}},
    "fluent": {"mean": None, "pass_rate": None},
}
SUMMARY = {"latency_p95_ms": 1800.0, "cost_per_row": 0.004}


@pytest.mark.parametrize(
    "text, direction, passed",
    [
        ("correct=0.8", "under", True),
        ("correct=0.81", "under", False),
        ("correct.pass_rate=80%", "under", True),
        ("classes.accuracy=0.75", "under", False),
        ("classes.per_class.db.timeout.f1=0.5", "under", True),
        ("latency_p95_ms=2000", "over", True),
        ("cost_per_row=0.003", "over", False),
        ("fluent=1", "under", False),  # nothing measured: a gate cannot be met
    ],
)
def test_gates(text, direction, passed):
    (outcome,) = evaluate_gates([parse_gate(text, direction)], METRICS, SUMMARY)
    assert outcome.passed is passed


@pytest.mark.parametrize("text, message", [
    ("correct", "METRIC=VALUE"), ("correct=high", "not a number"), ("=1", "METRIC=VALUE")])
def test_bad_gate_text(text, message):
    with pytest.raises(GateError, match=message):
        parse_gate(text, "under")


def test_unknown_and_non_numeric_metrics():
    with pytest.raises(GateError, match="metrics: correct, correct.mean"):
        evaluate_gates([parse_gate("nope=1", "under")], METRICS, SUMMARY)
    with pytest.raises(GateError, match="is not a number"):
        evaluate_gates([parse_gate("classes.per_class=1", "under")], METRICS, SUMMARY)


def test_junit_is_well_formed_with_hostile_text(tmp_path):
    rows = [
        RowScores(0, {"correct": Score(1.0, True, "ok"), "fluent": Score(5.0, True, "fine")}, 1),
        RowScores(1, {"correct": Score(0.0, False, "said <b>&\x00\x1b</b> ]]>"),
                      "fluent": Score.failure("unreadable judge answer", raw="I\x07 can't \"rate\"")}, 2),
    ]
    evaluators = [{"name": "correct", "type": "exact_match", "threshold": 1.0, "higher_is_better": True},
                  {"name": "fluent", "type": "fluency", "threshold": 3.0, "higher_is_better": True}]
    path = tmp_path / "ci" / "junit.xml"
    write_junit(path, evaluators, rows, suite_name="promptwise.run1", data_name="data.jsonl")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "4"
    assert root.get("failures") == "1" and root.get("errors") == "1"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["promptwise.run1.correct", "promptwise.run1.fluent"]
    failure = suites[0].find("testcase[@name='row 1 (data.jsonl:2)']/failure")
    assert failure.get("message") == "correct = 0, required >= 1.0"
    assert "<b>&" in failure.text
    error = suites[1].find("testcase/error")
    assert error.get("message") == "unreadable judge answer"
    assert "can't" in suites[1].find("testcase[@name='row 1 (data.jsonl:2)']/system-out").text
