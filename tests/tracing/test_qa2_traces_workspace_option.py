"""`--workspace` reads another workspace's traces before or after the action (`traces list
--workspace ../claims`, as the README writes it), and the actions' --help names it (it was
accepted there but hidden)."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from test_qa_serve_trace_filters import old_and_new  # noqa: F401 - the fixture: runs `old` and `new`, traced


def test_workspace_before_or_after_the_action(old_and_new, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # elsewhere: without --workspace there is no store here
    for args in (["traces", "--workspace", str(old_and_new), "list"], ["traces", "list", "--workspace", str(old_and_new)]):
        assert main([*args, "--format", "json"]) == 0, capsys.readouterr().err
        assert sorted(trace["run_id"] for trace in json.loads(capsys.readouterr().out)) == ["new", "old"]
    assert main(["traces", "show", "--run", "new", "--workspace", str(old_and_new), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "new"


@pytest.mark.parametrize("action", ["list", "show"])
def test_the_actions_help_names_workspace_and_format(action, capsys):
    with pytest.raises(SystemExit):
        main(["traces", action, "--help"])
    options = capsys.readouterr().out.split("options:", 1)[1]
    lines = {line.split()[0]: line for line in options.splitlines() if line.strip().startswith("--")}
    assert "--workspace" in lines
    assert lines["--format"].split("}", 1)[1].strip()  # the option says what json gives
