"""`finetune submit` against Azure OpenAI as its GA API versions behave (the fake server's `/openai`
routes): the number of epochs goes in `hyperparameters` (Azure knows no `method`, which was sent
before and is refused), and each uploaded file is waited for until Azure has imported it
(pending -> processed) before the job is created; a failed import is a clear error and starts no
job. OpenAI still gets `method`. Real openai client, real local HTTP server."""

from __future__ import annotations

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI

from test_finetune_data import GOOD, write_jsonl

KEY = "sk-fake-finetune-qa"


@pytest.fixture
def server():
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path, server, monkeypatch):
    monkeypatch.setenv("FT_QA_KEY", KEY)
    (tmp_path / "promptwise.yaml").write_text(
        "connections:\n"
        f"  openai: {{type: openai, base_url: '{server.base_url}', api_key: '${{env:FT_QA_KEY}}'}}\n"
        f"  azure: {{type: azure_openai, azure_endpoint: '{server.azure_endpoint}', api_key: '${{env:FT_QA_KEY}}'}}\n",
        encoding="utf-8")
    write_jsonl(tmp_path / "train.jsonl", GOOD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _file_requests(server):
    return [method for method, path in server.fine_tuning.calls if "/files" in path]


def test_azure_gets_hyperparameters_and_imported_files(workspace, server, capsys):
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini-2024-07-18", "--epochs", "4",
                 "--connection", "azure"]) == 0
    [job] = server.fine_tuning.jobs.values()
    assert job["_request"].get("hyperparameters") == {"n_epochs": 4} and "method" not in job["_request"]
    assert job["hyperparameters"] == {"n_epochs": 4}
    assert server.fine_tuning.files[job["training_file"]]["status"] == "processed"
    # uploaded (POST), then asked about until imported (GET), before the job was created
    assert _file_requests(server)[:2] == ["POST", "GET"]
    assert f"started fine-tuning job {job['id']}" in capsys.readouterr().out


def test_openai_gets_the_method_form(workspace, server):
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini-2024-07-18", "--epochs", "4",
                 "--connection", "openai"]) == 0
    [job] = server.fine_tuning.jobs.values()
    assert job["_request"]["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}}
    assert _file_requests(server) == ["POST"]  # processed at once: nothing to wait for


def test_a_failed_import_is_a_clear_error_and_starts_no_job(workspace, server, capsys):
    server.fine_tuning.import_error = "Invalid file format: line 3 is not a chat example"
    assert main(["finetune", "submit", "train.jsonl", "--model", "gpt-4o-mini", "--connection", "azure"]) == 2
    err = capsys.readouterr().err
    assert "train.jsonl" in err and "could not import" in err and "line 3 is not a chat example" in err
    assert "no job was started" in err and "Traceback" not in err
    assert server.fine_tuning.jobs == {}
