"""What a user looks for in `--help` is there: how to export traces (the OTLP variables), how
long they are kept and how to keep no prompts; the `serve:` settings, the drain on SIGTERM and
where each consumer's usage is shown; the forms --since takes."""

from __future__ import annotations

import pytest

from promptwise.cli import main


def _help(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_traces_help_says_how_to_export_keep_and_not_capture(capsys):
    text = _help(capsys, "traces")
    for needle in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME",
                   "retention_days", "capture_content: false"):
        assert needle in text, needle


def test_traces_list_help_names_the_time_forms(capsys):
    text = _help(capsys, "traces", "list")
    for needle in ("2 hours ago", "14:30", "yesterday", "Z for UTC"):
        assert needle in text, needle


def test_serve_help_names_its_settings_the_drain_and_the_metering(capsys):
    text = _help(capsys, "serve")
    for needle in ("serve.keys", "429", "max_body_bytes", "timeout_seconds", "max_concurrency", "cors", "SIGTERM",
                   "monitor --metering"):
        assert needle in text, needle
