"""A flow output that is a generator (a python node's or a flex entry's `yield`) is read and joined
by `run`, `batch` and their traces, as `pf flow test` does; `serve` streams it instead
(tests/serving/test_qa_serve_trace_flex.py). Was: the output was "<generator object ...>" and
`run --format json` stopped with a traceback (cannot pickle 'generator' object)."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main

FLOWS = {
    "dag/flow.dag.yaml": """
        inputs:
          q: {type: string}
        outputs:
          out: {type: string, reference: "${pieces.output}"}
        nodes:
        - name: pieces
          type: python
          source: {type: code, path: pieces.py}
          inputs: {q: "${inputs.q}"}
    """,
    "dag/pieces.py": """
        from promptflow.core import tool

        @tool
        def pieces(q: str):
            for index in range(2):
                yield f"{q}{index} "
    """,
    "flex/flow.flex.yaml": "entry: app:answer\n",
    "flex/app.py": """
        from promptflow.tracing import trace

        @trace
        def shout(text: str) -> str:
            return text.upper()

        @trace
        def answer(q: str):
            loud = shout(q)
            for index in range(2):
                yield f"{loud}{index} "
    """,
    "aflex/flow.flex.yaml": "entry: app:answer\n",
    "aflex/app.py": """
        from promptflow.tracing import trace

        @trace
        async def shout(text: str) -> str:
            return text.upper()

        @trace
        async def answer(q: str):
            loud = await shout(q)
            for index in range(2):
                yield f"{loud}{index} "
    """,
}


@pytest.fixture
def root(workspace):
    return workspace(FLOWS)


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code or 0, out, err


@pytest.mark.parametrize("flow, joined", [("dag", "x0 x1 "), ("flex", "X0 X1 "), ("aflex", "X0 X1 ")])
def test_run_joins_a_generator_output(root, capsys, monkeypatch, flow, joined):
    monkeypatch.chdir(root)
    code, out, err = cli(capsys, "run", flow, "--inputs", "q=x", "--format", "json")
    assert code == 0, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert list(result["outputs"].values()) == [joined]
    assert "generator" not in out


def test_batch_stores_the_joined_text_and_the_trace_nests_the_traced_generator(root, capsys, monkeypatch):
    monkeypatch.chdir(root)
    (root / "rows.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n', encoding="utf-8")
    code, out, err = cli(capsys, "batch", "flex", "--data", "rows.jsonl", "--name", "gen-batch")
    assert code == 0, err
    lines = [json.loads(line) for line in (root / ".promptwise" / "runs" / "gen-batch" / "outputs.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    assert sorted(line["output"] for line in lines) == ["A0 A1 ", "B0 B1 "]
    from promptwise import tracing

    tracing.shutdown()  # flush the spans of this process
    code, out, err = cli(capsys, "traces", "show", "--run", "gen-batch", "--row", "0", "--format", "json")
    assert code == 0, err
    [flow_span] = json.loads(out)["spans"]
    assert flow_span["content"]["output"] == {"output": "A0 A1 "}  # was {"output": "<generator>"}
    [answer] = flow_span["children"]
    assert answer["name"] == "answer" and [child["name"] for child in answer["children"]] == ["shout"]


def test_a_traced_async_generator_is_one_span_around_its_items(root, capsys, monkeypatch):
    # Was: `answer` ended at once with output "<async_generator>", `shout` beside it, not inside.
    monkeypatch.chdir(root)
    assert cli(capsys, "run", "aflex", "--inputs", "q=x", "--name", "agen-run")[0] == 0
    from promptwise import tracing

    tracing.shutdown()
    code, out, err = cli(capsys, "traces", "show", "--run", "agen-run", "--format", "json")
    assert code == 0, err
    [answer] = json.loads(out)["spans"][0]["children"]
    assert answer["name"] == "answer" and answer["content"]["output"] == "X0 X1 "
    assert [child["name"] for child in answer["children"]] == ["shout"]

