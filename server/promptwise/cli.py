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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptwise",
        description="Check, cost, run and evaluate Prompt flow and Prompty projects.",
    )
    parser.add_argument("--version", action="version", version=f"promptwise {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"promptwise.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"promptwise.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
