"""`promptwise estimate FLOW_OR_PROMPTY [--data FILE] [--column-mapping ...] [--variant NODE=ID] [--model M]`:
the token and cost preflight to run before a batch or an evaluation.

Exit status: 0 when every prompt could be rendered; 1 when a template cannot be rendered
(named by template file:line) or no data row can run (the report is still printed, the
errors follow on stderr); 2 for a mistake in the request itself (missing file, empty data
file, unknown --model, bad --column-mapping ...)."""

from __future__ import annotations

import io
import json
import sys
from contextlib import ExitStack, redirect_stdout
from pathlib import Path

from promptwise.commands.options import parse_variants, plural
from promptwise.costing.formatting import format_tokens, format_usd
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptwise.costing.preflight import Preflight


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "estimate", help="tokens and cost of a flow or prompty over a dataset, before running it",
        description="Render every prompt for every dataset row as a run would, count input tokens exactly, "
                    "bound output by max_tokens (and expect it from past runs), and price it from the catalog.")
    parser.add_argument("target", type=Path, metavar="FLOW_OR_PROMPTY",
                        help="a flow.dag.yaml, its folder, or a .prompty file")
    parser.add_argument("--data", type=Path, default=None, metavar="FILE",
                        help="dataset (.jsonl, .json or .csv); default: the sample inputs")
    parser.add_argument("--column-mapping", nargs="+", default=None, metavar="INPUT=${data.COL}",
                        help="map flow inputs to data columns, as for `promptwise batch` (default: same names)")
    parser.add_argument("--variant", action="append", default=[], metavar="NODE=ID",
                        help="use this variant for a node (repeatable)")
    parser.add_argument("--model", default=None, metavar="M", help="price every call as this model instead")
    parser.add_argument("--catalog", type=Path, default=None, metavar="FILE",
                        help="use this catalog file instead of the shipped one")
    parser.add_argument("--run-python", action="store_true",
                        help="run the python nodes that come before any model call (e.g. retrieval, lookups), so "
                             "their outputs are counted; model nodes are never called")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from promptwise.cli import UserError
    from promptwise.costing.preflight import EstimateError, estimate_target  # the catalog, Jinja2: not for --help

    variants = parse_variants(args.variant, "summarize=variant_1")
    if args.model is not None and not args.model.strip():
        raise UserError("--model is empty; name a model of the catalog (`promptwise models`), or leave it out")
    with ExitStack() as user_code:
        if args.run_python:
            # The flow's python nodes may print: keep stdout for the report (`--format json` must parse).
            from promptwise.engine.flow_environment import stdout_fd_to_stderr, user_output_to_stderr

            user_code.enter_context(stdout_fd_to_stderr())
            user_code.enter_context(user_output_to_stderr())
        try:
            report = estimate_target(args.target, data=args.data, variants=variants, model=args.model,
                                     catalog_file=args.catalog, run_python=args.run_python,
                                     column_mapping=args.column_mapping)
        except EstimateError as error:
            raise UserError(str(error)) from None
    here = _where_the_user_stands(report)
    if args.format == "json":
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        text = io.StringIO()
        with redirect_stdout(text):
            print_report(report)
        sys.stdout.write(here(text.getvalue()))
    for skipped in report.skipped_rows:
        print(here(f"promptwise: warning: {skipped}; row skipped"), file=sys.stderr)
    errors = report.errors()
    for error in errors:
        print(here(f"promptwise: error: {error}"), file=sys.stderr)
    return 1 if errors else 0


def _where_the_user_stands(report: Preflight):
    """The report names files by absolute path (`/home/me/proj/flows/qa/data.jsonl:4`): in
    text for the terminal, write them from the current folder, as the user typed them."""
    import os

    from promptwise.commands.options import display_path

    prefixes = {}
    for path in (report.data, Path(report.target).parent if report.target else None):
        if path is not None and Path(path).is_absolute():
            prefixes[str(path)] = display_path(path)

    def here(text: str) -> str:
        for absolute in sorted(prefixes, key=len, reverse=True):  # the data file before its folder
            shown = prefixes[absolute]
            text = text.replace(absolute + os.sep, ("" if shown == "." else shown + os.sep)).replace(absolute, shown)
        return text
    return here


def _optional_tokens(value) -> str:
    return "-" if value is None else format_tokens(value)


# Rows listed in the text report per kind of problem; the JSON output lists them all.
LISTED_ROWS = 10


def _listed(label: str, entries: list[str]) -> None:
    for entry in entries[:LISTED_ROWS]:
        print(f"{label}: {entry}")
    if len(entries) > LISTED_ROWS:
        print(f"{label}: ... and {len(entries) - LISTED_ROWS} more (--format json lists them all)")


