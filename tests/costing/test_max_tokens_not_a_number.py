"""max_tokens that is not a number (`lots`, or `${inputs.n}` with no value before a run):
PW706 at the value's range, and an estimate that says the output bound is unknown."""

from __future__ import annotations

import json

import pytest

from promptwise.analysis.problem import Severity
from promptwise.cli import main
from promptwise.costing import checker
from promptwise.costing.catalog import CATALOG_PATH
from promptwise.costing.estimate import clear_cache, estimate_document
from promptwise.config import load_workspace
from promptwise.documents.load import load_document

from costing_samples import FLOW, make_flow

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
MINI_MAX_OUTPUT = CATALOG["models"]["gpt-4o-mini"]["max_output"]

WITH_INPUT = FLOW.replace("  audience:\n", "  limit:\n    type: int\n  audience:\n")


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def value_text(path, problem) -> str:
    line = path.read_text(encoding="utf-8").splitlines()[problem.range.start.line]
    return line[problem.range.start.character:problem.range.end.character]


@pytest.mark.parametrize("flow, written, severity, advice", [
    (FLOW.replace("max_tokens: 50", "max_tokens: lots"), "lots", Severity.ERROR, "set max_tokens to a whole number"),
    (FLOW.replace("max_tokens: 50", "max_tokens: 12.5"), "12.5", Severity.ERROR, "set max_tokens to a whole number"),
    (WITH_INPUT.replace("max_tokens: 50", "max_tokens: ${inputs.limit}"), "${inputs.limit}", Severity.WARNING,
     "give the input a default number"),
], ids=["word", "fraction", "unresolved-input"])
def test_checker_reports_pw706_at_the_value(tmp_path, flow, written, severity, advice):
    path = make_flow(tmp_path, flow)
    problems = [p for p in checker.check(load_document(path)) if p.code == "PW706"]
    [problem] = problems
    assert problem.severity == severity
    assert value_text(path, problem) == written
    assert problem.message.startswith("classify: max_tokens") and "output bound (and cost) is unknown" in problem.message
    assert advice in problem.message


def test_a_number_written_as_text_is_fine(tmp_path):
    path = make_flow(tmp_path, FLOW.replace("max_tokens: 50", 'max_tokens: "50"'))
    assert [p for p in checker.check(load_document(path)) if p.code == "PW706"] == []
    classify = estimate_document(load_document(path), load_workspace(path)).items[0]
    assert classify.estimate.output_bound == 50 and classify.estimate.output_bound_known


def test_lens_and_hover_say_the_bound_is_unknown(tmp_path):
    path = make_flow(tmp_path, FLOW.replace("max_tokens: 50", "max_tokens: lots"))
    classify = estimate_document(load_document(path), load_workspace(path)).items[0]
    assert not classify.estimate.output_bound_known
    # the model's own output cap stands in, and every face says so
    assert classify.estimate.output_bound == MINI_MAX_OUTPUT
    assert "(output bound unknown)" in classify.lens_text
    assert "unknown: max_tokens 'lots' is not a number" in classify.hover_text


def test_estimate_says_the_output_bound_is_unknown(tmp_path, capsys):
    path = make_flow(tmp_path, FLOW.replace("max_tokens: 50", "max_tokens: lots"))
    assert main(["estimate", str(path), "--format", "json"]) == 0
    classify = json.loads(capsys.readouterr().out)["nodes"][0]
    assert classify["outputBoundKnown"] is False
    assert classify["outputBoundUnknownBecause"] == ["max_tokens 'lots' is not a number"]
    assert classify["outputTokens"]["upperBound"] == MINI_MAX_OUTPUT
    assert main(["estimate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "output bound unknown, classify: max_tokens 'lots' is not a number" in out
    assert f"{MINI_MAX_OUTPUT:,}?" in out  # the stand-in bound is marked in the table
