"""`promptwise lsp`: the language server, speaking LSP on stdin/stdout.

stdout carries the protocol and nothing else: logging goes to stderr, and anything else
that writes to `sys.stdout` (a stray print in user code we read, a library's warning) is
sent to stderr too, while pygls writes to the real stdout's buffer it was handed here.
"""

from __future__ import annotations

import argparse
import logging
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lsp",
        help="run the language server on stdio (for editors)",
        description="Run the Promptwise language server, speaking LSP on stdin/stdout.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much the server logs to stderr (default INFO)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    protocol_out = sys.stdout.buffer
    protocol_in = sys.stdin.buffer
    sys.stdout = sys.stderr  # nothing but the protocol may reach the real stdout

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if getattr(args, "verbose", False) else getattr(logging, args.log_level))
    logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO

    # Collections made rarer before the start-up imports (hundreds of lsprotocol classes), not
    # only after them: the server answers `initialize` sooner. lsp/setup.warm_up tunes the rest.
    import gc

    from promptwise.analysis.gc_tuning import INTERACTIVE_THRESHOLDS

    gc.set_threshold(*INTERACTIVE_THRESHOLDS)

    from promptwise.lsp.setup import create_server

    server = create_server()
    server.start_io(protocol_in, protocol_out)
    return 0