def print_report(report: Preflight) -> None:
    source = f"{report.data} ({plural(report.rows, 'row')})" if report.data else "the sample inputs"
    print(f"Estimate for {report.target} over {source}; prices from the model catalog as of {report.catalog_date}")
    header = ("node", "model (catalog entry)", "rows", "input tokens", "output ≤", "output expected",
              "input cost", "cost expected", "cost ≤")
    rows = [header]
    for node in report.nodes:
        name = node.node + (f" [{node.variant}]" if node.variant else "")
        model = node.model or "-"
        if node.catalog_entry and node.catalog_entry != node.model:
            model += f" ({node.catalog_entry})"
        if not node.priced:
            model += " (not in catalog)"
        output_bound = format_tokens(node.output_bound) + ("?" if node.output_bound_unknown else "")
        # A node whose prompt never rendered has no figures: show that, never a $0.00.
        upper = "not rendered" if node.render_errors and not node.rows else format_usd(node.cost_upper)
        rendered = not (node.render_errors and not node.rows)
        input_cost = format_usd(node.known_input_cost) if rendered and node.priced else "-"
        rows.append((name, model, str(node.rows), format_tokens(node.input_tokens), output_bound,
                     _optional_tokens(node.expected_output), input_cost,
                     format_usd(node.cost_expected) if node.cost_expected
                     is not None else "-", upper))
    incomplete = any(node.render_errors for node in report.nodes)
    rows.append(("total (incomplete)" if incomplete else "total", "", "", format_tokens(report.input_tokens),
                 format_tokens(report.output_bound),
                 _optional_tokens(report.expected_output),
                 format_usd(report.input_cost) if report.input_cost is not None else "-",
                 format_usd(report.cost_expected) if report.cost_expected is not None else "-",
                 format_usd(report.cost_upper)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = set(range(2, len(header)))
    for row in rows:
        print("  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    if report.input_cost is not None and report.rows and not incomplete:
        exact = ("a lower bound (some prompt values are known only at run time, see below)"
                 if any(node.unknown_inputs for node in report.nodes) else "exact (the prompts' tokens counted)")
        print(f"input cost {format_usd(report.input_cost)} is {exact}; the bound {format_usd(report.cost_upper)} "
              f"adds every call's max output")
    if report.expected_output is None:
        print("output expected: '-' until runs of this flow are stored; the bound is max_tokens")
    origins = sorted({n.catalog_origin for n in report.nodes if n.catalog_origin})
    if origins:
        print("prices: " + "; ".join(origins))
    for node in report.nodes:
        if node.closest:
            closest = ", ".join(f"{row.where} {format_tokens(row.input_tokens)}+{format_tokens(row.output_bound)} "
                                f"of {format_tokens(row.context_window)} ({row.share:.1%})" for row in node.closest)
            print(f"closest to the context window, {node.node}: {closest}")
        for problem in node.over_window:
            print(f"over the context window, {node.node}: {problem}")
        _listed(f"not rendered, {node.node}", node.failed)
        if node.unknown_inputs:
            hint = "" if report.ran_python else " (--run-python runs python nodes that precede the model calls)"
            print(f"note, {node.node}: known only at run time, rendered as a placeholder (empty text; 0 where a "
                  "number is formatted), so input is a lower bound: " + ", ".join(sorted(node.unknown_inputs)) + hint)
        if node.bypassed_rows:
            print(f"note, {node.node}: not run on {plural(node.bypassed_rows, 'row')} ({_condition(node)} there); "
                  "those rows are not priced")
        if node.conditional_rows:
            print(f"upper bound, {node.node}: node runs only when {node.condition}; priced on all "
                  f"{plural(node.conditional_rows, 'row')}, as that is known only at run time")
        for reason in sorted(node.output_bound_unknown):
            print(f"output bound unknown, {node.node}: {reason}; set max_tokens to a number "
                  "('?' marks the stand-in bound)")
        for warning in sorted(node.warnings):
            print(f"warning, {node.node}: {warning}")
    for error in report.python_errors:
        print(f"python node failed: {error}")
    if report.column_mapping:
        print("column mapping: " + ", ".join(f"{name}={value}" for name, value in report.column_mapping.items()))
    _listed("would fail in a run", report.failing_rows)
    if report.failing_rows:
        print(f"{plural(len(report.failing_rows), 'row')} would fail in a run and are not priced")
    if report.skipped_rows:
        print(f"{plural(len(report.skipped_rows), 'malformed row')} skipped (listed on stderr)")


def _condition(node) -> str:
    return f"its activate condition {node.activate} is false" if node.activate else "the nodes it reads from do not run"
