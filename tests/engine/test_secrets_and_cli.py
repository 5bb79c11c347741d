"""Secrets never reach the store, logs or errors; the run/batch/runs commands end to end."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI

SECRET = "sk-live-TOPSECRET-0123456789"

FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string, default: hi}
        outputs:
          answer: {reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          connection: secured
          api: chat
    """,
    "flow/chat.jinja2": "user:\n{{question}}\n",
}


def secured_workspace(root, server, key_variable="PW_TEST_KEY"):
    (root / "promptwise.yaml").write_text(
        "connections:\n"
        f"  secured: {{type: openai, base_url: '{server.base_url}', api_key: '${{env:{key_variable}}}'}}\n")
    for name, text in FLOW.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(__import__("textwrap").dedent(text).lstrip())
    (root / "data.jsonl").write_text(json.dumps({"question": f"echo my key {SECRET}"}) + "\n"
                                     + json.dumps({"question": "plain"}) + "\n")
    return root


def test_secret_absent_from_store_logs_and_errors(tmp_path, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PW_TEST_KEY", SECRET)
    with FakeOpenAI(api_key="a-different-key") as server:
        root = secured_workspace(tmp_path, server)
        code = main(["-v", "batch", str(root / "flow"), "--data", str(root / "data.jsonl"), "--no-progress"])
        assert code == 1  # every row fails with 401
        assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"  # it was sent, correctly
    out, err = capsys.readouterr()
    assert "1 failed" not in out and "0/2 rows completed · 2 failed" in out
    for text in (out, err, caplog.text):
        assert SECRET not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "data.jsonl":
            assert SECRET.encode() not in path.read_bytes(), path
    exported = subprocess.run([sys.executable, "-m", "promptwise", "runs", "show",
                               json.loads(subprocess.run([sys.executable, "-m", "promptwise", "runs", "list",
                                                          "--format", "json"], cwd=tmp_path, capture_output=True,
                                                         text=True).stdout)[0]["name"], "--format", "json"],
                              cwd=tmp_path, capture_output=True, text=True)
    assert "authentication failed (HTTP 401)" in exported.stdout and SECRET not in exported.stdout


def test_missing_key_variable_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PW_UNSET_KEY", raising=False)
    with FakeOpenAI() as server:
        root = secured_workspace(tmp_path, server, "PW_UNSET_KEY")
        code = main(["run", str(root / "flow")])
        assert server.stats.requests == 0
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("promptwise: error: ") and err.count("\n") == 1
    assert "flow.dag.yaml:10: " in err and "PW_UNSET_KEY is not set" in err and "Traceback" not in err


def test_run_batch_and_runs_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PW_TEST_KEY", "key-1234567")
    with FakeOpenAI(rules=[("capital", "Paris")]) as server:
        root = secured_workspace(tmp_path, server)
        monkeypatch.chdir(root)
        assert main(["run", "flow", "--inputs", "question=the capital?"]) == 0
        out, err = capsys.readouterr()
        assert out == "answer: Paris\n" and "completed" in err
        assert main(["run", "flow", "--inputs", "question=x", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["outputs"] == {"answer": "echo: x"}
        assert main(["batch", "flow", "--data", "data.jsonl", "--name", "b1", "--concurrency", "2"]) == 0
        out, err = capsys.readouterr()
        assert "run: b1" in err and "run b1: completed · 2/2 rows completed · 0 failed" in out
        assert main(["batch", "flow", "--data", "data.jsonl", "--name", "b1"]) == 2
        assert "exists already" in capsys.readouterr().err
    assert main(["runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "b1" in listing and "2/2" in listing
    assert main(["runs", "show", "b1"]) == 0
    assert "rows:       2/2 done" in capsys.readouterr().out
    assert main(["runs", "export", "b1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["outputs"]["answer"].startswith("echo: echo my key ")
    assert rows[1]["outputs"]["answer"] == "echo: plain" and rows[1]["inputs"] == {"question": "plain"}
    assert main(["runs", "export", "b1", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("line,status,inputs.question")
    assert main(["runs", "show", "nope"]) == 2
    assert "no run named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["batch"], "pass FLOW and --data FILE, or --resume NAME"),
    (["batch", "flow"], "no data given"),
    (["batch", "--resume", "x", "--data", "d.jsonl"], "--resume NAME continues a run"),
    (["run", "missing-flow"], "missing-flow: no such file"),
    (["run", "flow", "--inputs", "novalue"], "write NAME=VALUE"),
])
def test_cli_mistakes_are_explained(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("PW_TEST_KEY", "key-1234567")
    with FakeOpenAI() as server:
        secured_workspace(tmp_path, server)
        monkeypatch.chdir(tmp_path)
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
