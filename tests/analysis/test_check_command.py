"""`promptwise check`: text, JSON and SARIF output, exit status, bad input."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main

FLOW = "inputs:\n  q: {type: string}\noutputs:\n  a: {type: string, reference: '${missing.output}'}\nnodes: []\n"


@pytest.fixture
def flow_dir(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "flow.dag.yaml").write_text(FLOW)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_format_is_one_based(flow_dir, capsys):
    assert main(["check", "proj"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "proj/flow.dag.yaml:4:35: error PW202: flow output 'a' reads node 'missing'" in out[1]
    assert out[0].startswith("proj/flow.dag.yaml:2:3: warning PW206:")


def test_json_format_is_zero_based(flow_dir, capsys):
    assert main(["check", "proj", "--format", "json"]) == 1
    items = json.loads(capsys.readouterr().out)
    error = next(i for i in items if i["code"] == "PW202")
    assert error["path"] == "proj/flow.dag.yaml"
    assert error["range"]["start"] == {"line": 3, "character": 34}
    assert set(error) == {"path", "range", "severity", "code", "message"}


def test_sarif_format(flow_dir, capsys):
    main(["check", "proj", "--format", "sarif"])
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "promptwise"
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    result = next(r for r in run["results"] if r["ruleId"] == "PW202")
    assert rule_ids[result["ruleIndex"]] == "PW202"
    assert result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (4, 35)
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "proj/flow.dag.yaml"
    warning = next(r for r in run["results"] if r["ruleId"] == "PW206")
    assert warning["level"] == "warning" and warning["fixes"][0]["artifactChanges"]


def test_warnings_only_exit_zero(tmp_path, capsys):
    (tmp_path / "flow.dag.yaml").write_text("inputs:\n  q: {type: string}\noutputs: {}\nnodes: []\n")
    assert main(["check", str(tmp_path)]) == 0
    assert "PW206" in capsys.readouterr().out


def test_missing_path_is_an_error(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().out


def test_default_path_is_the_current_folder(flow_dir, capsys):
    assert main(["check"]) == 1
    assert "proj/flow.dag.yaml" in capsys.readouterr().out


def test_binary_and_empty_files(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "flow.dag.yaml").write_bytes(b"\x00\xff\x00")
    (tmp_path / "b.prompty").write_text("")
    assert main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PW100" in out and "binary" in out and "PW105" in out


def test_a_file_of_another_kind_is_a_warning(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert main(["check", str(notes)]) == 0
    out = capsys.readouterr().out
    assert "PW100" in out and "not a kind of file" in out
