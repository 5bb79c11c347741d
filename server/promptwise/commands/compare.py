"""`promptwise compare RUN RUN ...`: evaluated runs side by side, with deltas from the first and
the rows that changed verdict; `--variants NODE FLOW --data FILE` runs and evaluates every
variant of a node on the same data first. `--html FILE` writes a self-contained report.

Exit codes: 0 compared, 2 a usage or input error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from promptwise.commands.options import RunTracker, concurrency_or_default, json_text, warn
from promptwise.commands.preflight import ALLOW_UNDEFINED_HELP, refuse_undefined_variables


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare evaluated runs (or every variant of a node) side by side",
        description="Compare the evaluations of two or more runs: metrics with deltas from the first run, and "
                    "the rows whose verdict changed. With --variants NODE, run FLOW once per variant of NODE on "
                    "--data, evaluate each, and compare them.")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="runs (their latest evaluation) or evaluations")
    parser.add_argument("--variants", metavar="NODE", help="run and compare every variant of this node (needs --flow)")
    parser.add_argument("--flow", type=Path, metavar="FLOW", help="the flow for --variants")
    parser.add_argument("--data", type=Path, metavar="FILE", help="data for --variants (default: eval.yaml's data)")
    parser.add_argument("--config", type=Path, metavar="EVAL_YAML", help="evaluation file for --variants")
    parser.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="rows / judge calls in flight (default: as `batch`, 32)")
    parser.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    parser.add_argument("--allow-undefined", action="store_true", help=ALLOW_UNDEFINED_HELP)
    from promptwise.commands.model_compare import add_arguments as add_model_arguments

    add_model_arguments(parser, with_models_help="run and evaluate --flow once per model (comma-separated), the "
                                                 "model replaced in every llm node, and compare them in one table")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--workspace", type=Path, metavar="DIR", help="the workspace holding the runs (default: here)")
    parser.add_argument("--live", action="store_true",
                        help="compare the versions of --flow's rollout (and its shadow) on live traffic, from the "
                             "traces: as `promptwise rollout compare FLOW`")
    parser.set_defaults(handler=run)


def format_comparison(comparison) -> str:
    from promptwise.evaluation.report_text import fmt_figure

    columns = comparison.columns
    headers = ["metric", *(c.label for c in columns)]
    rows = []
    for metric in comparison.metrics:
        cells = [metric.metric]
        for i, (value, delta, verdict) in enumerate(zip(metric.values, metric.deltas, metric.verdicts())):
            text = fmt_figure(value, metric.unit)
            if i and delta is not None:
                # words, not arrows: a lower latency is better, and an arrow down would read as worse
                text += " (=)" if verdict == "same" else f" ({fmt_figure(delta, metric.unit, signed=True)}, {verdict})"
            cells.append(text)
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines += [f"note: {n}" for n in comparison.notes]
    if comparison.same_data:
        lines += ["", f"rows that changed verdict: {len(comparison.changed)}"]
        for change in comparison.changed[:30]:
            verdicts = " → ".join("pass" if v else ("fail" if v is False else "n/a") for v in change.verdicts)
            where = f"row {change.line}" + (f" (data line {change.data_line})" if change.data_line else "")
            lines.append(f"  {where} {change.evaluator}: {verdicts}")
        if len(comparison.changed) > 30:
            lines.append(f"  ... {len(comparison.changed) - 30} more (see --format json or --html)")
    return "\n".join(lines)


def run(args) -> int:
    if args.live:  # the rollout's versions on live traces (commands/rollout.py)
        from promptwise.commands.rollout import live_comparison

        return live_comparison(args.flow or (Path(args.runs[0]) if len(args.runs) == 1 else None), args.format)
    import asyncio  # here, not at the top: --help need not load asyncio (and ssl)

    from promptwise.cli import UserError
    from promptwise.config import ConfigError, load_workspace
    from promptwise.engine.errors import FlowError
    from promptwise.evaluation.compare import compare, variant_ids
    from promptwise.evaluation.config import EvalConfigError
    from promptwise.evaluation.report_html import write_html
    from promptwise.evaluation.runner import EvaluationError
    from promptwise.evaluation.service import evaluate_flow

    try:
        names = list(args.runs)
        args.concurrency = concurrency_or_default(args.concurrency)
        if args.models is not None:
            if args.flow is None or names or args.variants:
                raise UserError("--models needs --flow FLOW (and --data FILE or eval.yaml's `data:`), without RUN "
                                "names or --variants")
            from promptwise.commands.model_compare import run_models

            return run_models(args, args.flow)
        if args.node is not None:
            raise UserError("--node NAME chooses the llm node whose model --models replaces; pass --models too")
        if args.variants:
            if args.flow is None:
                raise UserError("--variants NODE needs --flow FLOW (and --data FILE or eval.yaml's `data:`)")
            workspace = load_workspace(args.flow)
            variants = variant_ids(args.flow, args.variants)
            for variant in variants:  # every variant checked before the first one runs
                refuse_undefined_variables(args.flow, {args.variants: variant}, args.allow_undefined)
            for variant in variants:
                print(f"running and evaluating {args.variants}={variant} ...", file=sys.stderr)
                tracker = RunTracker()
                try:
                    outcome = asyncio.run(evaluate_flow(args.flow, args.data, config_path=args.config,
                                                        variants={args.variants: variant},
                                                        concurrency=args.concurrency, use_cache=not args.no_cache,
                                                        on_progress=tracker.on_progress, on_start=tracker.on_start,
                                                        on_warning=warn))
                except KeyboardInterrupt:
                    print(tracker.interrupted_message(), file=sys.stderr)
                    if names:
                        print(f"promptwise: variants evaluated so far: {', '.join(names)}; compare them with "
                              "`promptwise compare RUN RUN ...` once every variant is evaluated", file=sys.stderr)
                    return 130
                names.append(outcome.name)
        else:
            if args.workspace is not None and not args.workspace.is_dir():
                raise UserError(f"--workspace {args.workspace}: no such folder; pass the folder holding .promptwise/")
            workspace = load_workspace(args.workspace or Path.cwd())
        if len(names) < 2:
            got = f"got only `{names[0]}`" if names else "got none"
            raise UserError(f"compare needs at least two runs, {got}: promptwise compare RUN RUN [...] "
                            "(or --variants NODE --flow FLOW)")
        comparison = compare(names, workspace)
    except (EvaluationError, EvalConfigError, FlowError, ConfigError) as error:
        raise UserError(str(error)) from None
    if args.html:
        try:
            write_html(args.html, comparison)
        except OSError as error:
            raise UserError(f"{args.html}: cannot write the report ({error.strerror})") from None
    if args.format == "json":
        print(json_text(comparison.to_json(), indent=2))
    else:
        print(format_comparison(comparison))
        if args.html:
            print(f"\nHTML report: {args.html}")
    return 0
