"""Defects found by a QA pass over the command line, each pinned by a test: bad input gets a
one-line error with exit status 2 (never a traceback), `--format json` keeps stdout for JSON
only, and Ctrl-C says which run holds the finished rows and how to go on."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.commands.options import RunTracker
from promptwise.devtools.fake_openai import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]


def write_project(root: Path, base_url: str = "http://127.0.0.1:9/v1") -> Path:
    """A workspace in a folder whose name has a space and a non-ASCII letter: one flow with a
    python node (that prints) before a model node, data and an eval.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "promptwise.yaml": f"""
            defaults: {{model: gpt-4o-mini, connection: local}}
            connections:
              local: {{type: openai_compatible, base_url: '{base_url}'}}
            """,
        "echo/flow.dag.yaml": """
            inputs:
              text: {type: string, default: hello}
            outputs:
              answer: {type: string, reference: '${chat.output}'}
            nodes:
            - name: prep
              type: python
              source: {type: code, path: prep.py}
              inputs: {text: '${inputs.text}'}
            - name: chat
              type: llm
              source: {type: code, path: chat.jinja2}
              inputs: {deployment_name: gpt-4o-mini, text: '${prep.output}'}
              connection: local
              api: chat
            """,
        "echo/prep.py": """
            from promptflow.core import tool


            @tool
            def prep(text: str) -> str:
                print("NOISE FROM THE TOOL")
                return text.upper()
            """,
        "echo/chat.jinja2": "system:\nYou echo.\nuser:\n{{text}}\n",
        "echo/eval.yaml": """
            evaluators:
              - name: same
                type: exact_match
                inputs: {prediction: '${run.outputs.answer}', reference: '${data.expected}'}
            """,
        "data.jsonl": "".join(json.dumps({"text": f"row {i}", "expected": "x"}) + "\n" for i in range(6)),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "my flöws")


