"""What a new user hit on the command line (issue 9 part 4), each pinned by a test: cached calls
counted at their original cost, figures with units, warnings before any call, and errors that
say which row, which file and what to do. Model calls go through the real openai client to the
fake server."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def write_project(root: Path, base_url: str) -> Path:
    """A workspace with one flow (one model node), six data rows and an eval.yaml with a judge,
    a cost and a latency evaluator."""
    return write_files(root, {
        "promptwise.yaml": f"""
            defaults: {{model: gpt-4o-mini, connection: local}}
            connections:
              local: {{type: openai_compatible, base_url: '{base_url}'}}
            """,
        "qa/flow.dag.yaml": """
            inputs:
              question: {type: string, default: What is the capital of France?}
            outputs:
              answer: {type: string, reference: '${chat.output}'}
            nodes:
            - name: chat
              type: llm
              source: {type: code, path: chat.jinja2}
              inputs: {deployment_name: gpt-4o-mini, question: '${inputs.question}'}
              connection: local
              api: chat
            """,
        "qa/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
        "qa/eval.yaml": """
            evaluators:
              - name: same
                type: exact_match
                inputs: {prediction: '${run.outputs.answer}', reference: '${data.expected}'}
                threshold: 1
              - name: fluent
                type: fluency
                inputs: {response: '${run.outputs.answer}'}
              - {name: cost, type: cost}
              - {name: latency, type: latency}
            """,
        "data.jsonl": "".join(json.dumps({"question": f"question {i}?", "expected": "Paris"}) + "\n"
                              for i in range(6)),
    })


@pytest.fixture
def served():
    with FakeOpenAI(rules=[("^RESPONSE: ", '{"score": 4, "reason": "fine"}'), (None, "Paris")], latency=0.02) as server:
        yield server


@pytest.fixture
def project(tmp_path, served) -> Path:
    return write_project(tmp_path / "ws", served.base_url)


def evaluate(project: Path, name: str, capsys) -> dict:
    code = main(["eval", str(project / "qa"), "--data", str(project / "data.jsonl"), "--name", name,
                 "--format", "json"])
    assert code == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# ---- compare: cached calls counted at their original cost and latency ----

def test_a_cached_run_compares_at_the_cost_and_latency_of_the_calls_it_replays(project, served, capsys):
    first = evaluate(project, "first", capsys)
    calls = served.stats.requests
    second = evaluate(project, "second", capsys)
    assert served.stats.requests == calls  # every flow and judge call of the second run came from the cache
    assert second["summary"]["cache_hits"] == 6 and second["summary"]["llm_calls"] == 6
    assert second["summary"]["eval_cache_hits"] == 6
    # Priced as the calls it replays: the same cost per row and evaluation cost, not $0.
    assert second["summary"]["cost_per_row"] == first["summary"]["cost_per_row"] > 0
    assert second["summary"]["eval_cost"] == first["summary"]["eval_cost"] > 0
    # The original call's latency is added back: no faster than the answers it replays.
    with_cache = main(["runs", "--workspace", str(project), "show", "second", "--format", "json"])
    assert with_cache == 0
    stored = json.loads(capsys.readouterr().out)
    assert second["summary"]["latency_p50_ms"] > stored["latency_p50_ms"]

    assert main(["compare", "first", "second", "--workspace", str(project), "--format", "json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    figures = {m["metric"]: m for m in comparison["metrics"]}
    assert figures["cost_per_row"]["verdicts"] == ["same", "same"]
    assert figures["cost.mean"]["verdicts"] == ["same", "same"]
    assert figures["eval_cost_per_row"]["verdicts"] == ["same", "same"]
    assert figures["cost_per_row"]["unit"] == "$" and figures["latency_p50_ms"]["unit"] == "ms"
    assert any(note.startswith("`second`: 6 of 6 model calls and 6 judge calls came from the response cache")
               for note in comparison["notes"])

    assert main(["compare", "first", "second", "--workspace", str(project)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^cost_per_row\s+\$0\.\d+\s+\$0\.\d+ \(=\)", text, re.M), text
    assert re.search(r"^latency_p50_ms\s+[\d,.]+ ms\s+[\d,.]+ ms \(", text, re.M), text
    assert "came from the response cache; cost and latency count them as uncached" in text


# ---- figures: units and significant digits, no float noise ----

def test_costs_print_with_significant_digits_and_json_without_float_noise(project, capsys):
    assert main(["batch", str(project / "qa"), "--data", str(project / "data.jsonl"), "--name", "b1",
                 "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert "$0.0000 " not in summary and re.search(r" · \$0\.0000[1-9]\d? · ", summary), summary
    assert main(["runs", "--workspace", str(project), "list"]) == 0
    listed = capsys.readouterr().out
    assert "$0.0000 " not in listed and re.search(r"b1 .* \$0\.0000[1-9]\d?  ", listed), listed
    assert main(["runs", "--workspace", str(project), "show", "b1"]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"cost:\s+\$0\.0000[1-9]", shown) and re.search(r"latency:\s+p50 [\d.,]+ ms", shown)
    assert "6 model calls, 0 from the response cache" in shown
    assert main(["batch", str(project / "qa"), "--data", str(project / "data.jsonl"), "--name", "b2",
                 "--no-progress"]) == 0
    assert " · $0.00 (6 of 6 model calls from the response cache) · " in capsys.readouterr().out
    for argv in (["runs", "--workspace", str(project), "show", "b1", "--format", "json"],
                 ["runs", "--workspace", str(project), "export", "b1", "--format", "json"]):
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert '"created_at": 17' in text  # timestamps are kept whole
        figures = "\n".join(line for line in text.splitlines() if "_at\"" not in line)
        # no figure written with more than 6 significant digits (342.59994400002824, 0.0142000000001)
        assert not re.search(r"\d\.\d{7,}|\d{7,}\.\d", figures.replace("e-", "")), figures
    assert main(["runs", "--workspace", str(project), "export", "b1", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    latency_cells = [row.rsplit(",", 1)[1] for row in rows]
    assert all(len(cell.split(".")[1]) <= 1 for cell in latency_cells if "." in cell), latency_cells


def test_format_helpers():
    from promptwise.commands.options import plural, tidy_figures
    from promptwise.costing.calls import format_ms, format_usd

    assert [format_usd(v) for v in (0.0000421, 0.0072, 0.0777, 2.5, 0)] == [
        "$0.000042", "$0.0072", "$0.078", "$2.50", "$0.00"]
    assert format_usd(-0.00028) == "-$0.00028" and format_usd(0.0038, signed=True) == "+$0.0038"
    assert [format_ms(v) for v in (4.25, 342.599944, 12480.2, None)] == ["4.2 ms", "343 ms", "12,480 ms", "-"]
    assert plural(1, "model call") == "1 model call" and plural(3, "model call") == "3 model calls"
    tidied = tidy_figures({"latency_ms": 342.59994400002824, "cost": 0.014200000000000001,
                           "outputs": {"cost": 0.014200000000000001}, "total_tokens": 12})
    assert tidied == {"latency_ms": 342.6, "cost": 0.0142, "outputs": {"cost": 0.014200000000000001},
                      "total_tokens": 12}


# ---- run refuses undefined template variables (as check reports them) ----

def test_run_refuses_an_undefined_template_variable_with_checks_message(project, served, capsys):
    (project / "qa" / "chat.jinja2").write_text("system:\nAnswer briefly.\nuser:\n{{question}} {{ qestion }}\n",
                                                encoding="utf-8")
    assert main(["check", str(project / "qa")]) == 1
    checked = capsys.readouterr().out.strip()
    assert "PW403" in checked and "qestion" in checked
    requests = served.stats.requests
    for argv in (["run", str(project / "qa")],
                 ["batch", str(project / "qa"), "--data", str(project / "data.jsonl"), "--no-progress"],
                 ["eval", str(project / "qa"), "--data", str(project / "data.jsonl")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "not run: 1 template variable would render as empty text" in err
        # the same line `check` prints for it (path, line, column, code, message)
        assert next(line for line in checked.splitlines() if "chat.jinja2" in line) in err
        assert "--allow-undefined" in err
    assert served.stats.requests == requests  # refused before any call
    assert main(["run", str(project / "qa"), "--allow-undefined"]) == 0
    assert served.stats.requests == requests + 1


def test_only_the_variant_that_runs_is_checked_for_undefined_variables(project, served, capsys):
    write_files(project, {
        "v/flow.dag.yaml": """
            inputs:
              question: {type: string, default: hi}
            outputs:
              answer: {type: string, reference: '${chat.output}'}
            nodes:
            - name: chat
              use_variants: true
            node_variants:
              chat:
                default_variant_id: good
                variants:
                  good:
                    node: {type: llm, source: {type: code, path: good.jinja2}, connection: local, api: chat,
                           inputs: {deployment_name: gpt-4o-mini, question: '${inputs.question}'}}
                  broken:
                    node: {type: llm, source: {type: code, path: broken.jinja2}, connection: local, api: chat,
                           inputs: {deployment_name: gpt-4o-mini, question: '${inputs.question}'}}
            """,
        "v/good.jinja2": "user:\n{{question}}\n",
        "v/broken.jinja2": "user:\n{{question}} {{missing}}\n",
    })
    assert main(["run", str(project / "v")]) == 0
    capsys.readouterr()
    assert main(["run", str(project / "v"), "--variant", "chat=broken"]) == 2
    assert "broken.jinja2:2:" in capsys.readouterr().err


# ---- batch: reasons on screen, warnings before any call, resume keeps the run's settings ----

def test_a_batch_with_a_malformed_row_says_which_row_and_why(project, capsys):
    data = project / "bad.jsonl"
    data.write_text('{"question": "a?", "expected": "Paris"}\n{"question": "b?"\n{"question": "c?"}\n',
                    encoding="utf-8")
    assert main(["batch", str(project / "qa"), "--data", str(data), "--name", "bad", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "promptwise: error: 1 row failed:" in err
    assert "bad.jsonl line 2: invalid JSON" in err
    assert "promptwise runs show bad" in err


def test_a_column_that_feeds_no_input_is_warned_about_before_any_call(project, served, capsys):
    data = project / "query.jsonl"
    write_files(project, {"qa/flow.dag.yaml": (project / "qa" / "flow.dag.yaml").read_text().replace(
        "inputs:\n", "inputs:\n  style: {type: string, default: plain}\n", 1)})
    data.write_text('{"query": "What is the capital of Italy?", "style": "terse", "expected": "Rome"}\n',
                    encoding="utf-8")
    assert main(["batch", str(project / "qa"), "--data", str(data), "--no-progress"]) == 0
    err = capsys.readouterr().err
    warning = ("promptwise: warning: query.jsonl has no column `question`, so the flow input `question` takes its "
               "default on every row; columns that feed no input: `query`, `expected`; did you mean --column-mapping "
               "question=${data.query}?")
    assert warning in err
    assert err.index(warning) < err.index("run: ")  # before the run starts
    main(["eval", str(project / "qa"), "--data", str(data)])
    assert warning in capsys.readouterr().err  # eval runs the same batch, with the same warning


def test_resume_keeps_the_runs_concurrency_and_timeouts(tmp_path, capsys):
    project = write_project(tmp_path / "ws", "http://127.0.0.1:9/v1")  # nothing listens: the run stalls
    assert main(["batch", str(project / "qa"), "--data", str(project / "data.jsonl"), "--name", "slow",
                 "--concurrency", "2", "--row-timeout", "30", "--timeout", "9", "--no-progress", "--no-cache"]) == 1
    capsys.readouterr()
    with FakeOpenAI(latency=0.05) as server:
        write_project(project, server.base_url)
        assert main(["batch", "--resume", "slow", str(project), "--no-progress"]) == 0
        assert 1 <= server.stats.peak_in_flight <= 2
    capsys.readouterr()
    assert main(["runs", "--workspace", str(project), "show", "slow", "--format", "json"]) == 0
    parameters = json.loads(capsys.readouterr().out)["parameters"]
    assert (parameters["concurrency"], parameters["row_timeout"], parameters["timeout"]) == (2, 30.0, 9.0)


# ---- eval: gates checked first, a judge that scored nothing fails, stored evaluations shown again ----

@pytest.mark.parametrize("gate, hint", [
    ("--fail-under=same.pass_rte=0.9", "did you mean `same.pass_rate`?"),
    ("--fail-under=sme.pass_rate=0.9", "did you mean `same.pass_rate`?"),
    ("--fail-over=latency_p59_ms=100", "did you mean `latency_p95_ms`?"),
])
def test_a_gate_naming_no_metric_is_refused_before_anything_runs(project, served, capsys, gate, hint):
    assert main(["eval", str(project / "qa"), "--data", str(project / "data.jsonl"), gate]) == 2
    err = capsys.readouterr().err
    assert hint in err and "nothing was run" in err
    assert served.stats.requests == 0
    assert not (project / ".promptwise" / "runs").exists()


def test_gates_on_known_figures_still_run(project, capsys):
    code = main(["eval", str(project / "qa"), "--data", str(project / "data.jsonl"),
                 "--fail-under", "same.pass_rate=0.5", "--fail-over", "cost.mean=1", "--fail-over", "latency_p95_ms=1e9"])
    assert code == 0, capsys.readouterr().err
    assert "ok: same.pass_rate = 1" in capsys.readouterr().out


def test_eval_fails_when_a_judge_scored_no_row(tmp_path, capsys):
    with FakeOpenAI(rules=[(None, "Paris")]) as server:  # the judge gets "Paris": never a score
        project = write_project(tmp_path / "ws", server.base_url)
        assert main(["eval", str(project / "qa"), "--data", str(project / "data.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "promptwise: error: evaluator `fluent` could not score any of the 6 rows; the first error: " in err


def test_a_stored_evaluation_can_be_shown_again_and_runs_show_names_it(project, served, capsys):
    printed = evaluate(project, "shown", capsys)
    requests = served.stats.requests
    for name in ("shown", printed["evaluation"]):  # the run (its latest evaluation) or the evaluation
        assert main(["eval", "--show", name, "--workspace", str(project), "--format", "json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again["evaluation"] == printed["evaluation"]
        assert again["metrics"]["same"]["pass_rate"] == printed["metrics"]["same"]["pass_rate"] == 1.0
        assert len(again["rows"]) == 6
    assert main(["eval", "--show", "shown", "--workspace", str(project)]) == 0
    assert f"evaluation {printed['evaluation']} of run shown" in capsys.readouterr().out
    assert served.stats.requests == requests  # showing runs nothing
    assert main(["eval", "--show", "shwn", "--workspace", str(project)]) == 2
    assert "did you mean `shown`?" in capsys.readouterr().err

    assert main(["runs", "--workspace", str(project), "show", "shown"]) == 0
    text = capsys.readouterr().out
    assert f"evaluation: {printed['evaluation']} (" in text and "same pass 100%" in text
    assert f"promptwise eval --show {printed['evaluation']}" in text
    assert main(["runs", "--workspace", str(project), "show", "shown", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["evaluations"][0]["name"] == printed["evaluation"]
    assert shown["evaluations"][0]["metrics"]["same"]["pass_rate"] == 1.0


# ---- estimate: the exact input cost apart from the bound; no advice to use options it lacks ----

def test_estimate_prints_the_input_cost_apart_from_the_bound(project, capsys):
    assert main(["estimate", str(project / "qa"), "--data", str(project / "data.jsonl"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    node = report["nodes"][0]
    from promptwise.costing.catalog import load_catalog

    price = load_catalog().lookup("gpt-4o-mini").model
    assert node["cost"]["input"] == pytest.approx(node["inputTokens"] * price.input_per_1m / 1e6)
    assert report["total"]["cost"]["input"] == pytest.approx(node["cost"]["input"])
    assert 0 < report["total"]["cost"]["input"] < report["total"]["cost"]["upperBound"]
    assert main(["estimate", str(project / "qa"), "--data", str(project / "data.jsonl")]) == 0
    text = capsys.readouterr().out
    assert "input cost" in text.splitlines()[1]  # a column of the table
    assert re.search(r"^input cost \$[\d.]+ is exact \(the prompts' tokens counted\); the bound \$[\d.]+ adds", text,
                     re.M), text


def test_estimate_does_not_suggest_inputs_it_does_not_accept(project, capsys):
    flow = (project / "qa" / "flow.dag.yaml")
    flow.write_text(flow.read_text().replace("{type: string, default: What is the capital of France?}",
                                             "{type: string}\n  style: {type: string, default: plain}"),
                    encoding="utf-8")
    data = project / "other.jsonl"
    data.write_text('{"style": "x"}\n', encoding="utf-8")
    assert main(["estimate", str(project / "qa"), "--data", str(data)]) == 1
    captured = capsys.readouterr()
    assert "--inputs" not in captured.out + captured.err
    assert "input `question` has no value and no default; pass it (a `question` column in the data, or " \
           "--column-mapping question=${data.COLUMN})" in captured.out
    assert "1 row would fail in a run" in captured.out


# ---- python tools: a missing package is warned about by check; -v shows a tool's stack ----

TOOL_FLOW = """
    inputs:
      x: {type: string, default: a}
    outputs:
      y: {type: string, reference: '${t.output}'}
    nodes:
    - name: t
      type: python
      source: {type: code, path: tool.py}
      inputs: {x: '${inputs.x}'}
    """


def test_check_warns_about_a_tool_that_imports_a_package_that_is_not_installed(tmp_path, capsys):
    write_files(tmp_path, {
        "flow.dag.yaml": TOOL_FLOW,
        "helper.py": "def lookup(x):\n    return x\n",
        "tool.py": """
            import json, os.path
            import nosuchpackage_xyz
            from helper import lookup
            from promptflow.core import tool
            try:
                import optional_not_installed_abc
            except ImportError:
                optional_not_installed_abc = None


            @tool
            def f(x: str) -> str:
                return lookup(x)
            """,
    })
    assert main(["check", str(tmp_path), "--format", "json"]) == 0  # a warning: the exit status stays 0
    problems = json.loads(capsys.readouterr().out)
    assert [(p["code"], p["severity"], p["range"]["start"]["line"]) for p in problems] == [("PW308", "warning", 1)]
    assert "`nosuchpackage_xyz` is not installed" in problems[0]["message"]


def test_a_tool_error_shows_its_stack_with_verbose(tmp_path):
    import subprocess
    import sys

    write_files(tmp_path, {
        "flow.dag.yaml": TOOL_FLOW,
        "tool.py": """
            from promptflow.core import tool


            def helper(x):
                return {}[x]


            @tool
            def f(x: str) -> str:
                return helper(x)
            """,
    })
    quiet = subprocess.run([sys.executable, "-m", "promptwise", "run", str(tmp_path)], capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 1 and "KeyError: 'a'" in quiet.stderr and "Traceback" not in quiet.stderr
    assert "`promptwise -v run ...` shows the tool's stack" in quiet.stderr
    verbose = subprocess.run([sys.executable, "-m", "promptwise", "-v", "run", str(tmp_path)], capture_output=True,
                             text=True, timeout=120)
    assert verbose.returncode == 1
    stack = verbose.stderr[verbose.stderr.index("Traceback (most recent call last):"):]
    assert f'File "{tmp_path / "tool.py"}", line 10, in f' in stack
    assert f'File "{tmp_path / "tool.py"}", line 5, in helper' in stack
    assert "promptwise/engine" not in stack.split("KeyError")[0]  # from the user's code on


# ---- where things are: paths from where the user stands, where the runs were looked for ----

def test_check_of_a_missing_path_does_not_claim_it_checked_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "promptwise: error: nosuch: no such file or folder" in err
    assert "no problems" not in err and "0 files" not in err


def test_runs_list_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"no runs yet in {Path('.promptwise', 'runs.sqlite')} (")
    assert main(["runs", "show", "r1"]) == 2
    assert f"no {Path('.promptwise', 'runs.sqlite')}" in capsys.readouterr().err


def test_estimate_and_check_write_paths_from_the_current_folder(project, capsys, monkeypatch):
    (project / "qa" / "chat.jinja2").write_text("system:\nx\nuser:\n{{question}} {{ nope }}\n", encoding="utf-8")
    monkeypatch.chdir(project)
    assert main(["estimate", "qa", "--data", "data.jsonl"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Estimate for {Path('qa', 'flow.dag.yaml')} over data.jsonl (6 rows)")
    assert str(project) not in out
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    assert main(["check", "../qa"]) == 1
    lines = capsys.readouterr().out.splitlines()
    # outside the current folder: every file written the same way (absolute), never ../ for one and / for another
    assert lines and all(line.startswith(str(project / "qa")) for line in lines), lines


# ---- a prompty whose `---` lines are incomplete: one problem for one cause ----

@pytest.mark.parametrize("text, missing", [
    ("name: x\nmodel:\n  api: chat\n---\nuser:\nhello {{ name }}\n", "no opening"),
    ("---\nname: x\nmodel:\n  api: chat\nuser:\nhello {{ name }}\n", "no closing"),
    ("name: x\nmodel:\n  api: chat\nuser:\nhello\n", "neither its opening nor its closing"),
])
def test_a_prompty_missing_a_front_matter_line_gets_one_problem(tmp_path, capsys, text, missing):
    (tmp_path / "p.prompty").write_text(text, encoding="utf-8")
    assert main(["check", str(tmp_path / "p.prompty"), "--format", "json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert [(p["code"], p["severity"]) for p in problems] == [("PW105", "error")], problems
    assert f"the front matter has {missing} `---` line" in problems[0]["message"]


def test_a_body_only_prompty_is_still_read_as_prompty_2(tmp_path, capsys):
    (tmp_path / "p.prompty").write_text("user:\nhello\n", encoding="utf-8")
    assert main(["check", str(tmp_path / "p.prompty"), "--format", "json"]) == 0
    assert [p["severity"] for p in json.loads(capsys.readouterr().out)] == ["information"]


def test_run_says_when_its_answer_came_from_the_cache(project, capsys):
    assert main(["run", str(project / "qa")]) == 0
    first = capsys.readouterr().err
    assert "from the response cache" not in first and re.search(r" · \$0\.0000\d+ · [\d.]+ ms", first), first
    assert main(["run", str(project / "qa")]) == 0
    assert " · $0.00 (1 of 1 model call from the response cache) · " in capsys.readouterr().err
