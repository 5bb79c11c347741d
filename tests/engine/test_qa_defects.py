"""Defects QA found in running flows (issue 4 follow-up), each through the real openai client
against the fake server: mapping/column checks, user prints on stdout, endpoint down, two
resumes at once, malformed data rows, row numbering, interrupted runs, option checks, the
flow's environment_variables and additional_includes, and bad input without tracebacks."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.batch import run_batch
from promptwise.engine.errors import FlowError
from promptwise.engine.providers import RetryPolicy
from promptwise.engine.runner import run_flow
from promptwise.store import RunStore
from promptwise.store.run_lock import RunLock
from promptwise.store.run_store import owner_parameters

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, timeout=5)

FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
          style: {type: string, default: plain}
        outputs:
          answer: {reference: "${chat.output}"}
          shouted: {reference: "${shout.output}"}
        nodes:
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {text: "${inputs.question}", style: "${inputs.style}"}
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          api: chat
    """,
    "flow/chat.jinja2": "user:\n{{question}}\n",
    # A user's tool that prints, as real tools do while being debugged.
    "flow/shout.py": """
        import os

        from promptflow.core import tool

        @tool
        def shout(text: str, style: str) -> str:
            print("debug: shouting", text)
            if text == "hello":  # what a subprocess or C library writes to file descriptor 1
                os.write(1, b"raw fd write\\n")
            return text.upper()
    """,
}


def data_file(root, count: int, name: str = "data.jsonl", key: str = "question"):
    path = root / name
    path.write_text("".join(json.dumps({key: f"question {i}", "id": i}) + "\n" for i in range(count)))
    return path


