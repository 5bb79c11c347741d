"""`retirement.window_days` that PW707 cannot use is reported on promptwise.yaml at its line (PW104,
with a fix for a quoted number); before, `check` said nothing there and every flow got a PW705
"retirement not checked" at 1:1."""

from __future__ import annotations

import pytest

from promptwise.analysis.settings import check_settings_file


@pytest.mark.parametrize("written, fixed", [
    ("soon", None), ('"30"', "30"), ("-5", None), ("2.5", None), ("", None),
])
def test_unusable_window_is_reported_at_its_value(tmp_path, written, fixed):
    path = tmp_path / "promptwise.yaml"
    path.write_text(f"defaults: {{model: gpt-4o-mini}}\nretirement:\n  window_days: {written}\n")
    problems = [p for p in check_settings_file(path) if "window_days" in p.message]
    assert [(p.code, p.range.start.line) for p in problems] == [("PW104", 2)]
    assert "whole number of days" in problems[0].message
    assert [edit.new_text for fix in problems[0].fixes for edit in fix.edits] == ([fixed] if fixed else [])


@pytest.mark.parametrize("written", ["0", "90", "365"])
def test_usable_window_is_quiet(tmp_path, written):
    path = tmp_path / "promptwise.yaml"
    path.write_text(f"retirement: {{window_days: {written}}}\n")
    assert check_settings_file(path) == []


def test_a_boolean_window_is_reported_once(tmp_path):
    path = tmp_path / "promptwise.yaml"
    path.write_text("retirement:\n  window_days: true\n")
    assert [(p.code, p.range.start.line) for p in check_settings_file(path)] == [("PW104", 1)]
