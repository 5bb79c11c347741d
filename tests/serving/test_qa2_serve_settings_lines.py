"""`promptwise serve` refusing a `serve:` setting says the file AND the line the setting is on
(`promptwise.yaml:LINE:`, where `promptwise check` points), and what to do. Before, it named the
file only. Checked before the server starts, so nothing is served."""

from __future__ import annotations

import pytest

from promptwise.cli import main
from serving_process import ECHO_PROMPTY, write_workspace

# (the serve: section, the 1-based line of promptwise.yaml the error must name, a word of the fix)
CASES = [
    ("keys:\n  - consumer: portal\n    key: plaintext-key-123\n", 3, "${env:VAR}"),
    ("keys:\n  - consumer: portal\n    key: ${env:QA2_UNSET_KEY}\n", 2, "export"),
    ("max_concurrency: 64\nmax_body_bytes: -5\n", 2, "above 0"),
    ("limits:\n  default: {requests_per_minute: lots}\n", 2, "whole number"),
    ("timeout_seconds: 5\ntimeoutseconds: 5\n", 2, "timeout_seconds"),
]


@pytest.mark.parametrize(("serve", "offset", "fix"), CASES)
def test_a_refused_serve_setting_names_file_and_line(tmp_path, capsys, monkeypatch, serve, offset, fix):
    monkeypatch.delenv("QA2_UNSET_KEY", raising=False)
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", ECHO_PROMPTY, serve)
    lines = (root / "promptwise.yaml").read_text(encoding="utf-8").splitlines()
    serve_line = lines.index("serve:") + 1
    assert main(["serve", str(root / "echo.prompty"), "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert f"{root / 'promptwise.yaml'}:{serve_line + offset}: " in error, error
    assert fix in error
    assert "Traceback" not in error


def test_the_message_is_kept_when_the_file_cannot_say(tmp_path):
    from promptwise.serving.settings_check import with_line

    assert with_line("elsewhere: `serve.x` is wrong", tmp_path / "promptwise.yaml") == "elsewhere: `serve.x` is wrong"
    (tmp_path / "promptwise.yaml").write_text("defaults: {model: gpt-4o-mini}\n", encoding="utf-8")
    message = f"{tmp_path / 'promptwise.yaml'}: `serve.x` is wrong"
    assert with_line(message, tmp_path / "promptwise.yaml") == message  # no serve: section to point at
