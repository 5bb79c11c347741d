"""The example flows run end to end: the real CLI and engine, the real openai client, and the
fake OpenAI-compatible server answering with the scripted model in flows/fake-llm-rules.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from flowfiles import FLOWS, REPO
from flowfiles import read_jsonl
from promptwise.devtools.fake_openai import FakeOpenAI

INDICATORS = ("gross_written_premium", "combined_ratio", "solvency_ratio", "net_income", "return_on_equity")


@pytest.fixture
def scripted_model():
    rules = yaml.safe_load((FLOWS / "fake-llm-rules.yaml").read_text(encoding="utf-8"))
    with FakeOpenAI(rules=[(rule["pattern"], rule["reply"]) for rule in rules]) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of flows/, so runs write their .promptwise/ state outside the repository."""
    copy = tmp_path / "flows"
    shutil.copytree(FLOWS, copy, ignore=shutil.ignore_patterns(".promptwise", "__pycache__"))
    return copy


def promptwise(server: FakeOpenAI, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PROMPTWISE_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key"}
    result = subprocess.run(
        [sys.executable, "-m", "promptwise", *args], cwd=REPO, env=environment,
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == expect, result.stdout + result.stderr
    return result


def outputs_by_line(workspace: Path, run: str) -> dict[int, dict]:
    path = workspace / ".promptwise" / "runs" / run / "outputs.jsonl"
    return {row["line_number"]: row for row in read_jsonl(path)}


def test_log_triage_batch_classifies_and_explains_every_log(scripted_model, workspace):
    data = workspace / "log-triage" / "data.jsonl"
    promptwise(scripted_model, "batch", str(workspace / "log-triage"), "--data", str(data),
               "--name", "triage", "--no-progress")
    rows = read_jsonl(data)
    outputs = outputs_by_line(workspace, "triage")
    assert len(outputs) == len(rows)

    confusion = Counter((row["expected_category"], outputs[i]["category"]) for i, row in enumerate(rows))
    correct = sum(count for (expected, got), count in confusion.items() if expected == got)
    # The scripted model guesses from keywords: right on most logs, wrong on a few, like a real one.
    assert 0.85 <= correct / len(rows) < 1.0, confusion
    for line, output in outputs.items():
        assert output["business_summary"].startswith("**What happened**")
        # describe_new_category runs only when a new category is proposed (activate).
        assert (output["new_category_proposal"] is not None) == (output["category"] == "new"), line
        if output["category"] == "new":
            assert output["proposed_category"]

    classify_calls = [r for r in scripted_model.requests if r.body["messages"][-1]["content"].startswith("Source system:")]
    assert len(classify_calls) == len(rows)
    assert all(call.body.get("response_format") == {"type": "json_object"} for call in classify_calls)
    assert all(call.body["model"] == "gpt-4o-mini" and call.body["temperature"] == 0 for call in classify_calls)


def test_report_assistant_batch_extracts_the_published_figures(scripted_model, workspace):
    data = workspace / "report-assistant" / "data.jsonl"
    promptwise(scripted_model, "batch", str(workspace / "report-assistant"), "--data", str(data),
               "--name", "reports", "--no-progress")
    rows = read_jsonl(data)
    outputs = outputs_by_line(workspace, "reports")
    right = sum(outputs[i][name] == row[f"expected_{name}"] for i, row in enumerate(rows) for name in INDICATORS)
    assert 0.8 <= right / (len(rows) * len(INDICATORS)) < 1.0
    for line, output in outputs.items():
        wrong = [name for name in INDICATORS if output[name] != rows[line][f"expected_{name}"]]
        # A figure is either the published one or dropped with a warning: never a wrong number.
        assert all(output[name] is None for name in wrong), (line, wrong)
        assert len(output["data_warnings"]) >= len(wrong)
        assert output["sources"] and output["analyst_view"]


@pytest.mark.parametrize("variant, model, max_tokens", [("concise", "gpt-4o-mini", 250), ("detailed", "gpt-4o", 900)])
def test_report_assistant_variants_call_their_own_model(scripted_model, workspace, variant, model, max_tokens):
    result = promptwise(scripted_model, "run", str(workspace / "report-assistant"),
                        "--variant", f"analyst_view={variant}", "--format", "json")
    outputs = json.loads(result.stdout)["outputs"]
    assert {name: outputs[name] for name in INDICATORS} == {
        "gross_written_premium": 6842.0, "combined_ratio": 94.1, "solvency_ratio": 196.0,
        "net_income": 512.0, "return_on_equity": 12.4,
    }
    view_call = scripted_model.requests[-1].body
    assert (view_call["model"], view_call["max_tokens"]) == (model, max_tokens)


def test_claim_summary_prompty_runs_on_its_sample(scripted_model, workspace):
    result = promptwise(scripted_model, "run", str(workspace / "claim-summary.prompty"), "--format", "json")
    assert json.loads(result.stdout)["status"] == "completed"
    call = scripted_model.requests[-1].body
    assert [m["role"] for m in call["messages"]] == ["system", "user"]
    assert "CLM-2026-0092540" in call["messages"][1]["content"]
    assert "9,800 EUR" in call["messages"][0]["content"]
    assert call["max_tokens"] == 450


def test_log_triage_evaluation_reports_per_class_metrics_and_gates(scripted_model, workspace):
    result = promptwise(scripted_model, "eval", str(workspace / "log-triage"), "--format", "json",
                        "--fail-under", "category_match.pass_rate=0.99", expect=1)
    metrics = json.loads(result.stdout)["metrics"]
    labels = Counter(row["expected_category"] for row in read_jsonl(workspace / "log-triage" / "data.jsonl"))
    classes = metrics["triage_classes"]
    assert {name: values["support"] for name, values in classes["per_class"].items()} == dict(labels)
    matrix = classes["confusion"]["matrix"]
    assert [sum(row) for row in matrix] == [labels[name] for name in classes["confusion"]["labels"]]
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    assert classes["accuracy"] == correct / sum(labels.values()) == metrics["category_match"]["pass_rate"]
    assert 0.85 <= classes["accuracy"] < 1.0  # below the 0.99 gate, hence exit code 1
    assert metrics["summary_pii"]["pass_rate"] == 1.0
    assert metrics["summary_fluency"]["scored"] == sum(labels.values())


def test_report_assistant_evaluation_scores_each_indicator(scripted_model, workspace):
    result = promptwise(scripted_model, "eval", str(workspace / "report-assistant"), "--format", "json",
                        "--fail-under", "net_income.pass_rate=0.8")
    metrics = json.loads(result.stdout)["metrics"]
    for name in INDICATORS:
        assert metrics[name]["type"] == "exact_match" and metrics[name]["count"] == 20
        assert 0.5 <= metrics[name]["pass_rate"] < 1.0
    # The scripted model describes Northbridge whatever the question: relevance catches it.
    assert metrics["view_relevance"]["pass_rate"] < metrics["view_coherence"]["pass_rate"] == 1.0