def cli(root, *args, timeout=120):
    """`python -m promptwise ...` in the workspace: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=root, capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr


# ----- 1. unknown columns and inputs are errors before any call -----

@pytest.mark.parametrize("mapping, expected", [
    (["question=${data.qestion}"],
     "--column-mapping question=${data.qestion}: data.jsonl has no column `qestion`; did you mean `question`? "
     "(columns: `question`, `id`)"),
    (["questoin=${data.question}"],
     "--column-mapping questoin=${data.question}: the flow has no input `questoin`; did you mean `question`? "
     "(inputs: `question`, `style`)"),
])
async def test_bad_column_mapping_is_an_error_before_any_call(workspace, mapping, expected):
    root = workspace(FLOW)
    with pytest.raises(FlowError) as caught:
        await run_batch(root / "flow", data_file(root, 3), column_mapping=mapping)
    assert str(caught.value) == expected
    assert workspace.server.stats.requests == 0
    with RunStore(root / ".promptwise") as store:
        assert store.list_runs() == []  # nothing was started


async def test_misnamed_data_column_does_not_silently_use_the_default(workspace):
    root = workspace(FLOW)
    (root / "data.jsonl").write_text('{"question": "q", "styel": "loud"}\n')
    with pytest.raises(FlowError, match=r"data.jsonl has no column `style` for the flow input `style`; did you mean "
                                        r"`styel`\? \(columns: `question`, `styel`\); rename the column, or map it "
                                        r"with --column-mapping style=\$\{data.styel\}"):
        await run_batch(root / "flow", root / "data.jsonl")
    assert workspace.server.stats.requests == 0


async def test_required_input_missing_from_every_row_is_an_error_up_front(workspace):
    root = workspace(FLOW)
    with pytest.raises(FlowError, match=r"flow input `question` has no value: data.jsonl has no column `question` "
                                        r"\(columns: `prompt`, `id`\)"):
        await run_batch(root / "flow", data_file(root, 2, key="prompt"))
    assert workspace.server.stats.requests == 0


def test_run_with_an_undeclared_input_name_suggests_the_flow_inputs(workspace, capsys):
    root = workspace(FLOW)
    code = main(["run", str(root / "flow"), "--inputs", "qustion=hi"])
    err = capsys.readouterr().err
    assert code == 2 and workspace.server.stats.requests == 0
    assert "the flow has no input `qustion`; did you mean `question`? (inputs: `question`, `style`)" in err


# ----- 2. a user's print() never reaches our stdout -----

def test_user_prints_go_to_stderr_and_json_stdout_stays_clean(workspace):
    root = workspace(FLOW)
    data_file(root, 12)
    code, out, err = cli(root, "batch", "flow", "--data", "data.jsonl", "--concurrency", "6", "--no-progress",
                         "--format", "json")
    assert code == 0, err
    result = json.loads(out)  # nothing but our JSON
    assert (result["status"], result["completed"]) == ("completed", 12)
    # Threads' prints may interleave on stderr, but every one is there and none on stdout.
    assert "debug: shouting" in err and all(f"question {i}" in err for i in range(12))
    code, out, err = cli(root, "run", "flow", "--inputs", "question=hello", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["outputs"] == {"answer": "echo: hello", "shouted": "HELLO"}
    assert "debug: shouting hello" in err and "raw fd write" in err


async def test_stdout_is_restored_after_a_run(workspace):
    root = workspace(FLOW)
    before = sys.stdout
    await run_flow(root / "flow", {"question": "x"})
    assert sys.stdout is before


# ----- 3. endpoint down -----

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_endpoint_down_fails_fast_with_one_clear_message_and_stays_resumable(tmp_path):
    port = _free_port()  # nothing listens here: connection refused
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local, model: gpt-4o-mini}\n"
        f"connections:\n  local: {{type: openai_compatible, base_url: 'http://127.0.0.1:{port}/v1'}}\n")
    for name, text in FLOW.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    data_file(tmp_path, 8)
    code, out, err = cli(tmp_path, "batch", "flow", "--data", "data.jsonl", "--name", "down", "--no-progress")
    assert code == 1
    assert "run down: failed · 0/8 rows completed" in out
    expected = (f"could not connect to http://127.0.0.1:{port}/v1 (connection 'local' from "
                f"{tmp_path / 'promptwise.yaml'}): connection refused")
    assert expected in err and "timed out" not in err and "--resume down" in err
    with RunStore(tmp_path / ".promptwise") as store:
        run = store.get_run("down")
        assert run.status == "failed" and expected in run.error
        assert store.done_lines("down") == set()  # no row was used up: all 8 remain to do
    with FakeOpenAI(port=port):  # the endpoint comes up
        code, out, err = cli(tmp_path, "batch", "--resume", "down", "--no-progress")
    assert code == 0, err
    assert "run down: completed · 8/8 rows completed · 0 failed" in out


async def test_endpoint_going_down_mid_run_stops_the_run_and_keeps_the_rest_resumable(workspace):
    root = workspace(FLOW)
    server = workspace.server
    port = server.port

    stopped = []

    def stop_after_four(progress):
        if progress.done >= 4 and not stopped:
            stopped.append(True)
            server.stop()  # the endpoint dies: connections are refused from now on

    result = await run_batch(root / "flow", data_file(root, 20), name="outage", concurrency=2, use_cache=False,
                             retry=FAST_RETRY, on_progress=stop_after_four)
    assert result.status == "failed" and result.completed >= 4 and result.failed == 0
    assert result.error.startswith(f"could not connect to http://127.0.0.1:{port}/v1 (connection 'local' from ")
    with FakeOpenAI(port=port) as again:
        resumed = await run_batch(resume="outage", workspace_path=root, use_cache=False)
        assert again.stats.requests == 20 - result.completed  # each remaining row once
    assert (resumed.status, resumed.completed, resumed.failed) == ("completed", 20, 0)


async def test_a_batch_in_which_every_row_failed_is_failed_not_completed(workspace, capsys):
    root = workspace(FLOW)
    workspace.server.inject("server_error", count=None)
    result = await run_batch(root / "flow", data_file(root, 3), name="allbad", use_cache=False, retry=FAST_RETRY)
    assert (result.status, result.completed, result.failed) == ("failed", 0, 3)
    assert result.error.startswith("all 3 rows failed; the first: data.jsonl line 1: ")
    assert "--resume allbad --retry-failed" in result.error


# ----- 4. two resumes at once -----

def _interrupted_run(root, name: str, rows: int) -> None:
    """A batch run left `running` by a process that no longer exists (as after kill -9)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with RunStore(root / ".promptwise") as store:
        store.create_run(name, (root / "flow" / "flow.dag.yaml").resolve(), kind="batch",
                         data=(root / "data.jsonl").resolve(), total_rows=rows,
                         parameters={"concurrency": 4, "cache": False, **owner_parameters(), "pid": gone.pid})


