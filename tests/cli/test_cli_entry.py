"""The command-line entry point: command discovery, lazy imports, and a closed pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from promptwise.cli import COMMAND_MODULES, main

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_names_the_choices(capsys):
    try:
        main(["chek"])
    except SystemExit as exit_:
        assert exit_.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'chek'" in err and "check" in err


def test_check_imports_neither_the_openai_client_nor_the_language_server():
    result = run_python(
        "import sys\n"
        "from promptwise.cli import main\n"
        "code = main(['check', 'flows/log-triage'])\n"
        "print(code, 'openai' in sys.modules, 'pygls' in sys.modules, file=sys.stderr)\n"
    )
    assert result.stderr.strip().splitlines()[-1] == "0 False False", result.stderr


def test_verbose_flag_before_the_command_still_finds_it():
    result = run_python("from promptwise.cli import main; raise SystemExit(main(['-v', 'check', 'flows/log-triage']))")
    assert result.returncode == 0, result.stderr


def test_closed_pipe_is_not_a_traceback():
    # `promptwise models | head -1`: the reader has gone, so writing to stdout fails with EPIPE.
    result = run_python(
        "import os, sys\n"
        "read_end, write_end = os.pipe()\n"
        "os.close(read_end)\n"
        "os.dup2(write_end, sys.stdout.fileno())\n"
        "from promptwise.cli import main\n"
        "code = main(['models'])\n"
        "print('exit', code, file=sys.stderr)\n"
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "exit 141" in result.stderr


def test_eval_and_compare_reject_a_concurrency_below_one(capsys):
    assert main(["eval", "flows/log-triage", "--concurrency", "0"]) == 2
    assert "--concurrency must be at least 1 (got 0)" in capsys.readouterr().err
    assert main(["compare", "a", "b", "--concurrency", "-3"]) == 2
    assert "--concurrency must be at least 1 (got -3)" in capsys.readouterr().err
