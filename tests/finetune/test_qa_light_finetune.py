"""`finetune submit` against Azure OpenAI as its GA API versions behave (the fake server's `/openai`
routes): the number of epochs goes in `hyperparameters` (Azure knows no `method`, which was sent
before and is refused), and each uploaded file is waited for until Azure has imported it
(pending -> processed) before the job is created; a failed import is a clear error and starts no
job. OpenAI still gets `method`. Real openai client, real local HTTP server."""

from __future__ import annotations

import pytest

from promptwise.cli import main

from test_finetune_data import GOOD, write_jsonl
from test_finetune_jobs import KEY, server  # noqa: F401 (a fixture: the fake server with the key)


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


def test_a_byte_order_mark_is_named_and_the_first_example_still_counted(tmp_path, capsys):
    """A file saved "UTF-8 with BOM" got `not valid JSON (Unexpected UTF-8 BOM ...)` on line 1, and
    the first example went uncounted."""
    import json

    plain, marked = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl"
    write_jsonl(plain, GOOD)
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert main(["finetune", "check", str(plain), "--model", "gpt-4o-mini", "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)["training"]
    assert main(["finetune", "check", str(marked), "--model", "gpt-4o-mini", "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    [problem] = result["problems"]
    assert (problem["line"], problem["code"], problem["severity"]) == (1, "FT100", "error")
    assert "byte order mark" in problem["message"] and "without BOM" in problem["message"]
    assert (result["training"]["examples"], result["training"]["tokens"]) == (expected["examples"],
                                                                            expected["tokens"])


@pytest.mark.parametrize("examples, epochs", [(12, 8), (30, 3), (120, 3), (10_000, 2)])
def test_without_epochs_the_cost_is_for_the_epochs_the_service_picks(tmp_path, capsys, examples, epochs):
    """A job without n_epochs trains 3 epochs only for 26 to 8,333 examples (OpenAI's rule: 100 to
    25,000 examples trained in all); the total was always priced at 3, so 12 examples cost 8/3 more."""
    import json

    data = tmp_path / "train.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"ticket {i}"}, {"role": "assistant", "content": "billing"}]}
            for i in range(examples)]
    write_jsonl(data, rows)
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["epochs"], report["epochs_given"]) == (epochs, False)
    assert report["billed_tokens"] == report["training"]["tokens"] * epochs
    assert report["cost_total"] == pytest.approx(report["cost_per_epoch"] * epochs)
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--epochs", "3"]) == 0
    assert "for 3 epochs" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_status_interval_must_be_a_finite_number_of_seconds(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "status", "--interval", value])
    assert exit_info.value.code == 2 and "must be 0 seconds or more" in capsys.readouterr().err


LEGACY = {"functions": [{"name": "get_weather",
                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
          "messages": [{"role": "user", "content": "Weather in Paris?"},
                       {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                       {"role": "function", "name": "get_weather", "content": "21C"},
                       {"role": "assistant", "content": "It is 21C in Paris."}]}


def _legacy(i: int) -> dict:
    import copy

    example = copy.deepcopy(LEGACY)
    example["messages"][0]["content"] += f" ({i})"
    return example


def test_the_older_function_calling_form_is_accepted_and_its_functions_counted(tmp_path, capsys):
    """OpenAI's fine-tuning takes `functions` / `function_call` / role `function` beside tools; every
    such example was refused (role 'function' unknown, the function_call message "no content")."""
    import json

    data, plain = tmp_path / "legacy.jsonl", tmp_path / "plain.jsonl"
    write_jsonl(data, [_legacy(i) for i in range(12)])
    write_jsonl(plain, [{**_legacy(i), "functions": []} for i in range(12)])
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["training"]["examples"] == 12
    assert main(["finetune", "check", str(plain), "--model", "gpt-4o-mini", "--format", "json"]) == 0
    assert report["training"]["tokens"] > json.loads(capsys.readouterr().out)["training"]["tokens"]


@pytest.mark.parametrize("change, code, words", [
    (lambda e: e["messages"][1]["function_call"].update(arguments={"city": "Paris"}), "FT106", "must be a JSON string"),
    (lambda e: e["messages"][2].pop("name"), "FT107", "a function message needs `name`"),
    (lambda e: e["messages"][0].update(function_call={"name": "x", "arguments": "{}"}), "FT106", "only assistant"),
    (lambda e: e.update(functions=[{"parameters": {}}]), "FT109", "`functions` must be a list"),
])
def test_malformed_older_function_calls_are_reported_at_their_line(tmp_path, capsys, change, code, words):
    import json

    rows = [_legacy(i) for i in range(12)]
    change(rows[4])
    data = tmp_path / "legacy.jsonl"
    write_jsonl(data, rows)
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--format", "json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert (problem["line"], problem["code"]) == (5, code) and words in problem["message"]


def test_one_epoch_reads_as_one_epoch(tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    write_jsonl(data, GOOD)
    assert main(["finetune", "check", str(data), "--model", "gpt-4o-mini", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert " for 1 epoch (" in out and "1 epochs" not in out
