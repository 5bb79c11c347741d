"""Secrets outside the normal paths: a key written in a flow is refused before anything runs;
credentials inside endpoint URLs and encoded echoes of a key never reach the store or reports."""

from __future__ import annotations

import pytest

from promptwise.cli import main
from promptwise.store import RunStore

LITERAL = "sk-proj-Abc123Def456Ghi789Jkl012Mno"  # looks real to the PW601 check

TOOL = """
    from promptflow.core import tool

    @tool
    def echo(q: str, api_key: str = "") -> str:
        return q
"""

# (files, the file and 1-based line the error must name)
LITERAL_KEY_FLOWS = {
    "default input": ({
        "flow/flow.dag.yaml": f"""
            inputs:
              q: {{type: string, default: hi}}
              api_key: {{type: string, default: {LITERAL}}}
            outputs:
              out: {{type: string, reference: "${{echo.output}}"}}
            nodes:
            - name: echo
              type: python
              source: {{type: code, path: echo.py}}
              inputs: {{q: "${{inputs.q}}", api_key: "${{inputs.api_key}}"}}
        """,
        "flow/echo.py": TOOL,
    }, "flow/flow.dag.yaml", 3),
    "node input": ({
        "flow/flow.dag.yaml": f"""
            inputs:
              q: {{type: string, default: hi}}
            outputs:
              out: {{type: string, reference: "${{echo.output}}"}}
            nodes:
            - name: echo
              type: python
              source: {{type: code, path: echo.py}}
              inputs:
                q: ${{inputs.q}}
                api_key: {LITERAL}
        """,
        "flow/echo.py": TOOL,
    }, "flow/flow.dag.yaml", 11),
    "prompt template": ({
        "flow/flow.dag.yaml": """
            inputs:
              q: {type: string, default: hi}
            outputs:
              out: {type: string, reference: "${chat.output}"}
            nodes:
            - name: chat
              type: llm
              source: {type: code, path: chat.jinja2}
              inputs: {model: gpt-4o-mini, q: "${inputs.q}"}
              api: chat
        """,
        "flow/chat.jinja2": f"system:\nYou may use the key {LITERAL} for lookups.\nuser:\n{{{{q}}}}\n",
    }, "flow/chat.jinja2", 2),
    "flex init": ({
        "flow/flow.flex.yaml": f"""
            entry: entry:Echo
            init:
              api_key: {{type: string, default: {LITERAL}}}
        """,
        "flow/entry.py": """
            class Echo:
                def __init__(self, api_key: str = ""):
                    self.api_key = api_key

                def __call__(self, q: str = "hi") -> str:
                    return q
        """,
    }, "flow/flow.flex.yaml", 3),
    "prompty body": ({
        "flow/ask.prompty": f"""
            ---
            name: ask
            model:
              api: chat
              configuration: {{type: openai, model: gpt-4o-mini}}
            inputs:
              q: {{type: string, default: hi}}
            ---
            system:
            The key is {LITERAL}.
            user:
            {{{{q}}}}
        """,
    }, "flow/ask.prompty", 10),
}


@pytest.mark.parametrize("case", LITERAL_KEY_FLOWS)
@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_flow_with_a_literal_key_does_not_run(workspace, monkeypatch, capsys, case, command):
    files, where, line = LITERAL_KEY_FLOWS[case]
    root = workspace(files)
    (root / "data.jsonl").write_text('{"q": "hello"}\n')
    monkeypatch.chdir(root)
    flow = next(name for name in files if name.endswith((".yaml", ".prompty")))
    argv = ["run", flow, "--format", "json"] if command == "run" else ["batch", flow, "--data", "data.jsonl",
                                                                       "--no-progress"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert f"{where}:{line}: PW601: " in err, err
    assert "${env:" in err and "Traceback" not in err
    assert LITERAL not in out + err
    assert workspace.server.stats.requests == 0
    state = root / ".promptwise"
    for path in state.rglob("*") if state.exists() else ():
        if path.is_file():
            assert LITERAL.encode() not in path.read_bytes(), path
    if (state / "runs.sqlite").exists():
        with RunStore(state) as store:
            assert store.list_runs() == []  # no run was created


def test_a_key_as_env_reference_runs(workspace, monkeypatch, capsys):
    files, _, _ = LITERAL_KEY_FLOWS["default input"]
    files = {name: text.replace(LITERAL, "'${env:PW_SOME_KEY}'") for name, text in files.items()}
    root = workspace(files)
    monkeypatch.chdir(root)
    assert main(["run", "flow", "--format", "json"]) == 0
    assert '"out": "hi"' in capsys.readouterr().out
