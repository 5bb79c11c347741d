"""Secrets outside the normal paths: a key written in a flow is refused before anything runs;
credentials inside endpoint URLs and encoded echoes of a key never reach the store or reports."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.redaction import redact, register_secret, register_url_credentials
from promptwise.store import RunStore

from engine_flows import write_files as write


LITERAL = "sk-proj-Abc123Def456Ghi789Jkl012Mno"  # looks real to the PW601 check

TOOL = """
    from promptflow.core import tool

    @tool
    def echo(q: str, api_key: str = "") -> str:
        return q
"""

# (files, the file and 1-based line the error must name)
LITERAL_KEY_FLOWS = {
    "default input": ({
        "flow/flow.dag.yaml": f"""
            inputs:
              q: {{type: string, default: hi}}
              api_key: {{type: string, default: {LITERAL}}}
            outputs:
              out: {{type: string, reference: "${{echo.output}}"}}
            nodes:
            - name: echo
              type: python
              source: {{type: code, path: echo.py}}
              inputs: {{q: "${{inputs.q}}", api_key: "${{inputs.api_key}}"}}
        """,
        "flow/echo.py": TOOL,
    }, "flow/flow.dag.yaml", 3),
    "node input": ({
        "flow/flow.dag.yaml": f"""
            inputs:
              q: {{type: string, default: hi}}
            outputs:
              out: {{type: string, reference: "${{echo.output}}"}}
            nodes:
            - name: echo
              type: python
              source: {{type: code, path: echo.py}}
              inputs:
                q: ${{inputs.q}}
                api_key: {LITERAL}
        """,
        "flow/echo.py": TOOL,
    }, "flow/flow.dag.yaml", 11),
    "prompt template": ({
        "flow/flow.dag.yaml": """
            inputs:
              q: {type: string, default: hi}
            outputs:
              out: {type: string, reference: "${chat.output}"}
            nodes:
            - name: chat
              type: llm
              source: {type: code, path: chat.jinja2}
              inputs: {model: gpt-4o-mini, q: "${inputs.q}"}
              api: chat
        """,
        "flow/chat.jinja2": f"system:\nYou may use the key {LITERAL} for lookups.\nuser:\n{{{{q}}}}\n",
    }, "flow/chat.jinja2", 2),
    "flex init": ({
        "flow/flow.flex.yaml": f"""
            entry: entry:Echo
            init:
              api_key: {{type: string, default: {LITERAL}}}
        """,
        "flow/entry.py": """
            class Echo:
                def __init__(self, api_key: str = ""):
                    self.api_key = api_key

                def __call__(self, q: str = "hi") -> str:
                    return q
        """,
    }, "flow/flow.flex.yaml", 3),
    "prompty body": ({
        "flow/ask.prompty": f"""
            ---
            name: ask
            model:
              api: chat
              configuration: {{type: openai, model: gpt-4o-mini}}
            inputs:
              q: {{type: string, default: hi}}
            ---
            system:
            The key is {LITERAL}.
            user:
            {{{{q}}}}
        """,
    }, "flow/ask.prompty", 10),
}


@pytest.mark.parametrize("case", LITERAL_KEY_FLOWS)
@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_flow_with_a_literal_key_does_not_run(workspace, monkeypatch, capsys, case, command):
    files, where, line = LITERAL_KEY_FLOWS[case]
    root = workspace(files)
    (root / "data.jsonl").write_text('{"q": "hello"}\n')
    monkeypatch.chdir(root)
    flow = next(name for name in files if name.endswith((".yaml", ".prompty")))
    argv = ["run", flow, "--format", "json"] if command == "run" else ["batch", flow, "--data", "data.jsonl",
                                                                       "--no-progress"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert f"{where}:{line}: PW601: " in err, err
    assert "${env:" in err and "Traceback" not in err
    assert LITERAL not in out + err
    assert workspace.server.stats.requests == 0
    state = root / ".promptwise"
    for path in state.rglob("*") if state.exists() else ():
        if path.is_file():
            assert LITERAL.encode() not in path.read_bytes(), path
    if (state / "runs.sqlite").exists():
        with RunStore(state) as store:
            assert store.list_runs() == []  # no run was created


def test_a_key_as_env_reference_runs(workspace, monkeypatch, capsys):
    files, _, _ = LITERAL_KEY_FLOWS["default input"]
    files = {name: text.replace(LITERAL, "'${env:PW_SOME_KEY}'") for name, text in files.items()}
    root = workspace(files)
    monkeypatch.chdir(root)
    assert main(["run", "flow", "--format", "json"]) == 0
    assert '"out": "hi"' in capsys.readouterr().out


# ----- credentials in endpoint URLs and encoded echoes, end to end -----

KEY = "pk/Live+Key=0123456789&zz"  # characters that URL-encoding and base64 both change
SUBSCRIPTION = "SubKey0123456789abcdef"
PASSWORD = "hunter2-Passw0rd"


def forms(secret: str) -> dict[str, str]:
    """The shapes an echo of `secret` takes: what must never be found anywhere."""
    return {"raw": secret, "url-encoded": quote(secret, safe=""), "form-encoded": quote_plus(secret),
            "basic auth": base64.b64encode(f"apikey:{secret}".encode()).decode().rstrip("=")[:-2],
            "html": html.escape(secret)}


def assert_clean(where: str, data: bytes | str) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    for secret in (KEY, SUBSCRIPTION, PASSWORD):
        for shape, form in forms(secret).items():
            assert form not in text, f"{shape} form of a secret in {where}"


ECHO_FLOW = """
    inputs:
      question: {type: string}
    outputs:
      answer: {type: string, reference: "${chat.output}"}
    nodes:
    - name: chat
      type: llm
      source: {type: code, path: chat.jinja2}
      inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
      connection: CONNECTION
      api: chat
