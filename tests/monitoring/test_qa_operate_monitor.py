"""`promptwise monitor` as a user reads it: bugs found walking the README's operate lifecycle."""

from __future__ import annotations

from promptwise.monitoring.drift import DriftCheck, DriftReport


def test_drift_summary_names_each_feature_under_its_own_level():
    # Was "alert: input log_text: length in tokens, input system_name: categories" while the
    # length row below it said `warn`: every flagged feature was listed under the worst level.
    report = DriftReport("data.jsonl", [
        DriftCheck("input log_text: length in tokens", "psi", 0.156, "warn", 64, 306),
        DriftCheck("input log_text: script", "psi", 0.0, "ok", 64, 306),
        DriftCheck("input system_name: categories", "psi", 0.493, "alert", 64, 306),
    ])
    document = report.document()
    assert document["level"] == "alert"
    assert document["summary"] == "alert: input system_name: categories; warn: input log_text: length in tokens"
    only_warn = DriftReport("data.jsonl", [report.checks[0], report.checks[1]]).document()
    assert only_warn["summary"] == "warn: input log_text: length in tokens"
    assert DriftReport("data.jsonl", [report.checks[1]]).document()["summary"] == "no drift flagged"
