"""The one command-line entry point: `promptwise <command> ...`.

Each command lives in its own module under `promptwise.commands`; a module exposes
`register(subparsers)`, which adds its parser and sets `handler` (a callable taking the
parsed arguments and returning the exit code). This file only wires them together, so
the commands can grow independently.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from promptwise import __version__

# Order is the order `promptwise --help` lists them in.
COMMAND_MODULES = (
    "check",
    "estimate",
    "models",
    "run",
    "batch",
    "runs",
    "eval",
    "compare",
    "lsp",
)


class UserError(Exception):
    """A problem the user can fix: printed as one clear line, never as a traceback."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or only for `command` when the caller knows it.

    Registering one command imports only its module, so `promptwise check` does not pay for
    importing the openai client, the engine and the language server it never uses.
    """
    parser = argparse.ArgumentParser(
        prog="promptwise",
        description="Check, cost, run and evaluate Prompt flow and Prompty projects.",
    )
    parser.add_argument("--version", action="version", version=f"promptwise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
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
    if argv is None:
        argv = sys.argv[1:]
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
        return int(handler(args) or 0)
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