"""


def test_echoed_credentials_never_reach_the_store_outputs_or_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PW_ECHO_KEY", KEY)
    monkeypatch.setenv("PW_ECHO_SUBSCRIPTION", SUBSCRIPTION)
    monkeypatch.setenv("PW_ECHO_PASSWORD", PASSWORD)
    # `echoing` answers (its gateway takes the subscription key in the query) and echoes every
    # credential in its replies; `refusing` wants another key and echoes them in its 401 errors.
    with FakeOpenAI(api_key=SUBSCRIPTION, echo_credentials=True) as echoing, \
            FakeOpenAI(api_key="another-key-entirely", echo_credentials=True) as refusing:
        (tmp_path / "promptwise.yaml").write_text(
            "connections:\n"
            f"  echoing: {{type: openai_compatible, base_url: '{echoing.base_url}?subscription-key="
            "${env:PW_ECHO_SUBSCRIPTION}', api_key: '${env:PW_ECHO_KEY}'}\n"
            f"  refusing: {{type: openai_compatible, base_url: '{refusing.base_url}?subscription-key="
            "${env:PW_ECHO_SUBSCRIPTION}', api_key: '${env:PW_ECHO_KEY}'}\n"
            "  unreachable: {type: openai_compatible, base_url: 'http://bob:${env:PW_ECHO_PASSWORD}@127.0.0.1:9/v1',"
            " api_key: '${env:PW_ECHO_KEY}'}\n")
        for name in ("echoing", "refusing", "unreachable"):
            write(tmp_path, {f"{name}/flow.dag.yaml": ECHO_FLOW.replace("CONNECTION", name),
                             f"{name}/chat.jinja2": "user:\n{{question}}\n"})
        (tmp_path / "data.jsonl").write_text('{"question": "one", "expected": "x"}\n'
                                             '{"question": "two", "expected": "y"}\n')
        (tmp_path / "eval.yaml").write_text(
            "judge: {model: gpt-4o-mini, connection: echoing}\n"
            "evaluators:\n"
            "  - {name: match, type: exact_match, inputs: {prediction: ${run.outputs.answer}, "
            "reference: ${data.expected}}, threshold: 1.0}\n"
            "  - {name: fluent, type: fluency, inputs: {response: ${run.outputs.answer}}, threshold: 3}\n")
        monkeypatch.chdir(tmp_path)
        printed = []

        def cli(*argv: str) -> int:
            code = main(list(argv))
            printed.append("".join(capsys.readouterr()))
            return code

        assert cli("run", "echoing", "--inputs", "question=hi", "--format", "json") == 0
        assert "Received ***" in printed[-1]  # the echo came back, masked
        assert cli("run", "refusing", "--inputs", "question=hi", "--format", "json") == 1
        assert "authentication failed (HTTP 401)" in printed[-1] and "subscription-key=***" in printed[-1]
        assert cli("run", "unreachable", "--inputs", "question=hi", "--format", "json") == 1
        assert cli("batch", "echoing", "--data", "data.jsonl", "--name", "good", "--no-progress") == 0
        assert cli("batch", "refusing", "--data", "data.jsonl", "--name", "bad", "--no-progress") == 1
        assert echoing.stats.completed >= 3 and refusing.stats.requests >= 3
        assert echoing.requests[0].path == "/v1/chat/completions"  # the query went on the request, not the path
        for run in ("good", "bad"):
            assert cli("runs", "show", run, "--format", "json") == 0
            assert cli("runs", "export", run) == 0
        # the judge is an echo, so it scores no row: eval may say so with exit code 1
        assert cli("eval", "--run", "good", "--config", "eval.yaml", "--junit", "good.xml") in (0, 1), printed[-1]
        assert cli("batch", "echoing", "--data", "data.jsonl", "--name", "again", "--no-progress", "--no-cache") == 0
        assert cli("eval", "--run", "again", "--config", "eval.yaml", "--junit", "again.xml") in (0, 1)
        assert cli("compare", "good", "again", "--html", "report.html") == 0
    shown = json.loads(printed[printed.index(next(p for p in printed if '"name": "good"' in p))])
    assert shown["connection"]["connections"][0]["endpoint"].endswith("?subscription-key=***")
    assert (tmp_path / "report.html").is_file() and (tmp_path / "again.xml").is_file()
    junit = (tmp_path / "good.xml").read_text()
    assert "raw answer:" in junit and "Received ***" in junit  # the judge's echo reached the file, masked
    assert_clean("the printed output", "\n".join(printed))
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "promptwise.yaml":
            assert_clean(str(path.relative_to(tmp_path)), path.read_bytes())


def test_url_credentials_and_encodings_are_masked():
    register_secret("zq/Secret+Value=42&x")
    register_url_credentials("https://amy:Pa%24%24word99@example.net/v1?api-version=1&subscription-key=Sub%2FKey77x")
    text = ("zq%2FSecret%2BValue%3D42%26x " + base64.b64encode(b"u:zq/Secret+Value=42&x").decode()
            + " Pa$$word99 Sub/Key77x " + base64.b64encode(b"amy:Pa$$word99").decode()
            + " https://ann:other-pass@h/x?a=1&sig=abcdef123&code=zzz9 zq&#x2F;")
    masked = redact(text)
    for leaked in ("Secret", "word99", "Key77", "other-pass", "abcdef123", "zzz9"):
        assert leaked not in masked
    assert "https://ann:***@h/x?a=1&sig=***&code=***" in masked
    assert redact("a plain sentence about keys = values") == "a plain sentence about keys = values"


def test_a_forgotten_secret_is_no_longer_scanned_for():
    from promptwise.redaction import forget_secret

    register_secret("expired-token-0123456789")
    register_secret("current-token-9876543210")
    assert redact("expired-token-0123456789 current-token-9876543210") == "*** ***"
    forget_secret("expired-token-0123456789")  # an Entra token past its hour
    assert redact("expired-token-0123456789 current-token-9876543210") == "expired-token-0123456789 ***"
