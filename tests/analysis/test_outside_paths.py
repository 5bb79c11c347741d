"""PW110: files a flow or prompt names outside its project are reported (a warning at the
path), including through symlinks; paths inside the project (shared code beside the flow in
one repository) are not. The warning never quotes the file's contents."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from promptwise.analysis import analyze

FLOW = """\
inputs:
  q: {{type: string, default: hi}}
outputs:
  a: {{type: string, reference: "${{t.output}}"}}
nodes:
- name: t
  type: python
  source: {{type: code, path: {path}}}
  inputs: {{q: "${{inputs.q}}"}}
{includes}"""


def _flow(folder: Path, path: str, includes: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "flow.dag.yaml"
    target.write_text(FLOW.format(path=path, includes=includes), encoding="utf-8")
    return target


def _pw110(path: Path) -> list:
    return [p for p in analyze(path) if p.code == "PW110"]


@pytest.mark.parametrize("written", ["../../../../../../../../etc/passwd", "/etc/passwd", "../outside.py"])
def test_source_path_leaving_the_project_is_a_warning_at_the_path(tmp_path, written):
    flow = _flow(tmp_path / "project" / "flow", written)
    (tmp_path / "project" / ".git").mkdir()
    problems = _pw110(flow)
    if written == "../outside.py":  # inside the repository: shared code is fine
        assert problems == []
        return
    [problem] = problems
    assert problem.severity.name == "WARNING"
    assert problem.range.start.line == 7
    assert written in problem.message and "root:" not in problem.message


def test_without_a_project_marker_the_flow_folder_is_the_project(tmp_path):
    flow = _flow(tmp_path / "flow", "../tool.py")
    (tmp_path / "tool.py").write_text("def f(q): return q\n")
    [problem] = _pw110(flow)
    assert "outside the project" in problem.message


def test_a_symlink_out_of_the_project_is_reported(tmp_path):
    secret = tmp_path / "elsewhere" / "secret.py"
    secret.parent.mkdir()
    secret.write_text("KEY = 'do-not-quote-me'\n")
    flow = _flow(tmp_path / "project", "tool.py")
    (tmp_path / "project" / "promptwise.yaml").write_text("{}\n")
    (tmp_path / "project" / "tool.py").symlink_to(secret)
    [problem] = _pw110(flow)
    assert "link" in problem.message
    assert all("do-not-quote-me" not in p.message for p in analyze(flow))


def test_additional_includes_and_file_substitutions(tmp_path):
    flow = _flow(tmp_path / "project", "tool.py", "additional_includes:\n- ../../shared\n- common\n")
    (tmp_path / "project" / ".git").mkdir()
    lines = [p.range.start.line for p in _pw110(flow)]
    assert lines == [10]
    prompty = tmp_path / "project" / "ask.prompty"
    prompty.write_text(textwrap.dedent("""\
        ---
        name: ask
        model:
          api: chat
          configuration: {type: openai, model: gpt-4o-mini}
        sample: ${file:../../sample.json}
        ---
        system:
        hi {{ q }}
        """), encoding="utf-8")
    [problem] = _pw110(prompty)
    assert problem.range.start.line == 5
