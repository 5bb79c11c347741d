"""Which interpreter runs the user's code for runs started from the editor: the one the client
chose (initializationOptions `python`) when it differs from the server's own, else the
server's; a chosen interpreter that cannot run jobs is a clear answer, not a crash. And the
server tunes its garbage collector at start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.lsp.jobs import InterpreterError, job_interpreter

from lsp_support import RUN_CONFIG, TIMEOUT, initialize_params, shutdown

# The tool writes down the interpreter and environment it ran in.
RECORDING_TOOL = '''\
import os
import sys
from pathlib import Path

from promptflow.core import tool


@tool
def find_examples(text: str, limit: int = 2) -> list:
    Path(__file__).with_name("ran_in.txt").write_text(
        f"{sys.executable}\\n{os.environ.get('CHOSEN_INTERPRETER', '-')}\\n", encoding="utf-8")
    return []
'''


def _wrapper(folder: Path, *python_flags: str) -> Path:
    """An interpreter of its own (a different path from the server's): logs its arguments,
    marks the environment, then runs the real interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "python"
    flags = " ".join(python_flags)
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{folder / "calls.log"}"\n'
        "export CHOSEN_INTERPRETER=wrapper\n"
        f'exec "{sys.executable}" {flags} "$@"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def test_no_setting_or_the_servers_own_interpreter_means_the_server_runs_jobs():
    for setting in (None, "", "  ", sys.executable):
        chosen = job_interpreter(setting)
        assert chosen.executable == sys.executable and chosen.chosen is False
        assert "the server's own interpreter" in chosen.description


def test_another_interpreter_is_used(tmp_path):
    # a venv's bin/python links to the base interpreter, yet its packages differ: a link in
    # another folder is another interpreter
    link = tmp_path / "env" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    chosen = job_interpreter(str(link))
    assert chosen.executable == str(link) and chosen.chosen is True
    assert f"the server itself runs in {sys.executable}" in chosen.description


def test_missing_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(InterpreterError, match=r"`.*nope/python` \(the `python` setting\) was not found"):
        job_interpreter(str(tmp_path / "nope" / "python"))


@pytest.fixture
def interpreter_option(request, tmp_path: Path) -> str:
    """The `python` option: a working interpreter of its own (default), one without the
    promptwise package ("bare": -I -S, no site-packages), or a path that does not exist."""
    kind = getattr(request, "param", "wrapper")
    if kind == "bare":
        return str(_wrapper(tmp_path / "bare", "-I", "-S"))
    if kind == "missing":
        return str(tmp_path / "missing" / "python")
    return str(_wrapper(tmp_path / "chosen"))


@pytest_lsp.fixture(config=RUN_CONFIG)
async def chosen_client(lsp_client: LanguageClient, run_workspace: Path, interpreter_option: str):
    (run_workspace / "lookup.py").write_text(RECORDING_TOOL, encoding="utf-8")
    await lsp_client.initialize_session(initialize_params(run_workspace, options={"python": interpreter_option}))
    yield
    await shutdown(lsp_client)


async def _run_flow(client: LanguageClient, workspace: Path) -> dict:
    params = types.ExecuteCommandParams(
        command="promptwise.runFlow", arguments=[{"uri": (workspace / "flow.dag.yaml").as_uri()}]
    )
    return await asyncio.wait_for(client.workspace_execute_command_async(params), TIMEOUT * 3)


async def test_runs_use_the_chosen_interpreter(
    chosen_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI, interpreter_option: str
):
    log = Path(interpreter_option).parent / "calls.log"
    result = await _run_flow(chosen_client, run_workspace)
    assert result["status"] == "completed", result
    # checked once that it can run jobs, then the worker ran in it, and the user's tool with it
    assert log.read_text(encoding="utf-8").splitlines() == ["-c import promptwise.lsp.job_worker",
                                                            "-m promptwise.lsp.job_worker"]
    assert (run_workspace / "ran_in.txt").read_text(encoding="utf-8").splitlines()[1] == "wrapper"
    result = await _run_flow(chosen_client, run_workspace)
    assert result["status"] == "completed", result
    assert log.read_text(encoding="utf-8").splitlines()[2:] == ["-m promptwise.lsp.job_worker"]  # no second check


@pytest.mark.parametrize("interpreter_option", ["bare"], indirect=True)
async def test_an_interpreter_without_promptwise_is_a_clear_answer(
    chosen_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI, interpreter_option: str
):
    result = await _run_flow(chosen_client, run_workspace)
    assert result["status"] == "error"
    assert f"the Python interpreter {interpreter_option} (the `python` setting) cannot run Promptwise jobs" in result["error"]
    assert "No module named 'promptwise'" in result["error"] and "-m pip install promptwise" in result["error"]
    assert not (run_workspace / "ran_in.txt").exists() and fake_llm.stats.requests == 0


@pytest.mark.parametrize("interpreter_option", ["missing"], indirect=True)
async def test_a_missing_interpreter_is_a_clear_answer(
    chosen_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI, interpreter_option: str
):
    result = await _run_flow(chosen_client, run_workspace)
    assert result["status"] == "error"
    assert f"`{interpreter_option}` (the `python` setting) was not found or is not executable" in result["error"]
    # the server is still there and answers
    lenses = await chosen_client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=(run_workspace / "flow.dag.yaml").as_uri()))
    )
    assert any(lens.command and lens.command.command == "promptwise.runFlow" for lens in lenses)


def test_the_server_tunes_its_garbage_collector_at_start():
    # in a fresh process, as `promptwise lsp` starts: once the features are imported (warm_up,
    # after initialize) the start-up objects are frozen out of the collector's sight and
    # collections are rarer
    script = (
        "import gc\n"
        "from promptwise.analysis.gc_tuning import INTERACTIVE_THRESHOLDS\n"
        "before = gc.get_threshold()\n"
        "from promptwise.lsp.setup import create_server, warm_up\n"
        "create_server()\n"
        "warm_up()\n"
        "assert before != INTERACTIVE_THRESHOLDS, before\n"
        "assert gc.get_threshold() == INTERACTIVE_THRESHOLDS, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 10000, gc.get_freeze_count()\n"
        "print('tuned')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "tuned"
