"""`batch --resume RUN --retry-failed` redoes failed rows; an evaluation made before that no longer
describes the run. `runs show` and the resumed batch say it is stale and how to evaluate again.
Real openai client against the fake server, through the CLI."""

from __future__ import annotations

import json

from promptwise.cli import main

from engine_flows import ONE_LLM_NODE_FLOW

EVAL = {"flow/eval.yaml": """
    evaluators:
      - name: answered
        type: exact_match
        inputs: {prediction: "${run.outputs.answer}", reference: "${data.expected}"}
"""}


def shown(capsys, run: str) -> tuple[str, dict]:
    assert main(["runs", "show", run]) == 0
    text = capsys.readouterr().out
    assert main(["runs", "show", run, "--format", "json"]) == 0
    return text, json.loads(capsys.readouterr().out)


def test_an_evaluation_made_before_a_resume_is_marked_stale(workspace, capsys, monkeypatch):
    root = workspace({**ONE_LLM_NODE_FLOW, **EVAL})
    monkeypatch.chdir(root)
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}", "expected": f"echo: q{i}"}) + "\n" for i in range(3)))
    workspace.server.inject("server_error", count=None, match="q1$", status=400)  # not retried: the row fails
    assert main(["batch", "flow", "--data", str(data), "--name", "flaky", "--no-cache"]) == 1
    assert main(["eval", "flow", "--run", "flaky"]) in (0, 1)
    text, data_json = shown(capsys, "flaky")
    assert "stale" not in text and [e["stale"] for e in data_json["evaluations"]] == [False]

    workspace.server.clear_faults()
    assert main(["batch", "--resume", "flaky", "--retry-failed", "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert "evaluation flaky.eval1 is stale" in err and "promptwise eval --run flaky" in err
    text, data_json = shown(capsys, "flaky")
    assert "stale: made before the run's rows were last redone" in text
    assert "evaluate again with: promptwise eval --run flaky" in text
    assert [e["stale"] for e in data_json["evaluations"]] == [True]
    assert main(["eval", "--show", "flaky.eval1"]) == 0
    assert "note: this evaluation is stale" in capsys.readouterr().out
    assert main(["eval", "--show", "flaky.eval1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] is True

    assert main(["eval", "flow", "--run", "flaky"]) == 0
    capsys.readouterr()
    _, data_json = shown(capsys, "flaky")
    assert [(e["name"], e["stale"]) for e in data_json["evaluations"]] == [("flaky.eval2", False),
                                                                            ("flaky.eval1", True)]
    # `eval FLOW` runs then evaluates: its evaluation is not older than its run.
    assert main(["eval", "flow", "--data", str(data), "--name", "fresh", "--no-cache"]) == 0
    capsys.readouterr()
    text, data_json = shown(capsys, "fresh")
    assert "stale" not in text and [e["stale"] for e in data_json["evaluations"]] == [False]
    assert main(["eval", "--show", "fresh", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] is False
