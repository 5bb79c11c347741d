"""A template that tries to run a command runs nothing: not on `check`, `estimate`, `run`, nor
on opening the file in the language server (diagnostics, code lenses, hover)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from lsprotocol import types

from fuzz_support import assert_no_internal_error, run_cli
from lsp_support import open_document, wait_for_publish
from promptwise.devtools.fake_openai import FakeOpenAI

PAYLOADS = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch MARKER') }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
]


def _write_project(root: Path, payload: str, marker: Path) -> None:
    line = payload.replace("MARKER", str(marker))
    (root / "evil.prompty").write_text(
        "---\nname: evil\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    model: gpt-4o-mini\n"
        "sample:\n  q: hi\n---\nsystem:\n" + line + "\nuser:\n{{ q }}\n",
        encoding="utf-8",
    )
    (root / "flow").mkdir()
    (root / "flow" / "ask.jinja2").write_text(f"system:\n{line}\nuser:\n{{{{ q }}}}\n", encoding="utf-8")
    (root / "flow" / "flow.dag.yaml").write_text(textwrap.dedent("""\
        inputs:
          q: {type: string, default: hi}
        outputs:
          answer: {type: string, reference: "${ask.output}"}
        nodes:
        - name: ask
          type: llm
          source: {type: code, path: ask.jinja2}
          inputs: {deployment_name: gpt-4o-mini, q: "${inputs.q}"}
          connection: local
          api: chat
        """), encoding="utf-8")


@pytest.fixture(params=range(len(PAYLOADS)), ids=["cycler", "joiner", "subclasses"])
def hostile(request, project: Path, watched: Path) -> tuple[Path, Path]:
    marker = watched / "pwned"
    _write_project(project, PAYLOADS[request.param], marker)
    return project, marker


def test_check_runs_no_template_code(hostile, watched):
    root, marker = hostile
    result = run_cli("check", ".", cwd=root)
    assert_no_internal_error(result)
    assert not marker.exists() and list(watched.iterdir()) == []


@pytest.fixture
def cycler_payload(project: Path, watched: Path) -> tuple[Path, Path]:
    marker = watched / "pwned"
    _write_project(project, PAYLOADS[0], marker)
    return project, marker


@pytest.mark.parametrize("target", ["evil.prompty", "flow"])
def test_estimate_runs_no_template_code(cycler_payload, target, watched):
    root, marker = cycler_payload
    result = run_cli("estimate", target, cwd=root)
    assert_no_internal_error(result)
    assert not marker.exists() and list(watched.iterdir()) == []


def test_run_renders_no_template_code_and_says_why(cycler_payload, watched):
    root, marker = cycler_payload
    with FakeOpenAI() as server:
        (root / "promptwise.yaml").write_text(
            f"connections:\n  local: {{type: openai_compatible, base_url: '{server.base_url}'}}\n", encoding="utf-8"
        )
        for target in ("evil.prompty", "flow"):
            result = run_cli("run", target, cwd=root, env={"OPENAI_API_KEY": "test-key"})
            assert_no_internal_error(result)
            assert result.returncode != 0
            assert "ask.jinja2:2" in result.stderr or "evil.prompty:12" in result.stderr, result.stderr
        assert server.stats.requests == 0
    assert not marker.exists() and list(watched.iterdir()) == []


@pytest.fixture
def lsp_workspace(project: Path, watched: Path) -> Path:
    _write_project(project, PAYLOADS[0], watched / "pwned")
    return project


@pytest.mark.timeout(120)
async def test_opening_the_files_in_the_editor_runs_no_template_code(client, lsp_workspace, watched):
    for path in (lsp_workspace / "evil.prompty", lsp_workspace / "flow" / "flow.dag.yaml",
                 lsp_workspace / "flow" / "ask.jinja2"):
        uri = open_document(client, path)
        published = await wait_for_publish(client, uri)
        assert not any(d.code == "PW000" for d in published.diagnostics)
        document = types.TextDocumentIdentifier(uri=uri)
        await client.text_document_code_lens_async(types.CodeLensParams(text_document=document))
        await client.text_document_hover_async(
            types.HoverParams(text_document=document, position=types.Position(line=2, character=3))
        )
    assert list(watched.iterdir()) == []
