"""`promptwise check` (and the editor, through the same analysis) reports the serve/tracing/
monitoring/alerts settings that `promptwise serve` would refuse, as PW111 at the setting's line,
using the runtime's own validators: errors for the file, warnings for what this environment lacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from promptwise.analysis.analyzer import analyze
from promptwise.analysis.settings import check_settings_file

# (settings, line of the PW111, severity, words the message must hold)
CASES = [
    ("tracing:\n  pii: scramble\n", 2, "error", "tracing.pii"),
    ("tracing:\n  encrypt:\n    key: abcdefabcdefabcdefabcdefabcdefabcdef\n", 3, "error", "tracing.encrypt.key"),
    ("tracing:\n  encrypt:\n    key: ${env:H9_STORE_KEY}\n    previus_keys: []\n", 4, "error", "previous_keys"),
    ("tracing:\n  encrypt: {}\n", 2, "error", "tracing.encrypt.key"),
    ("tracing:\n  retention_days: -1\n", 2, "error", "tracing.retention_days"),
    ("tracing:\n  pii: hash\n  pii_key: my-literal-key-123456\n", 3, "error", "tracing.pii_key"),
    ("tracing:\n  pii: hash\n  pii_key: ${env:H9_UNSET_PII}\n", 3, "warning", "H9_UNSET_PII is not set"),
    ("tracing:\n  encrypt:\n    key: ${env:H9_SHORT_KEY}\n", 3, "warning", "H9_SHORT_KEY has 5 characters"),
    ("tracing:\n  encrypt:\n    key: ${env:H9_UNSET_KEY}\n", 3, "warning", "H9_UNSET_KEY, which is not set"),
    ("tracing:\n  pii_runs: 'true'\n", 2, "error", "tracing.pii_runs"),
    ("serve:\n  log_inputs: sometimes\n", 2, "error", "serve.log_inputs"),
    ("serve:\n  timout_seconds: 3\n", 2, "error", "serve.timout_seconds"),
    ("serve:\n  limits:\n    bob:\n      requests_per_minute: 0\n", 4, "error", "requests_per_minute"),
    ("serve:\n  keys:\n    - consumer: a\n      key: literal-secret\n", 4, "error", "serve.keys[0]"),
    ("serve:\n  keys:\n    - consumer: a\n      key: ${env:H9_UNSET_SERVE}\n", 3, "warning", "H9_UNSET_SERVE"),
    ("monitoring:\n  online_eval:\n    evaluators: [pii]\n    sample_rate: 3\n", 4, "error", "sample_rate"),
    ("monitoring:\n  online_eval:\n    evaluators: [pii]\n    sampel_rate: 0.1\n", 4, "error", "sampel_rate"),
    ("monitoring:\n  metric_drift:\n    tolerance: -1\n", 3, "error", "tolerance"),
    ("alerts:\n  - name: slow\n    metric: latency_p96_ms\n    above: 2000\n", 3, "error", "latency_p99_ms"),
    ("alerts_webhook: https://hooks.example/secret\n", 1, "error", "alerts_webhook"),
]


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setenv("H9_SHORT_KEY", "short")
    for name in ("H9_UNSET_PII", "H9_UNSET_KEY", "H9_UNSET_SERVE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("text", "line", "severity", "words"), CASES, ids=[case[3] for case in CASES])
def test_each_refused_setting_is_one_problem_at_its_line(tmp_path, text, line, severity, words):
    path = tmp_path / "promptwise.yaml"
    path.write_text(text, encoding="utf-8")
    problems = [p for p in check_settings_file(path, text) if p.code == "PW111"]
    assert [(p.range.start.line + 1, p.severity.value) for p in problems] == [(line, severity)]
    assert words in problems[0].message


def test_sound_sections_have_no_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("H9_GOOD_KEY", "k" * 40)
    monkeypatch.setenv("H9_GOOD_PII", "p" * 20)
    text = textwrap.dedent("""\
        serve: {log_inputs: true, timeout_seconds: 30, limits: {default: {requests_per_minute: 60}}}
        tracing:
          pii: hash
          pii_key: ${env:H9_GOOD_PII}
          encrypt: {key: '${env:H9_GOOD_KEY}'}
        monitoring:
          online_eval: {evaluators: [pii], sample_rate: 0.5}
          metric_drift: {tolerance: 0.1}
        alerts:
          - {name: slow, metric: latency_p95_ms, above: 2000, window: 15m}
        """)
    path = tmp_path / "promptwise.yaml"
    path.write_text(text, encoding="utf-8")
    assert [p for p in check_settings_file(path, text) if p.code == "PW111"] == []


def test_the_editor_sees_its_unsaved_copy(tmp_path):
    path = tmp_path / "promptwise.yaml"
    path.write_text("tracing:\n  pii: redact\n", encoding="utf-8")
    problems = analyze(path, "tracing:\n  pii: redact\n  encrypt:\n    key: not-an-env-reference\n")
    assert [p.range.start.line for p in problems if p.code == "PW111"] == [3]


def test_check_command_exits_1_naming_file_and_line(tmp_path):
    (tmp_path / "promptwise.yaml").write_text(
        "models: {}\ntracing:\n  pii: hash\n  pii_key: written-here-in-clear\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "promptwise", "check", "promptwise.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("promptwise.yaml:4:3: error PW111: `tracing.pii_key`")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["serve: [1]\n", "tracing: 5\n", "monitoring: 3\n", "alerts: {a: 1}\n"])
def test_a_section_of_the_wrong_shape_is_the_schemas_one_problem(tmp_path, text):
    path = tmp_path / "promptwise.yaml"
    path.write_text(text, encoding="utf-8")
    assert [p.code for p in check_settings_file(path, text)] == ["PW104"]