def test_second_resume_is_told_who_is_resuming_and_exits_2(workspace):
    root = workspace(FLOW)
    data_file(root, 4)
    _interrupted_run(root, "busy", 4)
    with RunLock(root / ".promptwise", "busy").acquire("resume"):  # this process is resuming it
        code, out, err = cli(root, "batch", "--resume", "busy", "--no-progress")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"promptwise: error: run busy is being resumed by process {os.getpid()}; wait for it or stop it"
    assert workspace.server.stats.requests == 0
    code, out, err = cli(root, "batch", "--resume", "busy", "--no-progress")  # the lock is free again
    assert code == 0, err


async def test_two_resumes_at_once_do_each_row_once(workspace):
    root = workspace(FLOW)
    data_file(root, 6)
    _interrupted_run(root, "twice", 6)
    workspace.server.latency = 0.05
    first, second = await asyncio.gather(run_batch(resume="twice", workspace_path=root, use_cache=False),
                                         run_batch(resume="twice", workspace_path=root, use_cache=False),
                                         return_exceptions=True)
    outcomes = sorted([first, second], key=lambda o: isinstance(o, Exception))
    assert outcomes[0].completed == 6
    assert isinstance(outcomes[1], FlowError) and "run twice is being resumed by process" in str(outcomes[1])
    assert workspace.server.stats.requests == 6


# ----- 5. a malformed data row fails alone -----

async def test_malformed_jsonl_line_is_one_failed_row_and_the_run_goes_on(workspace):
    root = workspace(FLOW)
    lines = [json.dumps({"question": f"q{i}"}) for i in range(8)]
    lines[6] = '{"question": "oops",}'  # line 7 of the file
    (root / "data.jsonl").write_text("\n".join(lines) + "\n")
    result = await run_batch(root / "flow", root / "data.jsonl")
    assert (result.status, result.rows, result.completed, result.failed) == ("completed", 8, 7, 1)
    with RunStore(root / ".promptwise") as store:
        [bad] = store.get_rows(result.run, status="failed")
    assert bad.line == 6
    assert bad.error.startswith("data.jsonl line 7: invalid JSON: Expecting property name enclosed in double quotes")


async def test_csv_row_with_wrong_cell_count_is_one_failed_row(workspace):
    root = workspace(FLOW)
    (root / "data.csv").write_text('question,style\na,loud\n"b, c",quiet,extra\nd,soft\n')
    result = await run_batch(root / "flow", root / "data.csv")
    assert (result.completed, result.failed) == (2, 1)
    with RunStore(root / ".promptwise") as store:
        [bad] = store.get_rows(result.run, status="failed")
    assert bad.error.startswith("data.csv line 3: 3 cells, more than the 2 header columns")


# ----- 6. row numbers and interrupted runs -----

async def test_row_errors_name_the_file_line_once(workspace):
    root = workspace(FLOW)
    workspace.server.inject("server_error", count=None, match="poison")
    # A blank line: the second row is on line 3 of the file (and is row index 1).
    (root / "data.jsonl").write_text('{"question": "fine"}\n\n{"question": "poison"}\n')
    result = await run_batch(root / "flow", root / "data.jsonl", use_cache=False, retry=FAST_RETRY)
    with RunStore(root / ".promptwise") as store:
        [bad] = store.get_rows(result.run, status="failed")
    assert bad.line == 1  # the stored index is 0-based
    assert bad.error.startswith("data.jsonl line 3: ")
    assert bad.error.count("line 3") == 1 and "line 1:" not in bad.error and "line 0" not in bad.error


def test_runs_list_and_show_report_a_killed_run_as_interrupted(workspace):
    root = workspace(FLOW)
    data_file(root, 3)
    _interrupted_run(root, "killed", 3)
    hint = "interrupted (resume with: promptwise batch --resume killed)"
    code, out, err = cli(root, "runs", "list")
    assert code == 0 and f"killed: {hint}" in out
    code, out, err = cli(root, "runs", "show", "killed")
    assert code == 0 and f"status:     {hint}" in out
    code, out, err = cli(root, "runs", "show", "killed", "--format", "json")
    shown = json.loads(out)
    assert shown["status"] == "interrupted" and shown["hint"] == "resume with: promptwise batch --resume killed"


