"""The one command-line entry point: `promptwise <command> ...`.

Each command lives in its own module under `promptwise.commands`; a module exposes
`register(subparsers)`, which adds its parser and sets `handler` (a callable taking the
parsed arguments and returning the exit code). This file only wires them together, so
the commands can grow independently.
"""

from __future__ import annotations

import errno
import os
import sys

from promptwise import __version__

# Every command with the one line `promptwise --help` shows for it, in that order. The listing
# is built from this table, so `--help` imports no command module; each module's own parser
# says the same (tests/cli/test_light_core.py keeps the two equal).
COMMANDS = {
    "init": "start a project from a template (chat, rag, classifier, prompty)",
    "check": "find mistakes in flows and prompts",
    "estimate": "tokens and cost of a flow or prompty over a dataset, before running it",
    "models": "list the model catalog (prices, context windows, tokenizers)",
    "connections": "list the workspace's connections (no secrets) or test each with one cheap call",
    "run": "run a flow or prompt on one input",
    "batch": "run a flow over every row of a data file",
    "runs": "list, show and export stored runs",
    "traces": "list and show traces of runs, batch rows, evaluations and served requests",
    "eval": "evaluate a flow (run it over data) or a stored run with eval.yaml",
    "compare": "compare evaluated runs (or every variant of a node) side by side",
    "serve": "serve a flow or prompt over HTTP",
    "package": "store an immutable version of a flow in the registry",
    "versions": "list, show and diff packaged versions",
    "rollout": "weights, promotion and rollback of a served flow's versions",
    "deploy": "deploy a packaged version (docker build context, image, ...)",
    "audit": "the append-only log of package, deploy, promote and rollback",
    "monitor": "requests, errors, latency, tokens and cost of served traffic and batches; drift; alerts",
    "finetune": "check fine-tuning data and cost; submit and follow fine-tuning jobs",
    "lsp": "run the language server on stdio (for editors)",
}
COMMAND_MODULES = tuple(COMMANDS)


class UserError(Exception):
    """A problem the user can fix: printed as one clear line, never as a traceback."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command` (importing that command's module only), or without a command
    the listing of every command from `COMMANDS` (importing none of them).

    Without a command there is nothing to run: the parser only prints help or names the
    choices of a mistyped command. So `promptwise --help` does not pay for importing twenty
    command modules, and `promptwise check` not for the openai client or the language server.
    """
    import argparse  # here, not at the top: `--version` answers without it
    import importlib

    parser = argparse.ArgumentParser(
        prog="promptwise",
        description="Check, cost, run and evaluate Prompt flow and Prompty projects.",
    )
    parser.add_argument("--version", action="version", version=f"promptwise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug details to stderr (with a python tool's stack when it fails)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command:
        importlib.import_module(f"promptwise.commands.{command}").register(subparsers)
    else:
        for name, summary in COMMANDS.items():
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option), if known."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    as_program = argv is None  # the console script / `python -m promptwise`, not a caller in-process
    if argv is None:
        argv = sys.argv[1:]
    code = _run(argv)
    if as_program and _command_in(argv) == "check":
        # The interpreter's exit collects garbage over every object still alive (about 5% of a
        # one-flow check). `check` writes nothing but its output, flushed by now: move what
        # exists out of the collector's sight (modules are still torn down and files closed).
        import gc

        gc.freeze()
    if as_program and _command_in(argv) != "lsp":
        _exit_past_stuck_threads(code)
    return code


# How long the end of a command waits for worker threads to wind down before leaving them.
THREAD_GRACE_SECONDS = 0.5


def _exit_past_stuck_threads(code: int) -> None:
    """A python tool that never returns (a row timed out, or Ctrl-C) keeps its worker thread
    busy, and the interpreter would wait for it at exit forever. Everything is saved by now:
    give the threads a moment, then leave without them."""
    import threading
    import time

    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    try:
        for thread in others:
            thread.join(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:  # a second Ctrl-C: the user will not wait either
        code = 130
    stuck = [t for t in others if t.is_alive()]
    if not stuck:
        return
    print(f"promptwise: warning: {len(stuck)} tool call{'s' if len(stuck) != 1 else ''} still running (a python "
          "tool that does not return); exiting without waiting for it", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _asks_version(argv: list[str]) -> bool:
    """`promptwise --version` (options only before it): answered without building a parser."""
    for word in argv:
        if word == "--version":
            return True
        if word == "--" or not word.startswith("-"):
            return False
    return False


def _run(argv: list[str]) -> int:
    if _asks_version(argv):
        # The answer argparse would give, for a fraction of the start-up (no command modules).
        print(f"promptwise {__version__}")
        return 0
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)  # `--help` prints and exits here
    import logging

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a full disk behind `> file` shows up here, not at exit unreported
        return code
    except UserError as error:
        print(f"promptwise: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("promptwise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`promptwise runs list | head`): not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:
        if error.errno not in _OUTPUT_FULL:
            raise
        # stdout went to a file on a full disk (or a failing device): the output is incomplete.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"promptwise: error: cannot write the output ({error.strerror}); it is incomplete: free some space "
              "and try again (runs already stored are kept: `promptwise runs list`)", file=sys.stderr)
        return 2
    except Exception as error:
        # A damaged store (sqlite3 is imported by the commands that open one, not here: `check`
        # of a flow without stored runs does without it).
        schema = sys.modules.get("promptwise.store.schema")
        if schema is None or not isinstance(error, schema.DamagedDatabase):
            raise
        print(f"promptwise: error: {error}", file=sys.stderr)
        return 2


# Write errors that mean "the output did not fit", not a bug: reported in one line.
_OUTPUT_FULL = {errno.ENOSPC, errno.EFBIG, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)}
