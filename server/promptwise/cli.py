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

# Order is the order `promptwise --help` lists them in.
COMMAND_MODULES = (
    "init",
    "check",
    "estimate",
    "models",
    "connections",
    "run",
    "batch",
    "runs",
    "traces",
    "eval",
    "compare",
    "serve",
    "package",
    "versions",
    "rollout",
    "deploy",
    "audit",
    "monitor",
    "finetune",
    "lsp",
)


class UserError(Exception):
    """A problem the user can fix: printed as one clear line, never as a traceback."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or only for `command` when the caller knows it.

    Registering one command imports only its module, so `promptwise check` does not pay for
    importing the openai client, the engine and the language server it never uses.
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
    for name in (command,) if command else COMMAND_MODULES:
        importlib.import_module(f"promptwise.commands.{name}").register(subparsers)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option), if known."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMAND_MODULES else None
    return None


def main(argv: list[str] | None = None) -> int:
    as_program = argv is None  # the console script / `python -m promptwise`, not a caller in-process
    if argv is None:
        argv = sys.argv[1:]
    code = _run(argv)
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
    import logging
    import sqlite3

    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
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
    except sqlite3.DatabaseError as error:
        from promptwise.store.schema import DamagedDatabase

        if not isinstance(error, DamagedDatabase):
            raise
        print(f"promptwise: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in _OUTPUT_FULL:
            raise
        # stdout went to a file on a full disk (or a failing device): the output is incomplete.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"promptwise: error: cannot write the output ({error.strerror}); it is incomplete: free some space "
              "and try again (runs already stored are kept: `promptwise runs list`)", file=sys.stderr)
        return 2


# Write errors that mean "the output did not fit", not a bug: reported in one line.
_OUTPUT_FULL = {errno.ENOSPC, errno.EFBIG, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)}