async def test_a_live_run_stays_running(workspace):
    root = workspace(FLOW)
    seen = []

    def look(_progress):
        with RunStore(root / ".promptwise", readonly=True) as store:
            seen.append(store.get_run("live").status)

    await run_batch(root / "flow", data_file(root, 2), name="live", concurrency=1, on_progress=look)
    assert seen[0] == "running"


# ----- 7. options out of range -----

@pytest.mark.parametrize("args, message", [
    (["batch", "flow", "--data", "d.jsonl", "--concurrency", "0"], "argument --concurrency: must be at least 1, got 0"),
    (["batch", "flow", "--data", "d.jsonl", "--concurrency", "-2"], "argument --concurrency: must be at least 1, got -2"),
    (["batch", "flow", "--data", "d.jsonl", "--timeout", "0"], "argument --timeout: must be more than 0 seconds"),
    (["batch", "flow", "--data", "d.jsonl", "--row-timeout", "-1"], "argument --row-timeout: must be more than 0"),
    (["run", "flow", "--timeout", "0"], "argument --timeout: must be more than 0 seconds, got 0"),
])
def test_out_of_range_options_are_rejected_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# ----- 8. environment_variables and additional_includes -----

ENV_FLOW = {
    "flow/flow.dag.yaml": """
        environment_variables:
          GREETING: "${env:PW_TEST_GREETING}"
          PLAIN: literal value
          RETRIES: 3
          SERVICE_TOKEN: "${env:PW_TEST_SERVICE_TOKEN}"
        additional_includes:
          - ../shared/helpers.py
          - ../common
        inputs:
          name: {type: string, default: Ada}
        outputs:
          report: {reference: "${report.output}"}
          helped: {reference: "${helped.output}"}
        nodes:
        - name: report
          type: python
          source: {type: code, path: report.py}
          inputs: {name: "${inputs.name}"}
        - name: helped
          type: python
          source: {type: code, path: helpers.py}
          inputs: {text: "${inputs.name}"}
    """,
    "flow/report.py": """
        import os
        from promptflow.core import tool
        from common.wording import salute   # a folder listed in additional_includes

        @tool
        def report(name: str) -> dict:
            return {"greeting": salute(os.environ["GREETING"], name), "plain": os.environ["PLAIN"],
                    "retries": os.environ["RETRIES"], "token": os.environ["SERVICE_TOKEN"]}
    """,
    "common/wording.py": "def salute(word, name):\n    return f'{word}, {name}!'\n",
    "shared/helpers.py": """
        from promptflow.core import tool

        @tool
        def helped(text: str) -> str:
            return f"helped {text}"
    """,
}
TOKEN = "tok-SECRET-4d8e9f0a1b2c"


async def test_environment_variables_and_additional_includes(workspace, monkeypatch):
    root = workspace(ENV_FLOW)
    monkeypatch.setenv("PW_TEST_GREETING", "Hello")
    monkeypatch.setenv("PW_TEST_SERVICE_TOKEN", TOKEN)
    monkeypatch.delenv("PLAIN", raising=False)
    result = await run_flow(root / "flow", {})
    assert result.status == "completed", result.error
    assert result.outputs["helped"] == "helped Ada"  # a node whose source lives in an include
    report = result.outputs["report"]
    assert (report["greeting"], report["plain"], report["retries"]) == ("Hello, Ada!", "literal value", "3")
    assert "PLAIN" not in os.environ  # set for the run only
    # The secret reached the tool, but not the store.
    for path in (root / ".promptwise").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    with RunStore(root / ".promptwise") as store:
        assert store.get_rows(result.run)[0].outputs["report"]["token"] == "***"


