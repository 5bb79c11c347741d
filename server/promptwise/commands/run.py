"""`promptwise run FLOW [--inputs k=v ...] [--variant NODE=ID]`: run one row and print its outputs."""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys

from promptwise.cli import UserError
from promptwise.commands.preflight import ALLOW_UNDEFINED_HELP, refuse_undefined_variables
from promptwise.commands.options import json_text, plural, run_name
from promptwise.engine.errors import FlowError


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} {item!r}: write NAME=VALUE")
        pairs[key.strip()] = value
    return pairs


def parse_values(items: list[str] | None, option: str, *, json_values: bool = False) -> dict:
    """`--inputs` / `--init` values as `pf flow test` takes them: NAME=VALUE pairs, or one JSON
    object written inline, or one JSON file holding an object (`--init init.json`).
    `json_values`: a VALUE written as a JSON object or list is parsed (init values such as
    `model_config={"azure_deployment": ...}`)."""
    items = items or []
    if len(items) == 1 and (items[0].lstrip().startswith("{") or "=" not in items[0]):
        return _json_object(items[0], option)
    values: dict = parse_pairs(items, option)
    if json_values:
        for key, value in values.items():
            if value.lstrip()[:1] in ("{", "["):
                try:
                    values[key] = json.loads(value)
                except json.JSONDecodeError as error:
                    raise UserError(f"{option} {key}=...: the value is not valid JSON ({error.msg} at "
                                    f"character {error.pos + 1})") from None
    return values


def _json_object(item: str, option: str) -> dict:
    """One JSON object, written inline or in a file."""
    from pathlib import Path

    text, where = item, f"{option} value"
    if not item.lstrip().startswith("{"):
        path = Path(item)
        if not path.is_file():
            raise UserError(f"{option} {item!r}: write NAME=VALUE, a JSON object, or the path of a JSON file "
                            f"(no file {item!r} here)")
        where = str(path)
        from promptwise.documents.files import read_user_text

        try:
            text = read_user_text(path)  # regular files only, bounded in size
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"{option}: cannot read {path}: {error}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{option}: {where} is not valid JSON ({error.msg} at line {error.lineno}, "
                        f"column {error.colno})") from None
    if not isinstance(value, dict):
        raise UserError(f"{option}: {where} must hold a JSON object of NAME: value pairs")
    return value


def import_engine() -> None:
    """Import the engine (the openai SDK is most of it) with the cyclic GC paused, then freeze
    what was imported: collections triggered by the SDK's thousands of classes cost ~0.1 s of
    start-up, frozen objects are skipped by every later collection while rows run, and the
    interpreter does not collect them again at exit (another ~0.15 s; measured with
    benchmarks/batch_speed.py). Only on first import: a process that has the engine already
    (the test suite, the editor) is left alone.

    Then the youngest generation is collected every 10,000 net allocations instead of 700, as
    `promptwise serve` does: rows allocate many short-lived objects (requests, replies, spans)
    that reference counting frees, and a 3,000-row batch at 5 ms / concurrency 64 ran ~200
    young and ~18 middle collections, ~0.06 ms of CPU per row (benchmarks/batch_speed.py)."""
    if "promptwise.engine.batch" in sys.modules:
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import promptwise.engine.batch  # noqa: F401  (runner, providers, openai)
        import promptwise.engine.dag  # noqa: F401  (loaded per flow kind, on the same path)
    finally:
        gc.freeze()
        young, middle, old = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), middle, old)
        if was_enabled:
            gc.enable()


YOUNG_GC_THRESHOLD = 10_000  # net allocations between collections of the youngest generation (Python: 700)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a flow or prompt on one input",
        description="Run one row of a flow.dag.yaml, flow.flex.yaml or .prompty file and print its outputs. "
                    "Inputs not given take the flow's defaults/sample values.")
    parser.add_argument("flow", metavar="FLOW", help="flow folder, flow.dag.yaml, flow.flex.yaml or .prompty file")
    parser.add_argument("--inputs", nargs="+", metavar="NAME=VALUE",
                        help="flow inputs: NAME=VALUE pairs, a JSON object, or a JSON file")
    parser.add_argument("--variant", action="append", metavar="NODE=ID", help="node variant to use (repeatable)")
    parser.add_argument("--init", nargs="+", metavar="NAME=VALUE",
                        help="init values of a flex flow class entry: NAME=VALUE pairs (a VALUE may be JSON), "
                             "a JSON object, or a JSON file such as init.json")
    parser.add_argument("--name", type=run_name, help="name of the run (default: generated)")
    parser.add_argument("--no-cache", action="store_true", help="always call the model (skip the response cache)")
    parser.add_argument("--timeout", type=positive_seconds, default=120.0, metavar="SECONDS",
                        help="per model call; a call that times out is retried, then the row fails (default 120)")
    parser.add_argument("--allow-undefined", action="store_true", help=ALLOW_UNDEFINED_HELP)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: --help need not load asyncio (and ssl)

    import_engine()
    from promptwise.engine.flow_environment import stdout_fd_to_stderr
    from promptwise.tracing import traced
    from promptwise.engine.providers import RetryPolicy
    from promptwise.engine.runner import run_flow

    inputs = parse_values(args.inputs, "--inputs")
    variants = parse_pairs(args.variant, "--variant")
    init = parse_values(args.init, "--init", json_values=True) or None
    refuse_undefined_variables(args.flow, variants, args.allow_undefined)
    try:
        with stdout_fd_to_stderr(), traced(args.flow):
            result = asyncio.run(run_flow(args.flow, inputs, variants, name=args.name,
                                          use_cache=not args.no_cache, init=init,
                                          retry=RetryPolicy(timeout=args.timeout)))
    except FlowError as error:
        raise UserError(str(error)) from None
    if args.format == "json":
        print(json_text(result.as_dict(), indent=2))
    else:
        if result.outputs is not None:
            for key, value in result.outputs.items():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                print(f"{key}: {text}")
        if result.metrics:
            print("metrics: " + json.dumps(result.metrics, ensure_ascii=False, default=str))
        from promptwise.costing.formatting import format_ms, format_tokens, format_usd

        cost = "cost unknown" if result.cost is None else format_usd(result.cost)
        calls = [node for node in result.nodes if getattr(node, "model", None)]
        cached = sum(1 for node in calls if node.cache_hit)
        if cached:  # a cached answer is not charged and comes back at once: say so
            cost += f" ({cached} of {plural(len(calls), 'model call')} from the response cache)"
        print(f"run {result.run} · {result.status} · {format_tokens(result.tokens.get('total', 0))} tokens · {cost} · "
              f"{format_ms(result.latency_ms)}", file=sys.stderr)
        if result.error:
            print(f"promptwise: error: {result.error}", file=sys.stderr)
            if PYTHON_ERROR.search(result.error) and not getattr(args, "verbose", False):
                print("promptwise: `promptwise -v run ...` shows the tool's stack", file=sys.stderr)
    return 0 if result.status == "completed" else 1


# How a python tool's error ends: `KeyError: 'a' (/path/tool.py:4)`.
PYTHON_ERROR = re.compile(r"\.py:\d+\)$")
