"""The light core: what a command imports, and what a feature says when its extra is missing.

Each case runs in a fresh interpreter, so `sys.modules` shows what that command really loaded.
A missing extra is simulated the way pip would leave it: a finder in front of `sys.meta_path`
that refuses to import the extra's modules (our own code runs unchanged).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptwise.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = """
import sys

class _NotInstalled:
    '''Refuses the modules of an extra that is "not installed".'''
    blocked = {blocked!r}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked or name in self.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def run_python(code: str, *, blocked: tuple[str, ...] = (), cwd: Path | None = None,
               env: dict | None = None) -> subprocess.CompletedProcess:
    program = BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                          cwd=cwd or ROOT, env={**os.environ, **(env or {})})


def loaded_after(command: list[str], modules: tuple[str, ...]) -> tuple[int, list[str], str]:
    """Run `promptwise COMMAND` in-process in a fresh interpreter; (exit code, heavy modules loaded, stdout)."""
    result = run_python(f"""
        import json, sys
        from promptwise.cli import main
        try:
            code = main({command!r})
        except SystemExit as done:  # --help: argparse exits once it has printed
            code = done.code
        print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)), file=sys.stderr)
        sys.exit(code)
    """)
    return result.returncode, json.loads(result.stderr.strip().splitlines()[-1]), result.stdout


HEAVY = ("openai", "pygls", "jinja2", "yaml", "tiktoken", "pydantic", "httpx", "opentelemetry")


def test_version_imports_none_of_the_heavy_libraries():
    code, loaded, out = loaded_after(["--version"], HEAVY)
    assert (code, out.strip()) == (0, "promptwise 0.1.0")
    assert loaded == []


def test_help_lists_every_command_without_loading_the_model_stack():
    from promptwise.cli import COMMAND_MODULES

    code, loaded, out = loaded_after(["--help"], HEAVY)
    assert code == 0
    assert all(name in out for name in COMMAND_MODULES)
    assert loaded == []


def test_help_imports_no_command_module():
    result = run_python("""
        import sys
        from promptwise.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        print(sorted(m for m in sys.modules if m.startswith("promptwise")), file=sys.stderr)
    """)
    assert result.stderr.strip().splitlines()[-1] == "['promptwise', 'promptwise.cli']"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_help_listing_says_what_the_command_itself_registers(command):
    """`--help` lists the commands from cli.COMMANDS without importing them: each line must be
    the help its module registers, or the listing would drift from the commands."""
    import argparse

    from promptwise.cli import build_parser

    parser = build_parser(command)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert [(choice.dest, choice.help) for choice in subparsers._choices_actions] == [(command, COMMANDS[command])]


def test_check_of_a_flow_with_its_eval_yaml_does_not_import_the_model_client_or_the_tracer(tmp_path):
    # nor the tokenizer (check counts nothing), the run store (none in this copy: with stored
    # runs the estimate reads their output tokens, hence sqlite3 too) or the evaluation runner
    import shutil

    shutil.copytree(ROOT / "flows" / "log-triage", tmp_path / "log-triage")
    shutil.copy(ROOT / "flows" / "promptwise.yaml", tmp_path / "promptwise.yaml")
    code, loaded, out = loaded_after(["check", str(tmp_path / "log-triage")],
                                     ("openai", "pygls", "httpx", "httpx2", "asyncio", "opentelemetry", "pydantic",
                                      "tiktoken", "jsonschema", "promptwise.store.run_store",
                                      "promptwise.evaluation.runner", "promptwise.evaluation.service",
                                      "promptwise.evaluation.results_store",
                                      # what only scoring needs: a judge's answer parser, statistics
                                      "promptwise.evaluation.judge_answer", "statistics", "sqlite3",
                                      "uuid", "platform",
                                      # a workspace with a promptwise.yaml: no TOML is parsed
                                      "tomllib", "promptwise.documents.toml_nodes"))
    assert code in (0, 1), out  # 1 if the example has findings; never a crash (2) or a traceback
    assert loaded == []