@pytest.mark.parametrize("change, message", [
    (("${env:PW_TEST_GREETING}", "${env:PW_UNSET_VARIABLE}"),
     "environment_variables.GREETING refers to ${env:PW_UNSET_VARIABLE}, but the environment variable "
     "PW_UNSET_VARIABLE is not set"),
    (("../common", "../nowhere"), "flow.dag.yaml:8: additional include '../nowhere' does not exist"),
])
async def test_environment_and_include_mistakes_are_explained(workspace, monkeypatch, change, message):
    monkeypatch.setenv("PW_TEST_GREETING", "Hello")
    monkeypatch.setenv("PW_TEST_SERVICE_TOKEN", TOKEN)
    monkeypatch.delenv("PW_UNSET_VARIABLE", raising=False)
    files = dict(ENV_FLOW)
    files["flow/flow.dag.yaml"] = files["flow/flow.dag.yaml"].replace(*change)
    root = workspace(files)
    with pytest.raises(FlowError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        await run_flow(root / "flow", {})


# ----- bad input: a clear line, never a traceback -----

@pytest.mark.parametrize("setup, args, message", [
    (None, ["batch", "flow", "--data", "missing.jsonl"], "missing.jsonl: data file not found"),
    ("empty", ["batch", "flow", "--data", "empty.jsonl"], "empty.jsonl: 0 rows to run"),
    ("folder", ["batch", "flow", "--data", "folder"], "folder: is a folder; pass a data file"),
    (None, ["batch", "nowhere", "--data", "data.jsonl"], "nowhere: no such file"),
    (None, ["run", "nowhere"], "nowhere: no such file"),
    ("yaml", ["run", "broken"], "broken/flow.dag.yaml:3: YAML syntax error"),
    ("yaml", ["batch", "broken", "--data", "data.jsonl"], "broken/flow.dag.yaml:3: YAML syntax error"),
    (None, ["batch", "--resume", "nosuch"], "--resume nosuch: no such run"),
])
def test_bad_input_is_one_line_without_traceback(workspace, setup, args, message):
    root = workspace(FLOW)
    data_file(root, 2)
    (root / "empty.jsonl").write_text("")
    (root / "folder").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "flow.dag.yaml").write_text("inputs:\n  q: {type: string\nnodes: []\n")
    if args[:2] == ["batch", "--resume"]:
        asyncio.run(run_batch(root / "flow", root / "data.jsonl", name="exists"))
    code, out, err = cli(root, *args, "--no-progress" if args[0] == "batch" else "--format=text")
    assert code == 2
    assert "Traceback" not in err and out == ""
    assert err.startswith("promptwise: error: ") and err.count("\n") == 1 and message in err
    assert workspace.server.stats.requests == (2 if args[:2] == ["batch", "--resume"] else 0)



def test_missing_data_file_is_reported_before_a_missing_key(workspace, monkeypatch):
    # Two mistakes at once: a mistyped --data and an unset key. The data file is named first,
    # since fixing the key would only lead to the next error.
    files = dict(FLOW)
    files["promptwise.yaml"] = (
        "defaults: {connection: keyed}\n"
        "connections:\n  keyed: {type: openai_compatible, base_url: 'http://127.0.0.1:9/v1', "
        "api_key: '${env:PW_TEST_UNSET_KEY}'}\n"
    )
    monkeypatch.delenv("PW_TEST_UNSET_KEY", raising=False)
    root = workspace(files)
    code, out, err = cli(root, "batch", "flow", "--data", "missing.jsonl", "--no-progress")
    assert code == 2 and out == ""
    assert "missing.jsonl: data file not found" in err and "PW_TEST_UNSET_KEY" not in err


@pytest.mark.parametrize("name", ["../outside", "a/b", ".hidden", "tab\there"])
async def test_engine_refuses_a_run_name_that_is_not_a_folder_name(workspace, name):
    # The CLI's --name and the language server check this too; the engine is the last line
    # for every other caller, since the name becomes .promptwise/runs/NAME/.
    root = workspace(FLOW)
    data_file(root, 2)
    with pytest.raises(FlowError, match="a run's name is also a folder"):
        await run_batch(root / "flow", root / "data.jsonl", name=name)
    with pytest.raises(FlowError, match="a run's name is also a folder"):
        await run_flow(root / "flow", {"question": "hi"}, name=name)
    assert not (root / "outside").exists() and workspace.server.stats.requests == 0
