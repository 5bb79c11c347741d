"""`promptwise init`: every template checks clean and runs against the local scripted model
with its own rules file; a folder that is not empty is refused, and no file is overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.commands.init import TEMPLATE_NAMES
from promptwise.devtools.fake_openai import FakeOpenAI, _load_rules
from promptwise.scaffold import TEMPLATES, ScaffoldError, scaffold


def test_command_offers_every_template():
    assert set(TEMPLATE_NAMES) == set(TEMPLATES)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_template_checks_clean_and_runs(template, tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    assert main(["init", str(project), "--template", template]) == 0
    names = {p.name for p in project.iterdir()}
    assert {"promptwise.yaml", "README.md", "data.jsonl", "fake-llm-rules.yaml"} <= names
    assert ("eval.yaml" in names) == (template == "classifier")
    assert "${env:OPENAI_API_KEY}" in (project / "promptwise.yaml").read_text()
    assert "$title" not in (project / "README.md").read_text()
    capsys.readouterr()
    assert main(["check", str(project), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    target = str(project / TEMPLATES[template].target)
    with FakeOpenAI(rules=_load_rules(project / "fake-llm-rules.yaml")) as server:
        monkeypatch.setenv("PROMPTWISE_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "local-key")
        monkeypatch.chdir(project)
        assert main(["run", target, "--format", "json", "--no-cache"]) == 0
        outputs = json.loads(capsys.readouterr().out)
        assert "echo:" not in json.dumps(outputs)  # answered by the template's rules, not the fallback
        assert main(["batch", target, "--data", "data.jsonl", "--no-progress", "--no-cache"]) == 0
        assert server.stats.requests >= 2


def test_classifier_eval_scores_most_rows(tmp_path, monkeypatch, capsys):
    project = tmp_path / "triage"
    scaffold(project, "classifier")
    with FakeOpenAI(rules=_load_rules(project / "fake-llm-rules.yaml")) as server:
        monkeypatch.setenv("PROMPTWISE_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "local-key")
        monkeypatch.chdir(project)
        capsys.readouterr()
        assert main(["eval", ".", "--data", "data.jsonl", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert '"category_match"' in out
    # the scripted model gets 5 of the 6 labelled tickets right (its last rule guesses billing)
    assert '"passed": 5' in out and '"pass_rate": 0.8333333333333334' in out


def test_non_empty_folder_is_refused_without_force(tmp_path, capsys):
    project = tmp_path / "busy"
    project.mkdir()
    (project / "promptwise.yaml").write_text("# mine\n")
    assert main(["init", str(project)]) != 0
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["promptwise.yaml"]


def test_force_adds_files_but_never_overwrites(tmp_path):
    project = tmp_path / "busy"
    project.mkdir()
    (project / "promptwise.yaml").write_text("# mine\n")
    result = scaffold(project, "chat", force=True)
    assert (project / "promptwise.yaml").read_text() == "# mine\n"
    assert result.kept == [project / "promptwise.yaml"]
    assert (project / "flow.dag.yaml").is_file()


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScaffoldError, match="not a folder"):
        scaffold(tmp_path / "file", "chat")
