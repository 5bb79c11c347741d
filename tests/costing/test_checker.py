"""PW7xx through the analysis: `promptwise.analysis.analyze` reports cost problems once the
costing checker is registered, and re-checks a flow when its template changes."""

from __future__ import annotations

import pytest

from promptwise.analysis import analyze, unregister_checker
from promptwise.costing import checker
from promptwise.costing.estimate import clear_cache

from costing_samples import FLOW, make_flow

TINY = "models:\n  tiny: {tokenizer: o200k_base, context_window: 60, max_output: 50, input_per_1m: 1, output_per_1m: 1}\n"


@pytest.fixture
def registered():
    clear_cache()
    checker.register()
    yield
    unregister_checker(checker.check)
    checker._registered = False
    clear_cache()


def test_analysis_reports_cost_problems(tmp_path, registered):
    path = make_flow(tmp_path, FLOW.replace("model: gpt-4.1", "model: tiny"), TINY)
    problems = [p for p in analyze(path) if p.code.startswith("PW7")]
    assert [p.code for p in problems] == ["PW701", "PW704"]  # summarise asks 200 out of tiny's 50
    assert "summarise: the prompt" in problems[0].message


def test_template_edit_in_overlay_is_rechecked(tmp_path, registered):
    flow = FLOW.replace("model: gpt-4o-mini", "model: tiny").replace("max_tokens: 50", "max_tokens: 5")
    path = make_flow(tmp_path, flow, TINY)
    assert [p.code for p in analyze(path) if p.code.startswith("PW7")] == []
    template = tmp_path / "classify.jinja2"
    longer = template.read_text(encoding="utf-8") + "Explain the reasoning at length, step by step.\n" * 5
    codes = [p.code for p in analyze(path, overlay={template: longer}) if p.code.startswith("PW7")]
    assert codes == ["PW701"]


def test_bad_settings_give_one_warning(tmp_path, registered):
    path = make_flow(tmp_path, settings="models:\n  gpt-4o: {price: 1}\n")
    problems = [p for p in analyze(path) if p.code.startswith("PW7")]
    assert [p.code for p in problems] == ["PW705"]
    assert "promptwise.yaml:2" in problems[0].message


def test_other_documents_are_ignored(tmp_path):
    template = tmp_path / "t.jinja2"
    template.write_text("user:\nhi\n", encoding="utf-8")
    from promptwise.documents.load import load_document

    assert checker.check(load_document(template)) == []