def promptwise(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_export_to_a_file_that_cannot_be_written_is_a_one_line_error(project, capsys):
    with FakeOpenAI() as server:
        write_project(project, server.base_url)
        assert main(["batch", str(project / "echo"), "--data", str(project / "data.jsonl"), "--name", "r1",
                     "--no-progress"]) == 0
    capsys.readouterr()
    missing = project / "no such folder" / "rows.jsonl"
    assert main(["runs", "--workspace", str(project), "export", "r1", "-o", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "No such file or directory" in err
    assert main(["runs", "--workspace", str(project), "export", "r1", "-o", str(project)]) == 2
    assert "Is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["nan", "inf", "-inf", "NaN%"])
def test_a_gate_limit_that_is_not_finite_is_a_usage_error(project, capsys, limit):
    # `>= nan` fails on every run and `<= inf` passes on every run: neither is a gate.
    code = main(["eval", str(project / "echo"), "--data", str(project / "data.jsonl"),
                 "--fail-under", f"same.pass_rate={limit}"])
    assert code == 2
    assert "the limit must be a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "batch", "eval"])
@pytest.mark.parametrize("name", ["../../escaped", "a/b", "a\\b", ".hidden", ""])
def test_a_run_name_that_would_leave_the_runs_folder_is_refused(project, capsys, command, name):
    argv = [command, str(project / "echo"), "--name", name]
    if command != "run":
        argv += ["--data", str(project / "data.jsonl")]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --name" in err and "Traceback" not in err
    assert not (project / "escaped").exists() and not (project / ".promptwise").exists()


@pytest.mark.parametrize("argv", [
    ["runs", "--workspace", "{missing}", "list"],
    ["runs", "--workspace", "{missing}", "show", "r1"],
    ["models", "--workspace", "{missing}"],
    ["eval", "--run", "r1", "--workspace", "{missing}"],
])
def test_a_workspace_folder_that_does_not_exist_is_an_error_not_an_empty_list(tmp_path, capsys, argv):
    missing = tmp_path / "no such workspace"
    assert main([a.replace("{missing}", str(missing)) for a in argv]) == 2
    err = capsys.readouterr()
    assert f"--workspace {missing}: no such folder" in err.err
    assert err.out == ""


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_runs_list_limit_must_be_at_least_one(project, capsys, limit):
    with pytest.raises(SystemExit) as exit_:
        main(["runs", "--workspace", str(project), "list", "--limit", limit])
    assert exit_.value.code == 2
    assert "argument --limit: must be at least 1" in capsys.readouterr().err


def test_estimate_run_python_keeps_stdout_for_the_json_report(project):
    # The python node prints; with --run-python it runs, and its print must go to stderr.
    result = promptwise("estimate", "echo", "--data", "data.jsonl", "--run-python", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # nothing but the report on stdout
    assert report["ranPythonNodes"] is True and report["rows"] == 6
    assert "NOISE FROM THE TOOL" in result.stderr


def test_estimate_refuses_a_column_mapping_to_an_input_the_flow_lacks(project, capsys):
    # `promptwise batch` refuses it; the preflight must not price a run that cannot start.
    code = main(["estimate", str(project / "echo"), "--data", str(project / "data.jsonl"),
                 "--column-mapping", "txt=${data.text}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--column-mapping txt=${data.text}: the flow has no input `txt`" in err and "`text`" in err


def test_eval_of_a_flow_that_does_not_parse_reports_the_yaml_error(project, capsys):
    (project / "echo" / "flow.dag.yaml").write_text("inputs:\n  text: [\n", encoding="utf-8")
    assert main(["eval", str(project / "echo"), "--data", str(project / "data.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "flow.dag.yaml:3: YAML syntax error" in err
    assert "has no output" not in err  # not one misleading line per evaluator


def test_interrupted_eval_names_the_run_and_it_can_be_resumed_then_evaluated(project):
    with FakeOpenAI(latency=0.3) as server:
        write_project(project, server.base_url)
        process = subprocess.Popen(
            [sys.executable, "-m", "promptwise", "eval", "echo", "--data", "data.jsonl", "--name", "qa-eval",
             "--concurrency", "1"],
            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        outputs = project / ".promptwise" / "runs" / "qa-eval" / "outputs.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (outputs.is_file() and outputs.read_text().strip()):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert "Traceback" not in err
        assert ("the finished rows of run qa-eval are saved. Continue with: promptwise batch --resume qa-eval, "
                "then promptwise eval --run qa-eval") in err
        listed = promptwise("runs", "list", cwd=project)
        assert "qa-eval: canceled with rows left (resume with: promptwise batch --resume qa-eval)" in listed.stdout
        partial = promptwise("eval", "--run", "qa-eval", cwd=project)
        assert partial.returncode == 0, partial.stderr
        assert "promptwise: warning: run qa-eval is canceled with " in partial.stderr
        assert "this evaluation covers those rows only" in partial.stderr
        resumed = promptwise("batch", "--resume", "qa-eval", "--no-progress", cwd=project)
        assert resumed.returncode == 0, resumed.stderr
        evaluated = promptwise("eval", "--run", "qa-eval", "--format", "json", cwd=project)
        assert evaluated.returncode == 0, evaluated.stderr
        assert json.loads(evaluated.stdout)["metrics"]["same"]["count"] == 6


def test_run_tracker_tells_what_to_do_at_each_stage():
    tracker = RunTracker()
    assert "before a run started" in tracker.interrupted_message()
    tracker.on_start("r9")
    assert "promptwise batch --resume r9" in tracker.interrupted_message()

    class Progress:
        done = total = 4

    tracker.on_progress(Progress())
    message = tracker.interrupted_message()
    assert "--resume" not in message and "promptwise eval --run r9" in message


@pytest.mark.parametrize("command", ["batch", "estimate", "eval"])
def test_a_csv_header_with_a_repeated_column_is_refused(project, capsys, command):
    # csv rows as dicts would keep only the last `text` cell: the first column's data is lost.
    data = project / "twice.csv"
    data.write_text("text,text,expected\nfirst,second,x\n", encoding="utf-8")
    assert main([command, str(project / "echo"), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{data}:1: the CSV header names the column `text` more than once" in err
    assert not (project / ".promptwise" / "runs").exists() or not any((project / ".promptwise" / "runs").iterdir())


def test_resume_with_another_flow_is_refused_not_silently_ignored(project, capsys):
    # The endpoint is unreachable: the run stops with its rows pending, so it can be resumed.
    assert main(["batch", str(project / "echo"), "--data", str(project / "data.jsonl"), "--name", "stalled",
                 "--no-progress", "--no-cache"]) == 1
    capsys.readouterr()
    # Nothing completed: an evaluation would be of nothing, and read as a result.
    assert main(["eval", "--run", "stalled", "--workspace", str(project)]) == 2
    assert ("--run stalled: the run has no completed rows (failed, 0 rows done); nothing to evaluate; finish it "
            "with `promptwise batch --resume stalled` first") in capsys.readouterr().err
    shutil.copytree(project / "echo", project / "other")
    capsys.readouterr()
    assert main(["batch", str(project / "other"), "--resume", "stalled", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--resume stalled: that run is of " in err and "echo" in err and "leave FLOW out" in err
    # The workspace folder (no flow file of its own) still finds the run to resume.
    with FakeOpenAI() as server:
        write_project(project, server.base_url)
        assert main(["batch", str(project), "--resume", "stalled", "--no-progress"]) == 0


def test_a_folder_with_two_prompty_files_names_them(tmp_path, capsys):
    for name in ("a.prompty", "b.prompty"):
        shutil.copy(REPO / "flows" / "claim-summary.prompty", tmp_path / name)
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "2 .prompty files in this folder (a.prompty, b.prompty)" in err and "pass the .prompty file" in err


def test_eval_data_that_is_a_folder_says_so(project, capsys):
    assert main(["eval", str(project / "echo"), "--data", str(project)]) == 2
    assert f"{project}: is a folder; pass a data file" in capsys.readouterr().err


STUCK_TOOL = """
import time
from pathlib import Path

from promptflow.core import tool


@tool
def prep(text: str) -> str:
    Path(__file__).with_name("started").touch()
    while True:  # a tool that never returns
        time.sleep(0.2)
"""


def interrupt_when_started(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    process = subprocess.Popen([sys.executable, "-m", "promptwise", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = cwd / "echo" / "started"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not started.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"`promptwise {' '.join(args)}` did not exit after Ctrl-C: {err}")
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.mark.parametrize("args", [
    ["run", "echo"],
    ["batch", "echo", "--data", "data.jsonl", "--no-progress"],
    ["estimate", "echo", "--run-python"],
])
def test_ctrl_c_while_a_python_tool_never_returns_still_exits(project, args):
    (project / "echo" / "prep.py").write_text(STUCK_TOOL, encoding="utf-8")
    result = interrupt_when_started(args, project)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "interrupted" in result.stderr
    assert "still running (a python tool that does not return); exiting without waiting" in result.stderr


def test_a_batch_whose_rows_time_out_in_a_stuck_tool_exits_when_done(project):
    (project / "echo" / "prep.py").write_text(STUCK_TOOL, encoding="utf-8")
    result = promptwise("batch", "echo", "--data", "data.jsonl", "--no-progress", "--row-timeout", "0.5",
                        "--concurrency", "6", cwd=project, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "timed out after 0.5 s" in result.stderr
    assert "0/6 rows completed · 6 failed" in result.stdout


def write_flex(root: Path) -> Path:
    (root / "cls").mkdir(parents=True)
    (root / "cls" / "flow.flex.yaml").write_text(textwrap.dedent("""
        entry: app:Greeter
        init:
          greeting: {type: string}
          punctuation: {type: string, default: "!"}
        inputs:
          name: {type: string, default: world}
        sample:
          init: {greeting: Hello}
        """), encoding="utf-8")
    (root / "cls" / "app.py").write_text(textwrap.dedent("""
        class Greeter:
            def __init__(self, greeting: str, punctuation: str = "!"):
                self.text = greeting + ", {}" + punctuation

            def __call__(self, name: str) -> dict:
                return {"text": self.text.format(name)}
        """), encoding="utf-8")
    (root / "fn").mkdir()
    (root / "fn" / "flow.flex.yaml").write_text("entry: app:greet\ninputs:\n  name: {type: string, default: x}\n",
                                                encoding="utf-8")
    (root / "fn" / "app.py").write_text("def greet(name: str) -> dict:\n    return {'text': name}\n",
                                        encoding="utf-8")
    return root


@pytest.mark.parametrize("flow, init, message", [
    ("cls", ["greting=Hi"], "--init greting: the flow declares no init value `greting` (init: `greeting`, "
                            "`punctuation`)"),
    ("cls", ["punctuation=?"], "init value `greeting` has no value and no default; pass it too with "
                               "--init greeting=..."),
    ("fn", ["greeting=Hi"], "the entry app:greet is a function, which takes no init values"),
])
def test_flex_init_mistakes_name_the_init_value_not_an_input(tmp_path, capsys, flow, init, message):
    write_flex(tmp_path)
    assert main(["run", str(tmp_path / flow), "--init", *init]) == 2
    err = capsys.readouterr().err
    assert message in err and "--inputs greeting" not in err


def test_flex_init_given_in_full_runs(tmp_path, capsys):
    write_flex(tmp_path)
    assert main(["run", str(tmp_path / "cls"), "--init", "greeting=Hi", "punctuation=?", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"text": "Hi, world?"}


def test_estimate_of_a_folder_says_why_it_cannot(tmp_path, capsys):
    write_flex(tmp_path)
    assert main(["estimate", str(tmp_path / "fn")]) == 2
    assert "flex flows call models from Python and cannot be estimated" in capsys.readouterr().err
    for name in ("a.prompty", "b.prompty"):
        (tmp_path / name).write_text((REPO / "flows" / "claim-summary.prompty").read_text(encoding="utf-8"),
                                     encoding="utf-8")
    assert main(["estimate", str(tmp_path)]) == 2
    assert "2 .prompty files here (a.prompty, b.prompty)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["batch", "estimate", "eval"])
def test_a_csv_written_with_semicolons_is_named_as_such(project, capsys, command):
    data = project / "excel export.csv"
    data.write_text("text;expected\nfirst;x\n", encoding="utf-8")
    assert main([command, str(project / "echo"), "--data", str(data)]) == 2
    assert (f"{data}:1: the header is one column `text;expected`: the file looks separated by ';'"
            in capsys.readouterr().err)


def test_data_whose_columns_match_no_input_is_refused_before_running_on_defaults(project, capsys):
    # Every input of `echo` has a default: without this check each row silently ran on the defaults.
    data = project / "other flow's data.jsonl"
    data.write_text('{"question": "a"}\n{"question": "b"}\n', encoding="utf-8")
    assert main(["batch", str(project / "echo"), "--data", str(data), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "none of its columns (`question`) is an input of the flow (`text`), so every row would run on the defaults" \
        in err
    assert main(["runs", "--workspace", str(project), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # refused before a run was stored
    assert main(["estimate", str(project / "echo"), "--data", str(data)]) == 2
    assert "none of its columns (`question`) is an input of the flow (`text`)" in capsys.readouterr().err
    # Mapping the column says what was meant, and runs.
    with FakeOpenAI() as server:
        write_project(project, server.base_url)
        assert main(["batch", str(project / "echo"), "--data", str(data), "--column-mapping", "text=${data.question}",
                     "--no-progress"]) == 0


@pytest.mark.parametrize("command", ["batch", "estimate"])
@pytest.mark.parametrize("value", ["${data.text", "${inputs.text}", "${data text}"])
def test_a_broken_reference_in_column_mapping_is_not_taken_as_a_literal(project, capsys, command, value):
    # As a literal, the typo would have become every row's input text.
    code = main([command, str(project / "echo"), "--data", str(project / "data.jsonl"),
                 "--column-mapping", f"text={value}"])
    assert code == 2
    assert f"--column-mapping text={value}: not a reference Promptwise knows" in capsys.readouterr().err


def test_sarif_locations_are_uri_references_for_paths_with_spaces_and_unicode(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "sub dir" / "ü"
    folder.mkdir(parents=True)
    (folder / "bad flow.prompty").write_bytes(b"\xff\xfe\x00binary")
    monkeypatch.chdir(tmp_path)
    assert main(["check", ".", "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "sub%20dir/%C3%BC/bad%20flow.prompty"


def test_resume_after_the_data_file_was_moved_says_to_put_it_back(project, capsys):
    data = project / "data.jsonl"
    assert main(["batch", str(project / "echo"), "--data", str(data), "--name", "moved", "--no-progress",
                 "--no-cache"]) == 1  # unreachable endpoint: rows stay pending
    data.rename(project / "elsewhere.jsonl")
    capsys.readouterr()
    assert main(["batch", str(project), "--resume", "moved", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--resume moved: the run's data file {data} is gone; put it back" in err


def test_a_huge_runs_list_limit_means_all_not_a_traceback(project, capsys):
    with FakeOpenAI() as server:
        write_project(project, server.base_url)
        assert main(["batch", str(project / "echo"), "--data", str(project / "data.jsonl"), "--name", "r1",
                     "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["runs", "--workspace", str(project), "list", "--limit", "99999999999999999999", "--format",
                 "json"]) == 0
    assert [run["name"] for run in json.loads(capsys.readouterr().out)] == ["r1"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full, a device that is always full")
def test_a_full_disk_is_reported_not_a_traceback_nor_a_silent_success(project):
    with FakeOpenAI() as server:
        write_project(project, server.base_url)
        assert main(["batch", str(project / "echo"), "--data", str(project / "data.jsonl"), "--name", "r1",
                     "--no-progress"]) == 0
    exported = promptwise("runs", "export", "r1", "--format", "csv", "-o", "/dev/full", cwd=project)
    assert exported.returncode == 2
    assert "--output /dev/full: cannot write the export (No space left on device)" in exported.stderr
    for args in (["runs", "export", "r1"], ["runs", "list"], ["models"], ["estimate", "echo"]):
        with open("/dev/full", "w") as full:
            result = subprocess.run([sys.executable, "-m", "promptwise", *args], cwd=project, stdout=full,
                                    stderr=subprocess.PIPE, text=True, timeout=120)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "cannot write the output (No space left on device)" in result.stderr


def test_json_outputs_stay_strict_json_when_a_tool_returns_nan(tmp_path):
    (tmp_path / "flow.dag.yaml").write_text(textwrap.dedent("""
        inputs:
          x: {type: double, default: 1}
        outputs:
          v: {type: double, reference: '${calc.output}'}
        nodes:
        - name: calc
          type: python
          source: {type: code, path: calc.py}
          inputs: {x: '${inputs.x}'}
        """), encoding="utf-8")
    (tmp_path / "calc.py").write_text("from promptflow.core import tool\n\n\n@tool\ndef calc(x: float) -> float:\n"
                                      "    return float('nan')\n", encoding="utf-8")

    def strict(text: str):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))

    ran = promptwise("run", ".", "--name", "nan-run", "--format", "json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert strict(ran.stdout)["outputs"] == {"v": None}
    exported = promptwise("runs", "export", "nan-run", cwd=tmp_path)
    assert strict(exported.stdout.splitlines()[0])["outputs"] == {"v": None}
    assert strict(promptwise("runs", "export", "nan-run", "--format", "json", cwd=tmp_path).stdout)["rows"]


@pytest.mark.parametrize("damaged, argv, hint", [
    ("runs.sqlite", ["runs", "list"], "the runs it held will not be listed"),
    ("runs.sqlite", ["run", "echo"], "the runs it held will not be listed"),
    ("cache.sqlite", ["run", "echo"], "it only holds cached model answers; or pass --no-cache"),
])
def test_a_damaged_database_under_promptwise_is_named_not_a_traceback(project, damaged, argv, hint):
    state = project / ".promptwise"
    state.mkdir()
    (state / damaged).write_text("this is not a SQLite file, someone overwrote it\n", encoding="utf-8")
    result = promptwise(*argv, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # The words in parentheses are SQLite's own: assert only ours.
    assert f"{state / damaged}: not a readable SQLite database (" in result.stderr
    assert hint in result.stderr


def test_estimate_with_an_empty_model_name_is_a_usage_error(project, capsys):
    # An empty --model used to fall back silently to each node's own model.
    assert main(["estimate", str(project / "echo"), "--model", " "]) == 2
    assert "--model is empty" in capsys.readouterr().err
