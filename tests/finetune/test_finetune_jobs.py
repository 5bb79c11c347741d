"""`finetune submit|status` through the real openai client against the fake server's
files and fine-tuning routes (OpenAI and Azure OpenAI connections)."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_finetune import uploaded_lines
from promptwise.devtools.fake_openai import FakeOpenAI

from test_finetune_data import GOOD, example, write_jsonl

KEY = "sk-fake-finetune"


@pytest.fixture
def server():
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path, server, monkeypatch):
    monkeypatch.setenv("FT_KEY", KEY)
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local}\nconnections:\n"
        f"  local: {{type: openai, base_url: '{server.base_url}', api_key: '${{env:FT_KEY}}'}}\n"
        f"  azure: {{type: azure_openai, azure_endpoint: '{server.azure_endpoint}', api_key: '${{env:FT_KEY}}', "
        "api_version: '2024-10-21'}\n", encoding="utf-8")
    write_jsonl(tmp_path / "train.jsonl", GOOD)
    write_jsonl(tmp_path / "valid.jsonl", [example(40), example(41)])
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("connection", ["local", "azure"])
def test_submit_uploads_both_files_and_starts_the_job(workspace, server, capsys, connection):
    code = main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini-2024-07-18", "--validation",
                 "valid.jsonl", "--suffix", "triage", "--epochs", "2", "--connection", connection])
    assert code == 0
    [job] = server.fine_tuning.jobs.values()
    assert job["model"] == "gpt-4o-mini-2024-07-18" and job["suffix"] == "triage"
    assert job["hyperparameters"] == {"n_epochs": 2}
    assert uploaded_lines(server.fine_tuning, job["training_file"]) == GOOD
    assert len(uploaded_lines(server.fine_tuning, job["validation_file"])) == 2
    assert f"started fine-tuning job {job['id']}" in capsys.readouterr().out


def test_submit_refuses_data_with_errors_and_uploads_nothing(workspace, server, capsys):
    write_jsonl(workspace / "bad.jsonl", GOOD[:5] + [{"messages": [{"role": "user", "content": "x"}]}] + GOOD[5:])
    assert main(["finetune", "submit", "bad.jsonl", "--model", "gpt-4o-mini"]) != 0
    err = capsys.readouterr().err
    assert "bad.jsonl:6: error FT104" in err and "not submitted" in err
    assert server.fine_tuning.files == {} and server.fine_tuning.jobs == {}


def test_status_follows_the_latest_job_to_its_model(workspace, server, capsys):
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini", "--suffix", "logs"]) == 0
    capsys.readouterr()
    assert main(["finetune", "status", "--follow", "--interval", "0"]) == 0
    out = capsys.readouterr().out
    [job] = server.fine_tuning.jobs.values()
    assert job["status"] == "succeeded"
    assert f"job {job['id']}: succeeded" in out
    assert f"fine-tuned model: {job['fine_tuned_model']}" in out
    assert f"--models gpt-4o-mini,{job['fine_tuned_model']}" in out
    assert out.count("Created fine-tuning job") == 1  # each event once, however many polls


def test_status_of_a_failed_job_exits_1_with_the_reason(workspace, server, capsys):
    server.fine_tuning.fail_next = True
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini"]) == 0
    [job_id] = server.fine_tuning.jobs
    assert main(["finetune", "status", job_id, "--follow", "--interval", "0"]) == 1
    assert "failed: The job failed (fake)." in capsys.readouterr().out


def test_status_of_an_unknown_job_is_a_clear_error(workspace, capsys):
    assert main(["finetune", "status", "ftjob-nope"]) != 0
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "Traceback" not in err


def test_wrong_key_is_reported_not_raised(workspace, monkeypatch, capsys):
    monkeypatch.setenv("FT_KEY", "sk-wrong")
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini"]) != 0
    assert "HTTP 401" in capsys.readouterr().err
