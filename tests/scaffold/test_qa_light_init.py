"""`init --force` into a folder whose own promptwise.yaml is kept: when that file does not define the
`local` connection the template's flow names, the flow would run on whatever defaults.connection or
the OPENAI_* variables give (api.openai.com with the README's dummy key). Now init says so, with the
lines to add; the kept file is still never touched."""

from __future__ import annotations

import pytest

from promptwise.cli import main


@pytest.mark.parametrize("template", ["chat", "rag", "classifier"])
def test_kept_settings_without_the_local_connection_are_warned_about(template, tmp_path, capsys):
    project = tmp_path / "existing"
    project.mkdir()
    mine = "defaults:\n  model: gpt-4.1\n"
    (project / "promptwise.yaml").write_text(mine)
    assert main(["init", str(project), "--template", template, "--force"]) == 0
    err = capsys.readouterr().err
    assert "promptwise: warning:" in err and "connection `local`" in err
    assert "local: {type: openai_compatible" in err and "${env:PROMPTWISE_BASE_URL}" in err
    assert (project / "promptwise.yaml").read_text() == mine


@pytest.mark.parametrize("settings", [
    "connections:\n  local: {type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}\n",
])
def test_kept_settings_that_define_it_are_not_warned_about(settings, tmp_path, capsys):
    project = tmp_path / "existing"
    project.mkdir()
    (project / "promptwise.yaml").write_text(settings)
    assert main(["init", str(project), "--template", "chat", "--force"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_prompty_template_names_no_connection_and_gets_no_warning(tmp_path, capsys):
    project = tmp_path / "existing"
    project.mkdir()
    (project / "promptwise.yaml").write_text("defaults: {model: gpt-4.1}\n")
    assert main(["init", str(project), "--template", "prompty", "--force"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("template", ["chat", "rag", "classifier", "prompty"])
def test_every_template_keeps_its_local_state_out_of_git(template, tmp_path):
    """The project's README says it "can be committed as it is", but the first run wrote
    .promptwise/ (runs and traces, prompts and replies included) and the README's .model-url
    beside it, with nothing to keep them out of `git add .`."""
    project = tmp_path / "project"
    assert main(["init", str(project), "--template", template]) == 0
    ignored = (project / ".gitignore").read_text().splitlines()
    assert ".promptwise/" in ignored and ".model-url" in ignored
    assert not (project / "gitignore").exists()  # stored without its dot, written with it


def test_next_step_quotes_a_folder_with_spaces_and_skips_cd_into_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "my project"]) == 0
    assert "Next: cd 'my project' and follow README.md" in capsys.readouterr().out
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert main(["init", "."]) == 0
    assert "Next: follow README.md" in capsys.readouterr().out
