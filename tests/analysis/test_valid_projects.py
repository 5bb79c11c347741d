"""The valid corpus and the example flows produce no problems, through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from promptwise.analysis import check_paths, discover
from promptwise.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
FLOWS = ROOT / "flows"


def _files(folder: Path) -> list[Path]:
    files, _ = discover([folder])
    return files


@pytest.mark.parametrize("path", _files(CORPUS), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file_has_no_problems(path):
    problems = check_paths([path])
    assert [(p.code, p.range.start.line + 1, p.message) for p in problems] == []


def test_corpus_covers_every_document_kind():
    names = {p.name for p in _files(CORPUS)}
    assert {"flow.dag.yaml", "flow.flex.yaml"} <= names
    assert any(name.endswith(".prompty") for name in names)


def test_check_flows_cli_reports_nothing(capsys):
    assert _files(FLOWS), "flows/ holds example projects"
    exit_code = main(["check", str(FLOWS)])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert exit_code == 0
    assert "no problems" in captured.err


def test_check_cli_as_a_subprocess(tmp_path):
    (tmp_path / "flow.dag.yaml").write_text("inputs:\n  q: {type: strng}\noutputs: {}\nnodes: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "promptwise", "check", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    problems = json.loads(result.stdout)
    codes = {p["code"] for p in problems}
    assert codes == {"PW106", "PW206"}
    bad_type = next(p for p in problems if p["code"] == "PW106")
    assert bad_type["range"] == {"start": {"line": 1, "character": 12}, "end": {"line": 1, "character": 17}}
    assert bad_type["severity"] == "error" and "string" in bad_type["message"]
    assert "Traceback" not in result.stderr