# ----- the language server's start -----

# Not needed to answer `initialize`: the features, and what they import, come after it.
NOT_BEFORE_INITIALIZE = ("yaml", "jinja2", "tiktoken", "openai", "pydantic", "httpx", "httpx2", "opentelemetry",
                         "promptwise.documents.load", "promptwise.analysis.analyzer", "promptwise.costing",
                         "promptwise.engine", "promptwise.evaluation", "promptwise.store", "promptwise.tracing",
                         "promptwise.lsp.hover", "promptwise.lsp.completion", "promptwise.lsp.commands",
                         "promptwise.lsp.code_lens", "promptwise.lsp.jobs", "sqlite3", "statistics")


def _lsp_message(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_the_language_server_answers_initialize_before_importing_its_features(tmp_path):
    """`promptwise lsp` under -X importtime, sent `initialize` then `exit` (no `initialized`, which
    starts the warm-up imports): what it imported is what answering `initialize` cost."""
    messages = _lsp_message({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
    server = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "promptwise", "lsp"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        server.stdin.write(messages)
        server.stdin.flush()
        headers = b""
        while not headers.endswith(b"\r\n\r\n"):
            headers += server.stdout.read(1)
        length = int(headers.split(b"Content-Length:")[1].split(b"\r\n")[0])
        answer = json.loads(server.stdout.read(length))
        server.stdin.write(_lsp_message({"jsonrpc": "2.0", "method": "exit"}))
        server.stdin.close()
        stderr = server.stderr.read().decode()
        server.wait(timeout=60)
    finally:
        server.kill()
    assert answer["id"] == 1 and answer["result"]["capabilities"]["hoverProvider"] is True
    assert answer["result"]["capabilities"]["executeCommandProvider"]["commands"]  # registered, not imported
    imported = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    assert "pygls" in imported and "promptwise.lsp.setup" in imported
    early = sorted(name for name in imported if name.startswith(NOT_BEFORE_INITIALIZE))
    assert early == []


def test_the_server_builds_the_protocol_converter_once():
    """lsprotocol's converter (hooks for hundreds of types) costs tens of ms to build: pygls builds
    it for the server, and nothing of ours builds another, up to the features' warm-up."""
    result = run_python("""
        import lsprotocol.converters as converters
        built = []
        original = converters.get_converter
        def counting():
            built.append(1)
            return original()
        converters.get_converter = counting
        from promptwise.lsp.setup import create_server, warm_up
        create_server()
        warm_up()
        print("converters built:", len(built))
    """)
    assert result.returncode == 0, result.stderr
    assert "converters built: 1" in result.stdout


def test_every_feature_registered_by_name_exists():
    """Features and commands are registered as names (lsp/setup.py `_later`) and imported on first
    use: each name must be an async handler of its module, and each command name the module's own."""
    import asyncio
    import importlib

    from promptwise.lsp import completion, setup

    server = setup.create_server()
    handlers = list(server.protocol.fm.features.values()) + list(server.protocol.fm.commands.values())
    targets = set()
    for handler in handlers:
        while handler is not None and not hasattr(handler, "target"):
            handler = getattr(handler, "__wrapped__", None) or getattr(handler, "func", None)
        if handler is not None:
            targets.add(handler.target)
    targets |= set(setup.COMMANDS.values())
    assert len(targets) == 12 + len(setup.COMMANDS)  # twelve features (hover, completion, lenses...) and the commands
    for module, name in targets:
        assert asyncio.iscoroutinefunction(getattr(importlib.import_module(f"promptwise.lsp.{module}"), name)), name
    assert {module for module, _ in targets} <= set(setup.FEATURE_MODULES)
    constants = {}
    for module in {module for module, _ in setup.COMMANDS.values()}:
        loaded = importlib.import_module(f"promptwise.lsp.{module}")
        constants |= {value: (module, value) for key, value in vars(loaded).items()
                      if key.isupper() and isinstance(value, str) and value.startswith("promptwise.")}
    assert set(setup.COMMANDS) <= set(constants)
    assert setup.COMPLETION_TRIGGER_CHARACTERS == completion.TRIGGER_CHARACTERS


# ----- features whose extra is not installed -----


def test_bleu_without_the_metrics_extra_names_the_pip_install(tmp_path):
    (tmp_path / "eval.yaml").write_text(
        "evaluators:\n"
        "  - {name: overlap, type: bleu, inputs: {prediction: '${run.outputs.answer}', reference: '${data.answer}'}}\n"
        "  - {name: longest, type: rouge_l, inputs: {prediction: '${run.outputs.answer}', reference: '${data.answer}'}}\n",
        encoding="utf-8")
    result = run_python(f"""
        from pathlib import Path
        from promptwise.evaluation.config import load_eval_config
        from promptwise.evaluation.registry import BuildContext
        from promptwise.evaluation.runner import build_evaluators
        path = Path({str(tmp_path / "eval.yaml")!r})
        try:
            build_evaluators(load_eval_config(path), BuildContext(base_dir=path.parent))
        except Exception as error:
            print(type(error).__name__, error)
    """, blocked=("sacrebleu", "rouge_score"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "promptwise[metrics]" in line]
    assert any("eval.yaml:2" in line and "`overlap` (bleu)" in line and "sacrebleu" in line for line in lines), result.stdout
    assert any("eval.yaml:3" in line and "`longest` (rouge_l)" in line and "rouge-score" in line for line in lines), \
        result.stdout


def test_json_schema_without_the_schema_extra_names_the_pip_install(tmp_path):
    """jsonschema is the `schema` extra: `check` of an eval.yaml using json_schema says so at its line."""
    (tmp_path / "eval.yaml").write_text(
        "evaluators:\n"
        "  - {name: exact, type: exact_match, inputs: {prediction: '${run.outputs.answer}', reference: '${data.answer}'}}\n"
        "  - {name: shape, type: json_schema, schema: {type: object}, inputs: {prediction: '${run.outputs.answer}'}}\n",
        encoding="utf-8")
    result = run_python(f"""
        import sys
        from promptwise.cli import main
        code = main(["check", {str(tmp_path / "eval.yaml")!r}])
        print("jsonschema loaded:", "jsonschema" in sys.modules, file=sys.stderr)
        sys.exit(code)
    """, blocked=("jsonschema",))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "jsonschema loaded: False" in result.stderr
    [line] = [line for line in result.stdout.splitlines() if "PW805" in line]
    assert "eval.yaml:3" in line and "`shape` (json_schema)" in line and "pip install 'promptwise[schema]'" in line


def test_bleu_with_the_metrics_extra_scores():
    from promptwise.evaluation.computed import Bleu

    assert Bleu("b").score({"prediction": "the cat sat", "reference": "the cat sat"}).value == pytest.approx(100.0)


def test_the_fake_model_without_aiohttp_says_install_the_demo_extra():
    result = run_python("""
        import sys
        from promptwise.devtools.fake_openai import main
        sys.exit(main(["--port", "0"]))
    """, blocked=("aiohttp",))
    assert result.returncode == 2
    assert "pip install 'promptwise[demo]'" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # no base URL printed: nothing listens


# ----- tracing on the OpenTelemetry API alone (the SDK and the OTLP exporter are the `otlp` extra) -----

NO_OTEL_SDK = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.semconv")
HINT_OTLP = "pip install 'promptwise[otlp]'"

TRACED_TOOL = """\
from promptflow.core import tool
from promptflow.tracing import trace


@trace
def shout(text: str) -> str:
    if "boom" in text:
        raise ValueError("shout refused " + text)
    return text.upper()


@tool
def finish(answer: str) -> str:
    return shout(answer)
"""


def _traced_flow(root: Path, base_url: str) -> None:
    """A flow whose python node calls a `@trace` function: flow, node, model call and user spans."""
    (root / "flow").mkdir()
    (root / "flow" / "flow.dag.yaml").write_text(textwrap.dedent("""\
        inputs:
          question: {type: string, default: capital of France?}
        outputs:
          answer: {type: string, reference: "${finish.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          connection: local
          api: chat
        - name: finish
          type: python
          source: {type: code, path: finish.py}
          inputs: {answer: "${chat.output}"}
        """), encoding="utf-8")
    (root / "flow" / "chat.jinja2").write_text("user:\n{{question}}\n", encoding="utf-8")
    (root / "flow" / "finish.py").write_text(TRACED_TOOL, encoding="utf-8")
    (root / "promptwise.yaml").write_text(
        f"connections:\n  local: {{type: openai_compatible, base_url: '{base_url}'}}\n", encoding="utf-8")


def _spans_by_name(tree: list[dict]) -> dict[str, dict]:
    found = {}
    for span in tree:
        found[span["name"]] = span
        found |= _spans_by_name(span.get("children") or [])
    return found


def test_runs_are_traced_into_the_store_without_the_otel_sdk_and_a_set_endpoint_is_named_once(tmp_path):
    """The core install has opentelemetry-api only: `run` records flow, node, model-call and
    `@trace` spans (nested through the OTel context, ids of the right width) in the local store,
    `traces list/show` read them, a failing `@trace` function leaves its error status;
    OTEL_EXPORTER_OTLP_ENDPOINT without the extra is one warning naming it."""
    from promptwise.devtools.fake_openai import FakeOpenAI

    with FakeOpenAI(rules=[(r"capital of France", "Paris"), (r"boom", "boom")]) as server:
        _traced_flow(tmp_path, server.base_url)
        result = run_python("""
            import json, sys
            from promptwise.cli import main
            codes = [main(["run", "flow", "--no-cache", "--format", "json"]),
                     main(["run", "flow", "--no-cache", "--format", "json", "--inputs", "question=boom"])]
            main(["traces", "list", "--format", "json"])
            print("codes:", codes, file=sys.stderr)
            print("sdk loaded:", sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk",
                  "opentelemetry.semconv"))), file=sys.stderr)
        """, blocked=NO_OTEL_SDK, cwd=tmp_path,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "false"})
    assert "Traceback" not in result.stderr, result.stderr
    assert "codes: [0, 1]" in result.stderr and "sdk loaded: []" in result.stderr
    hints = [line for line in result.stderr.splitlines() if HINT_OTLP in line]
    assert len(hints) == 1 and "OTEL_EXPORTER_OTLP_ENDPOINT" in hints[0] and "local store" in hints[0]
    decoder, text, documents = json.JSONDecoder(), result.stdout, []
    position = 0
    while text[position:].strip():
        document, position = decoder.raw_decode(text, len(text) - len(text[position:].lstrip()))
        documents.append(document)
    ok_run, failed_run, listed = documents
    assert ok_run["outputs"]["answer"] == "PARIS" and failed_run["status"] == "failed"
    assert {entry["run_id"] for entry in listed} == {ok_run["run"], failed_run["run"]}

    shown = {}
    for entry in listed:
        result = run_python(f"""
            from promptwise.cli import main
            main(["traces", "show", {entry["trace_id"]!r}, "--format", "json"])
        """, blocked=NO_OTEL_SDK, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        shown[entry["run_id"]] = json.loads(result.stdout)
    ok = _spans_by_name(shown[ok_run["run"]]["spans"])
    assert {"invoke_workflow flow", "node chat", "chat gpt-4o-mini", "node finish", "shout"} <= set(ok)
    flow, chat, call, finish, shout = (ok[name] for name in ("invoke_workflow flow", "node chat", "chat gpt-4o-mini",
                                                             "node finish", "shout"))
    assert flow["parent_id"] is None and chat["parent_id"] == finish["parent_id"] == flow["span_id"]
    assert call["parent_id"] == chat["span_id"] and shout["parent_id"] == finish["span_id"]
    assert call["input_tokens"] > 0 and call["model"] == "gpt-4o-mini"
    assert len(shown[ok_run["run"]]["trace_id"]) == 32 and int(shown[ok_run["run"]]["trace_id"], 16)
    assert all(len(span["span_id"]) == 16 and int(span["span_id"], 16) for span in ok.values())
    assert shown[ok_run["run"]]["service"] == "promptwise"
    failed_shout = _spans_by_name(shown[failed_run["run"]]["spans"])["shout"]
    assert failed_shout["status"] == "error" and "shout refused" in failed_shout["error_message"]


class _Collect:
    def __init__(self) -> None:
        self.ended = []

    def on_end(self, span) -> None:
        self.ended.append(span)


def test_the_provider_without_the_sdk_keeps_the_sdks_limits_ids_and_switching(monkeypatch):
    """tracing/local.py's LocalProvider, the process's provider without the SDK: the standard
    limit variables, spans that nest through the OTel context, the `exception` event, and spans
    that record nothing while tracing is off."""
    from opentelemetry import trace

    from promptwise.tracing.local import LocalProvider

    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")  # span attributes; event values whole
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "unset")  # the SDK's word for no limit
    provider = LocalProvider("svc")
    assert provider.limits.max_events is None and provider.limits.max_event_attributes == 128
    tracer = provider.get_tracer("test")
    off = tracer.start_span("before")  # tracing off: nothing recorded, ids still given
    assert not off.is_recording() and off.get_span_context().is_valid

    collected = _Collect()
    assert provider.replace((collected,)) == () and provider.active
    with tracer.start_as_current_span("outer") as outer:
        outer.set_attribute("text", "abcdefgh")  # cut at the value length limit
        outer.set_checked_attributes({"checked": "ijklmnop"})  # the engine's door too
        outer.set_attribute("none", None)  # not a value OTel takes: dropped
        with tracer.start_as_current_span("inner") as inner:
            inner.set_attributes({"a": 1, "b": 2, "c": 3, "d": 4})  # over the count limit: the oldest go
            inner.record_exception(KeyError("k"))
        unrecorded_parent = trace.get_current_span()
    old = provider.replace(())
    late = tracer.start_span("late", context=trace.set_span_in_context(unrecorded_parent))
    assert old == (collected,) and not provider.active and not late.is_recording()
    assert late.get_span_context().trace_id == outer.context.trace_id  # the parent's trace, as the SDK's drop
    inner, outer = collected.ended
    assert dict(outer.attributes) == {"text": "abcd", "checked": "ijkl"}
    assert dict(inner.attributes) == {"b": 2, "c": 3, "d": 4} and inner.dropped_attributes == 1
    assert inner.parent == outer.context and outer.parent is None and inner.context.trace_id == outer.context.trace_id
    assert outer.resource.attributes["service.name"] == "svc"
    [event] = inner.events
    assert event.name == "exception" and event.attributes["exception.type"] == "KeyError"
    assert event.attributes["exception.escaped"] == "False"


def test_served_requests_are_traced_without_the_otel_sdk(tmp_path):
    """`promptwise serve` installed with `[serve]` and not `[otlp]`: each worker process records the
    request span with the flow's spans under it. The SDK is refused in every process of the server
    (a sitecustomize on PYTHONPATH, which each process loads and marks by its pid)."""
    import signal
    import socket
    import time

    import httpx

    from promptwise.devtools.fake_openai import FakeOpenAI

    site = tmp_path / "site"
    site.mkdir()
    marks = tmp_path / "processes.txt"
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(NO_OTEL_SDK)) + (
        f"import os\nwith open({str(marks)!r}, 'a') as _marks:\n    _marks.write(str(os.getpid()) + '\\n')\n"),
        encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FakeOpenAI(rules=[(r"capital of France", "Paris")]) as model:
        _traced_flow(tmp_path, model.base_url)
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
                   "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
        with open(tmp_path / "serve.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "promptwise", "serve", "flow", "--port", str(port),
                                       "--workers", "2"], cwd=tmp_path, env=environ, stdout=subprocess.DEVNULL, stderr=log)
            try:
                deadline = time.monotonic() + 60
                while True:
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                    time.sleep(0.1)
                answers = [httpx.post(f"http://127.0.0.1:{port}/score", json={"question": "capital of France?"},
                                      timeout=30) for _ in range(4)]
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
    served = (tmp_path / "serve.log").read_text()
    assert [answer.json() for answer in answers] == [{"answer": "PARIS"}] * 4, served
    assert "Traceback" not in served and served.count(HINT_OTLP) == 1  # said by the server, not by each worker
    assert len(set(marks.read_text().split())) >= 3  # the server and its two workers all refused the SDK
    result = run_python("""
        from promptwise.cli import main
        main(["traces", "list", "--format", "json"])
    """, blocked=NO_OTEL_SDK, cwd=tmp_path)
    listed = json.loads(result.stdout)
    assert len(listed) == 4 and {entry["kind"] for entry in listed} == {"request"}, listed
    result = run_python(f"""
        from promptwise.cli import main
        main(["traces", "show", {listed[0]["trace_id"]!r}, "--format", "json"])
    """, blocked=NO_OTEL_SDK, cwd=tmp_path)
    [request] = json.loads(result.stdout)["spans"]
    spans = _spans_by_name([request])
    assert request["name"] == "POST /score" and request["parent_id"] is None
    assert spans["invoke_workflow flow"]["parent_id"] == request["span_id"]
    assert spans["shout"]["parent_id"] == spans["node finish"]["span_id"]
    assert spans["chat gpt-4o-mini"]["parent_id"] == spans["node chat"]["span_id"]


@pytest.mark.parametrize("blocked", [NO_OTEL_SDK, ()], ids=["api-only", "with-sdk"])
def test_an_otel_limit_variable_that_is_no_count_stops_a_run_with_its_name(tmp_path, blocked):
    """The SDK refuses to load with such a variable; the core install refuses it the same way:
    the run stops before any model call, naming the variable, never with a traceback."""
    _traced_flow(tmp_path, "http://127.0.0.1:9/v1")
    result = run_python("""
        import sys
        from promptwise.cli import main
        sys.exit(main(["run", "flow", "--no-cache"]))
    """, blocked=blocked, cwd=tmp_path, env={"OTEL_SPAN_EVENT_COUNT_LIMIT": "lots"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "OTEL_SPAN_EVENT_COUNT_LIMIT" in line]
    assert "'lots'" in line or " lots" in line


def test_otlp_endpoint_without_the_exporter_warns_and_keeps_traces_local():
    """The SDK installed (another package brought it) but not the exporter: the same one warning."""
    result = run_python("""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from promptwise.tracing.export import otlp_processor
        print("processor:", otlp_processor(), otlp_processor())
    """, blocked=("opentelemetry.exporter",),
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "false"})
    assert result.returncode == 0, result.stderr
    assert "processor: None None" in result.stdout
    assert result.stderr.count(HINT_OTLP) == 1 and "opentelemetry-exporter-otlp-proto-http" in result.stderr


def test_check_of_tracing_settings_without_the_otel_sdk_or_cryptography(tmp_path):
    """PW111 on `tracing:` goes through the runtime's own readers (PII policy, store keyring): they
    need neither the SDK nor, to say that encryption needs it, cryptography."""
    (tmp_path / "promptwise.yaml").write_text(
        "tracing:\n  pii: hash\n  pii_key: ${env:PW_LIGHT_UNSET_PII}\n"
        "  encrypt:\n    key: ${env:PW_LIGHT_STORE_KEY}\n", encoding="utf-8")
    result = run_python(f"""
        import sys
        from promptwise.cli import main
        code = main(["check", {str(tmp_path / "promptwise.yaml")!r}, "--format", "json"])
        print("loaded:", sorted(m for m in sys.modules if m.startswith(("opentelemetry", "cryptography"))),
              file=sys.stderr)
        sys.exit(code)
    """, blocked=NO_OTEL_SDK + ("cryptography",), cwd=tmp_path,
        env={"PW_LIGHT_STORE_KEY": "k" * 40, "PW_LIGHT_UNSET_PII": ""})
    assert "Traceback" not in result.stderr and "loaded: []" in result.stderr, result.stderr
    problems = [problem for problem in json.loads(result.stdout) if problem["code"] == "PW111"]
    lines = {problem["range"]["start"]["line"] + 1: problem["message"] for problem in problems}
    assert "PW_LIGHT_UNSET_PII" in lines[3]
    assert "cryptography" in lines[5] and "pip install 'promptwise[encrypt]'" in lines[5]


def test_serve_without_uvicorn_names_the_serve_extra(tmp_path):
    (tmp_path / "a.prompty").write_text("---\nmodel: {api: chat}\n---\nuser:\nhi\n", encoding="utf-8")
    result = run_python(f"""
        import sys
        from promptwise.cli import main
        sys.exit(main(["serve", {str(tmp_path / "a.prompty")!r}]))
    """, blocked=("uvicorn", "starlette"))
    assert result.returncode == 2
    assert "pip install 'promptwise[serve]'" in result.stderr and "Traceback" not in result.stderr


def test_the_test_extra_brings_every_other_extra():
    """tests/run-all.sh installs '.[test]': it must bring what every extra's tests need."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    brought = set()
    for requirement in extras["test"]:
        if requirement.startswith("promptwise["):
            brought |= set(requirement[len("promptwise["):requirement.index("]")].split(","))
    assert brought == set(extras) - {"test"}
    runtime = " ".join(project["dependencies"]).lower()
    assert not any(name in runtime for name in ("aiohttp", "sacrebleu", "rouge-score", "uvicorn", "azure-identity",
                                                "jsonschema", "opentelemetry-sdk", "opentelemetry-semantic"))
    assert "opentelemetry-sdk" in " ".join(extras["otlp"])  # export needs it; local tracing does not


def test_a_flow_runs_on_the_core_install_without_aiohttp(tmp_path):
    """aiohttp (the `fast` extra) only speeds model calls up: without it the SDK's default
    HTTP client calls the model, through the real openai client to a real local server."""
    from promptwise.devtools.fake_openai import FakeOpenAI

    with FakeOpenAI(rules=[(r"capital of France", "Paris")]) as server:
        _traced_flow(tmp_path, server.base_url)
        result = run_python("""
            import sys
            from promptwise.cli import main
            code = main(["run", "flow", "--format", "json", "--no-cache"])
            print("aiohttp loaded:", "aiohttp" in sys.modules, file=sys.stderr)
            sys.exit(code)
        """, blocked=("aiohttp",), cwd=tmp_path)
        assert server.stats.requests == 1
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["answer"] == "PARIS"  # the model's answer, through finish.py
    assert "aiohttp loaded: False" in result.stderr


def test_the_shipped_catalog_reads_without_pydantic_exactly_as_pydantic_reads_it():
    """Start-up reads the shipped catalog's plain entries without pydantic (_plain_fields); every
    entry must take that path, and give what the pydantic model gives."""
    from promptwise.costing.catalog import CATALOG_PATH, _fields_model, _plain_fields

    entries = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))["models"]
    assert len(entries) > 10
    for name, raw in entries.items():
        assert _plain_fields(raw) == _fields_model().model_validate(raw).model_dump(exclude_none=True), name


@pytest.mark.parametrize("raw", [
    {"context_window": "128000"},  # text to coerce: pydantic's job
    {"context_window": 0},  # out of range: pydantic's message
    {"input_per_1m": -1},
    {"input_per_1m": float("inf")},
    {"max_output": True},
    {"tokenizer": 5},
    {"retired": "2026-01-01"},  # unknown field: pydantic names the allowed ones
])
def test_entries_that_are_not_plainly_right_go_to_pydantic(raw):
    from promptwise.costing.catalog import _plain_fields

    assert _plain_fields(raw) is None


# ----- tracing settings: read without pydantic when plainly right -----

PLAIN_TRACING_SECTIONS = [
    {},
    {"enabled": False, "capture_content": False, "pii_runs": True},
    {"retention_days": 7, "queue_size": 1, "pii": "drop"},
    {"retention_days": 0.5, "queue_size": 1_000_000, "pii": "hash", "pii_key": "${env:PII_KEY}"},
    {"pii_key": None, "encrypt": None},
    {"encrypt": {"key": "${env:K}"}},
    {"encrypt": {"key": "${env:K}", "previous_keys": ["${env:OLD1}", "${env:OLD2}"]}},
]


@pytest.mark.parametrize("raw", PLAIN_TRACING_SECTIONS)
def test_plain_tracing_sections_read_as_pydantic_reads_them(raw):
    from promptwise.tracing.settings import _plain_settings, _validated

    plain = _plain_settings(raw)
    assert plain is not None and plain == _validated(raw, "promptwise.yaml")
    assert hash(plain) == hash(_validated(raw, "promptwise.yaml"))  # a key of tracing.configure


@pytest.mark.parametrize("raw", [
    {"retention_days": "30"},  # text to coerce: pydantic's job
    {"retention_days": 0},
    {"retention_days": float("inf")},
    {"queue_size": 0},
    {"queue_size": True},
    {"enabled": "yes"},
    {"pii_runs": "true"},  # strict there: refused by pydantic
    {"pii": "mask"},
    {"encrypt": {"key": "${env:K}", "rotate": True}},
    {"encrypt": {"previous_keys": ["${env:OLD}"]}},
    {"encrypt": {"key": "${env:K}", "previous_keys": "${env:OLD}"}},
    {"sample_rate": 0.5},
])
def test_tracing_sections_not_plainly_right_go_to_pydantic(raw):
    from promptwise.tracing.settings import _plain_settings

    assert _plain_settings(raw) is None


def test_a_mistake_in_the_tracing_section_names_the_setting_and_the_allowed_ones(tmp_path):
    from promptwise.config import ConfigError
    from promptwise.tracing.settings import tracing_settings

    (tmp_path / "promptwise.yaml").write_text("tracing:\n  encrypt:\n    key: ${env:K}\n    rotate: true\n",
                                              encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        tracing_settings(tmp_path)
    message = str(raised.value)
    assert "promptwise.yaml:1" in message and "`tracing.encrypt.rotate`" in message
    assert "allowed settings: key, previous_keys" in message
    (tmp_path / "promptwise.yaml").write_text("tracing:\n  queue_size: '20'\n", encoding="utf-8")
    assert tracing_settings(tmp_path).queue_size == 20  # coerced, as before


def test_tracing_set_up_does_not_import_pydantic(tmp_path):
    """Each traced process (a run, every served worker) configures tracing once at start."""
    (tmp_path / "promptwise.yaml").write_text(
        "tracing:\n  retention_days: 3\n  pii: drop\n  capture_content: false\n", encoding="utf-8")
    result = run_python(f"""
        import sys
        from pathlib import Path
        from promptwise import tracing
        print("recording:", tracing.configure(Path({str(tmp_path)!r})))
        tracing.shutdown()
        print("pydantic loaded:", "pydantic" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert "recording: True" in result.stdout and "pydantic loaded: False" in result.stdout


def test_reading_the_run_store_imports_no_socket_module():
    """`check` of a flow with stored runs reads their output tokens through store/run_store.py:
    the host name (for runs being written) is asked for only by writers."""
    result = run_python("""
        import sys
        import promptwise.store.run_store as run_store
        print("socket loaded:", "socket" in sys.modules)
        print("host:", run_store.owner_parameters()["host"] != "")
    """)
    assert result.returncode == 0, result.stderr
    assert "socket loaded: False" in result.stdout and "host: True" in result.stdout
