"""`promptwise monitor` as a user reads it: bugs found walking the README's operate lifecycle."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

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


def test_a_webhook_that_fails_is_reported_once_by_monitor_check(request_spans, workspace):
    # Was: the same failure twice on stderr, as a log record and as the command's warning.
    root, write = workspace
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (root / "promptwise.yaml").write_text(textwrap.dedent("""
        alerts_webhook: ${env:QA_HOOK}
        alerts:
          - {name: slow-triage, flow: triage, metric: latency_p95_ms, above: 2000, window: 15m}
        """), encoding="utf-8")
    write([request_spans(flow="triage", duration_ms=3000.0, age_s=age) for age in range(30, 600, 60)])
    done = subprocess.run([sys.executable, "-m", "promptwise", "monitor", "--check", "--repost", "--workspace",
                           str(root)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QA_HOOK": f"http://127.0.0.1:{port}/hook"})
    assert done.returncode == 1 and done.stdout.startswith("FIRING  slow-triage")
    assert done.stderr.count("failed") == 1, done.stderr
    assert done.stderr.startswith("warning: webhook at 127.0.0.1 (${env:QA_HOOK}) failed")
