"""`eval FLOW --models A,B --progress`: plain progress lines on stderr as each model's rows finish
(what VS Code's Compare Models shows in its notification), the JSON on stdout unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptwise.cli import main

from capitals_project import DATA, write_capitals_flow
from test_model_compare import EVAL, FLOW

PROGRESS = re.compile(r"^progress (\S+): (\d+)/(\d+) rows, (\d+) failed$")


@pytest.fixture
def flow(workspace_dir: Path, fake_server) -> Path:
    folder = write_capitals_flow(workspace_dir, FLOW, EVAL)
    for row in DATA:
        country = row["question"].split("capital of ")[1].rstrip("?")
        for model in ("gpt-4o-mini", "gpt-4.1-mini"):
            fake_server.add_rule(rf"capital of {country}", row["expected"], model=model)
    return folder


def test_progress_lines_per_model_and_json_unchanged(flow, capsys, monkeypatch):
    monkeypatch.chdir(flow.parent)
    assert main(["eval", str(flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--format", "json", "--no-cache",
                 "--progress"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)  # stdout is still exactly the JSON
    assert [m["model"] for m in data["models"]] == ["gpt-4o-mini", "gpt-4.1-mini"]
    lines = [line for line in out.err.splitlines() if line.startswith("progress ")]
    parsed = [PROGRESS.match(line) for line in lines]
    assert all(parsed), lines
    # Each model's last line says all its rows are done; a model's lines follow its "running" line.
    total = len(DATA)
    for model in ("gpt-4o-mini", "gpt-4.1-mini"):
        own = [m for m in parsed if m.group(1) == model]
        assert own and own[-1].groups()[1:] == (str(total), str(total), "0")
        assert all(int(m.group(2)) <= total for m in own)
    err = out.err
    assert err.index("running and evaluating with gpt-4.1-mini") < err.index(f"progress gpt-4.1-mini: {total}/{total}")
    assert err.index(f"progress gpt-4o-mini: {total}/{total}") < err.index("running and evaluating with gpt-4.1-mini")


def test_no_progress_lines_unless_asked(flow, capsys, monkeypatch):
    monkeypatch.chdir(flow.parent)
    assert main(["eval", str(flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--format", "json", "--no-cache"]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress ")]
