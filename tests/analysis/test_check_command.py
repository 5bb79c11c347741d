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
    missing = tmp_path / "nope"
    assert main(["check", str(missing)]) == 2
    captured = capsys.readouterr()
    assert f"promptwise: error: {missing}: no such file or folder; check the path" in captured.err
    assert "Traceback" not in captured.err


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


# ------------------------------------------------------------------ what `check` covers

EVAL = "evaluators:\n  - name: exact\n    type: exact_matchh\n"
GOOD_FLOW = "inputs:\n  q: {type: string}\noutputs:\n  a: {type: string, reference: '${inputs.q}'}\nnodes: []\n"


@pytest.fixture
def eval_project(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "flow.dag.yaml").write_text(GOOD_FLOW)
    (tmp_path / "proj" / "eval.yaml").write_text(EVAL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_folder_includes_eval_yaml(eval_project, capsys):
    assert main(["check", "proj"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("proj/eval.yaml:3:11: error PW802: unknown evaluator type `exact_matchh`")
    assert "did you mean `exact_match`?" in line


def test_check_eval_yaml_named_directly(eval_project, capsys):
    assert main(["check", "proj/eval.yaml", "--format", "json"]) == 1
    (item,) = json.loads(capsys.readouterr().out)
    assert (item["path"], item["code"]) == ("proj/eval.yaml", "PW802")
    assert item["range"] == {"start": {"line": 2, "character": 10}, "end": {"line": 2, "character": 22}}


def test_folder_without_flows_warns_and_exits_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# notes\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "docs"]) == 2
    captured = capsys.readouterr()
    assert "promptwise: warning: no flow.dag.yaml, flow.flex.yaml or .prompty files under docs" in captured.err
    assert captured.out == ""


def test_empty_folder_next_to_a_good_one_still_exits_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "flow.dag.yaml").write_text(GOOD_FLOW)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["check", "good", "empty"]) == 2
    assert "under empty" in capsys.readouterr().err
    assert main(["check", "good"]) == 0


def test_workspace_settings_of_a_flow_are_checked(tmp_path, capsys, monkeypatch):
    (tmp_path / "promptwise.yaml").write_text("defaults: {modle: gpt-4o}\n")
    (tmp_path / "flows" / "a").mkdir(parents=True)
    (tmp_path / "flows" / "a" / "flow.dag.yaml").write_text(GOOD_FLOW)
    monkeypatch.chdir(tmp_path / "flows")
    assert main(["check", "a"]) == 0  # a warning only
    (line,) = capsys.readouterr().out.splitlines()
    # outside the current folder, paths are shown in full
    assert line.startswith(f"{tmp_path / 'promptwise.yaml'}:1:12: warning PW103: unknown key 'modle' in defaults")


def test_settings_file_named_directly(tmp_path, capsys, monkeypatch):
    (tmp_path / "promptwise.yaml").write_text("models:\n  m: {input_per_1m: '0.5'}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "promptwise.yaml"]) == 1
    assert capsys.readouterr().out.startswith("promptwise.yaml:2:21: error PW104:")
