"""Runs from the editor: the Run lens's command, batches with work-done progress and working
cancel, the read-only commands (show a run, estimate); through the real engine and the
real openai client against the fake OpenAI server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI

from lsp_support import TIMEOUT, open_document, wait_for_publish


async def _execute(client: LanguageClient, command: str, argument: dict):
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[argument])),
        TIMEOUT * 3,
    )


async def test_run_flow_returns_outputs_tokens_and_cost(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.runFlow", {"uri": uri, "inputs": {"log_text": "Disk quota exceeded"}})
    assert result["status"] == "completed", result
    assert result["outputs"] == {
        "category": "echo: Disk quota exceeded",
        "summary": "echo: Disk quota exceeded",
    }
    assert result["run"]
    assert result["tokens"]["total"] > 0 and result["cost"] > 0
    assert fake_llm.stats.requests == 2  # classify and summarize, each once
    # work-done progress was created, begun and ended under the returned token
    reports = run_client.progress_reports[result["token"]]
    assert [type(r).__name__ for r in (reports[0], reports[-1])] == ["WorkDoneProgressBegin", "WorkDoneProgressEnd"]
    assert reports[0].cancellable is True

    shown = await _execute(run_client, "promptwise.showRun", {"run": result["run"], "uri": uri})
    assert shown["name"] == result["run"] and shown["status"] == "completed"
    assert "evaluation" not in shown  # never evaluated: the run as `runs show` prints it


async def test_batch_run_reports_progress_and_cancels(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    fake_llm.latency = 0.2  # slow enough to cancel half way
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    batch = asyncio.ensure_future(
        _execute(run_client, "promptwise.batchRun", {"uri": uri, "data": "data.jsonl", "concurrency": 1})
    )
    # wait until some rows are done, as the progress reports say
    token = None
    for _ in range(int(TIMEOUT / 0.1)):
        await asyncio.sleep(0.1)
        for candidate, reports in run_client.progress_reports.items():
            if any(isinstance(r, types.WorkDoneProgressReport) and r.percentage for r in reports):
                token = candidate
        if token is not None:
            break
    assert token is not None, "no progress with a percentage was reported"
    cancelled = await _execute(run_client, "promptwise.cancel", {"token": token})
    assert cancelled == {"cancelled": True}
    result = await batch
    assert result["status"] == "canceled", result
    assert 0 < result["completed"] < 40  # finished rows are kept, the rest were not run
    assert isinstance(run_client.progress_reports[token][-1], types.WorkDoneProgressEnd)


async def test_cancel_from_the_progress_ui(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    fake_llm.latency = 0.2
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    batch = asyncio.ensure_future(
        _execute(run_client, "promptwise.batchRun", {"uri": uri, "data": "data.jsonl", "concurrency": 1, "name": "ui-cancel"})
    )
    token = None
    for _ in range(int(TIMEOUT / 0.1)):
        await asyncio.sleep(0.1)
        token = next(iter(run_client.progress_reports), None)
        if token is not None and len(run_client.progress_reports[token]) >= 2:
            break
    assert token is not None
    run_client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await batch
    assert result["status"] == "canceled" and result["run"] == "ui-cancel"
    assert result["completed"] < 40


async def test_run_errors_are_answered_not_raised(run_client: LanguageClient, run_workspace: Path):
    flow = run_workspace / "flow.dag.yaml"
    flow.write_text(flow.read_text().replace("path: lookup.py", "path: missing.py"))
    result = await _execute(run_client, "promptwise.runFlow", {"uri": flow.as_uri()})
    assert result["status"] == "error"
    assert "missing.py" in result["error"]


async def test_estimate_cost_command(run_client: LanguageClient, run_workspace: Path):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.estimateCost", {"uri": uri, "data": "data.jsonl"})
    assert result.get("status") != "error", result
    assert result["rows"] == 40  # the same JSON as `promptwise estimate --format json`
    assert result["data"] == str(run_workspace / "data.jsonl")
    assert result["total"]["inputTokens"] > 0


async def test_evaluation_shows_in_lenses_and_on_dataset_lines(run_client: LanguageClient, run_workspace: Path):
    rows = [("Disk full", True), ("Timeout calling db01", False), ("Out of memory", True), ("Bad gateway", False)]
    (run_workspace / "labelled.jsonl").write_text(
        "".join(
            f'{{"log_text": "{log}", "language": "en", "expected": "{"echo: " + log if right else "network"}"}}\n'
            for log, right in rows
        )
    )
    (run_workspace / "eval.yaml").write_text(
        "evaluators:\n"
        "  - name: category_match\n"
        "    type: exact_match\n"
        "    inputs: {prediction: ${run.outputs.category}, reference: ${data.expected}}\n"
        "    threshold: 1.0\n"
    )
    flow_uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.evaluate", {"uri": flow_uri, "data": "labelled.jsonl"})
    assert result.get("status") != "error", result
    assert result["run"] and result["metrics"]
    lenses = await run_client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=flow_uri))
    )
    evaluation = [lens for lens in lenses if lens.command.command == "promptwise.showRun"]
    assert evaluation, [lens.command.title for lens in lenses]
    assert "pass 50%" in evaluation[0].command.title
    assert list(evaluation[0].command.arguments) == [
        {"run": result["run"], "evaluation": result["evaluation"], "uri": flow_uri}
    ]
    # the evaluate answer carries the rows for the results panel's drill-down
    assert result["rows_total"] == 4 and result["rows_truncated"] is False
    assert [row["passed"] for row in result["rows"]] == [True, False, True, False]
    assert result["rows"][1]["inputs"]["log_text"] == "Timeout calling db01"
    assert result["rows"][1]["data"] == {"expected": "network"}

    # clicking the lens opens the evaluation: its metrics and per-row results, not the bare run
    shown = await _execute(run_client, "promptwise.showRun", evaluation[0].command.arguments[0])
    assert shown["name"] == result["run"] and shown["evaluation"] == result["evaluation"]
    assert shown["metrics"]["category_match"]["pass_rate"] == 0.5
    assert [e["name"] for e in shown["evaluators"]] == ["category_match"]
    assert len(shown["rows"]) == 4 and shown["rows_shown"] == 4
    failed = shown["rows"][1]
    assert failed["passed"] is False and failed["outputs"] == {
        "category": "echo: Timeout calling db01", "summary": "echo: Timeout calling db01",
    }
    assert failed["scores"]["category_match"]["passed"] is False
    assert "network" in failed["scores"]["category_match"]["reason"]
    # the extension forwards only the run name: the latest evaluation is found all the same
    by_name = await _execute(run_client, "promptwise.showRun", {"run": result["run"]})
    assert by_name["evaluation"] == result["evaluation"] and by_name["metrics"] == shown["metrics"]

    data_uri = open_document(run_client, run_workspace / "labelled.jsonl")
    published = await wait_for_publish(run_client, data_uri, version=1)
    assert sorted(d.range.start.line for d in published.diagnostics) == [1, 3]  # the rows that failed
    assert all(d.severity == types.DiagnosticSeverity.Information for d in published.diagnostics)


async def test_evaluation_answer_larger_than_a_pipe_line_limit(run_client: LanguageClient, run_workspace: Path):
    # The job worker answers with one JSON line holding every row shown in the results panel;
    # 200 rows of long logs make it several hundred KB (asyncio's default line limit is 64 KiB).
    log = "ERROR payment gateway timed out after 30 s while settling claim batch " * 8
    (run_workspace / "long.jsonl").write_text(
        "".join(f'{{"log_text": "{log}{index}", "language": "en", "expected": "x"}}\n' for index in range(200))
    )
    (run_workspace / "eval.yaml").write_text(
        "evaluators:\n"
        "  - name: category_match\n"
        "    type: exact_match\n"
        "    inputs: {prediction: ${run.outputs.category}, reference: ${data.expected}}\n"
    )
    flow_uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.evaluate", {"uri": flow_uri, "data": "long.jsonl"})
    assert result.get("status") != "error", result
    assert result["rows_total"] == 200 and len(result["rows"]) == 200
    assert result["rows"][199]["inputs"]["log_text"].endswith("199")
