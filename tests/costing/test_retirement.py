"""PW707: models retired or retiring within the window, with a fixed `today` (never the clock)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from promptwise.config import ConfigError, load_workspace
from promptwise.costing.catalog import catalog_for
from promptwise.costing.estimate import clear_cache, estimate_document
from promptwise.costing.retirement import (
    Retirement, find_retirement, load_retirements, retirement_message, retirement_problems, window_days)
from promptwise.documents.load import load_document

from costing_samples import FLOW, make_flow

TABLE = {
    "old-model": Retirement("old-model", date(2026, 3, 1), "new-model", "https://example.test/deprecations",
                            date(2026, 1, 10)),
    "azure/old-35-0613": Retirement("azure/old-35-0613", date(2026, 3, 1), "new-mini",
                                    "https://example.test/azure", date(2026, 1, 10)),
}


@pytest.mark.parametrize("today, window, expected", [
    (date(2025, 11, 1), 90, None),                      # 120 days ahead: outside the window
    (date(2025, 12, 1), 90, "retires on 2026-03-01 (in 90 days)"),  # on the window's edge
    (date(2026, 2, 28), 90, "retires on 2026-03-01 (in 1 day)"),
    (date(2026, 3, 1), 90, "retires on 2026-03-01 (today)"),
    (date(2026, 3, 2), 0, "was retired on 2026-03-01"),  # retired: warned whatever the window
    (date(2025, 11, 1), 365, "retires on 2026-03-01 (in 120 days)"),
    (date(2026, 2, 1), 0, None),
])
def test_window_and_dates(today, window, expected):
    message = retirement_message(TABLE["old-model"], "old-model", today, window, via_deployment=False)
    if expected is None:
        assert message is None
    else:
        assert expected in message
        assert "switch to new-model" in message
        assert "https://example.test/deprecations (recorded 2026-01-10)" in message


@pytest.mark.parametrize("requested, azure, deployments, key, replaceable", [
    ("old-model", False, None, "old-model", True),
    ("openai/old-model", False, None, "old-model", True),
    ("old-model-2", False, None, None, None),           # another model: nothing recorded
    ("${env:MODEL}", False, None, None, None),          # named only at run time
    ("old-35-0613", True, None, "azure/old-35-0613", False),  # an Azure deployment named after its model
    ("prod", True, {"prod": "old-35-0613"}, "azure/old-35-0613", False),
    ("old-model", True, None, None, None),               # Azure connection: OpenAI dates do not apply
])
def test_lookup(requested, azure, deployments, key, replaceable):
    found = find_retirement(requested, azure=azure, deployments=deployments, table=TABLE)
    if key is None:
        assert found is None
    else:
        assert (found[0].name, found[1]) == (key, replaceable)


def test_shipped_table_entries_are_dated_and_sourced():
    table = load_retirements()
    assert table  # the shipped table is not empty
    for entry in table.values():
        assert entry.source.startswith("https://")
        assert isinstance(entry.recorded, date) and isinstance(entry.retires, date)
        assert entry.successor and entry.successor != entry.model
        assert entry.announced is None or entry.announced < entry.retires


def _flow_problems(tmp_path: Path, model: str, today: date, settings: str | None = None):
    clear_cache()
    path = make_flow(tmp_path, FLOW.replace("model: gpt-4.1", f"model: {model}"), settings)
    document = load_document(path)
    workspace = load_workspace(path)
    catalog = catalog_for(workspace)
    estimate = estimate_document(document, workspace, catalog=catalog, exact=False)
    return document, retirement_problems(estimate, document.text, today=today, window=window_days(workspace),
                                         deployments=catalog.deployments)


def test_flow_node_gets_warning_and_fix_on_the_model_value(tmp_path):
    document, problems = _flow_problems(tmp_path, "o1-mini", date(2025, 9, 1))
    assert [p.code for p in problems] == ["PW707"]
    problem = problems[0]
    assert problem.message.startswith("summarise: model o1-mini retires on 2025-10-27 (in 56 days)")
    assert "https://platform.openai.com/docs/deprecations" in problem.message
    line = document.text.split("\n")[problem.range.start.line]
    assert line[problem.range.start.character:problem.range.end.character] == "o1-mini"
    (fix,) = problem.fixes
    assert [edit.new_text for edit in fix.edits] == ["o4-mini"]


def test_window_setting_narrows_the_warning(tmp_path):
    settings = "defaults: {model: gpt-4o-mini}\nretirement: {window_days: 30}\n"
    _, problems = _flow_problems(tmp_path, "o1-mini", date(2025, 9, 1), settings)
    assert problems == []


def test_bad_window_setting_is_a_config_error(tmp_path):
    (tmp_path / "promptwise.yaml").write_text("retirement: {window_days: soon}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="window_days"):
        window_days(load_workspace(tmp_path / "promptwise.yaml"))


def test_current_model_gets_nothing(tmp_path):
    _, problems = _flow_problems(tmp_path, "gpt-4.1", date(2025, 9, 1))
    assert problems == []


def test_check_json_carries_it_for_ci(tmp_path, capsys):
    """o1-mini retired on 2025-10-27: retired whatever day this runs, so the clock does not matter."""
    from promptwise.cli import main

    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o-mini}\n", encoding="utf-8")
    (tmp_path / "ask.prompty").write_text(
        "---\nname: Ask\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    model: o1-mini\n"
        "sample:\n  question: hi\n---\nuser:\n{{question}}\n", encoding="utf-8")
    clear_cache()
    main(["check", str(tmp_path), "--format", "json"])
    problems = [p for p in json.loads(capsys.readouterr().out) if p["code"] == "PW707"]
    assert len(problems) == 1
    assert problems[0]["severity"] == "warning" and problems[0]["range"]["start"]["line"] == 6
    assert "was retired on 2025-10-27" in problems[0]["message"] and "o4-mini" in problems[0]["message"]


def test_azure_deployment_gets_the_warning_without_a_fix(tmp_path):
    settings = ("defaults: {model: gpt-4o-mini}\ndeployments:\n  prod-chat: gpt-35-turbo-0613\n"
                "connections:\n  local:\n    type: azure_openai\n    azure_endpoint: https://example.openai.azure.com\n"
                "    api_key: ${env:AZURE_OPENAI_API_KEY}\n    api_version: 2024-10-21\n")
    _, problems = _flow_problems(tmp_path, "prod-chat", date(2026, 1, 1), settings)
    (problem,) = problems
    assert "prod-chat (gpt-35-turbo-0613) was retired on 2025-02-13" in problem.message
    assert "redeploy it with gpt-4o-mini" in problem.message
    assert problem.fixes == ()
