"""`promptwise eval FLOW [--data FILE]` runs a flow and evaluates it; `promptwise eval --run RUN`
evaluates a stored run. Both with the eval.yaml beside the flow (or `--config FILE`), and
CI gates: `--fail-under METRIC=VALUE` / `--fail-over METRIC=VALUE` (exit 1 when one is not
met) and `--junit FILE`.

Exit codes: 0 evaluated (and every gate met), 1 a gate failed or an evaluator could not score any
row, 2 a usage or input error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from promptwise.commands.preflight import ALLOW_UNDEFINED_HELP, refuse_undefined_variables
from promptwise.commands.options import (RunTracker, concurrency_or_default, existing_folder, json_text, parse_variants,
                                         plural, run_name, warn)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a flow (run it over data) or a stored run with eval.yaml",
        description="Run FLOW over --data (or eval.yaml's `data:`) and evaluate the run, or evaluate an existing "
                    "run with --run. Evaluators, column mapping and thresholds come from eval.yaml beside the flow.")
    parser.add_argument("flow", nargs="?", type=Path, metavar="FLOW",
                        help="a flow folder, flow.dag.yaml, flow.flex.yaml or .prompty")
    parser.add_argument("--data", type=Path, metavar="FILE", help="data to run the flow on (.jsonl, .csv or .json)")
    parser.add_argument("--run", metavar="RUN", help="evaluate this stored run instead of running the flow")
    parser.add_argument("--config", type=Path, metavar="EVAL_YAML", help="the evaluation file (default: beside the flow)")
    parser.add_argument("--name", type=run_name, metavar="NAME", help="name for the new run (with FLOW)")
    parser.add_argument("--variant", action="append", default=[], metavar="NODE=ID",
                        help="run this variant of a node (repeatable)")
    parser.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="rows / judge calls in flight (default: as `batch`, 32)")
    parser.add_argument("--no-cache", action="store_true", help="do not use the response cache")
    parser.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                        help="exit 1 when METRIC is below VALUE (repeatable), e.g. category_match.pass_rate=0.9")
    parser.add_argument("--fail-over", action="append", default=[], metavar="METRIC=VALUE",
                        help="exit 1 when METRIC is above VALUE (repeatable), e.g. latency_p95_ms=2000")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML: one test case per row and evaluator")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--workspace", type=Path, metavar="DIR", help="the workspace holding --run (default: here)")
    parser.add_argument("--allow-undefined", action="store_true", help=ALLOW_UNDEFINED_HELP)
    parser.add_argument("--list", action="store_true", help="list the evaluator types and exit")
    from promptwise.commands.model_compare import add_arguments as add_model_arguments

    add_model_arguments(parser, with_models_help="run and evaluate FLOW once per model (comma-separated), the model "
                                                 "replaced in every llm node, and compare them in one table")
    parser.add_argument("--show", metavar="NAME",
                        help="show a stored evaluation again (RUN.evalN, or a run: its latest evaluation); runs "
                             "nothing")
    parser.set_defaults(handler=run_traced)


def _progress(stream):
    def report(progress) -> None:
        stream.write(f"\rrunning {progress.run}: {progress.done}/{progress.total} rows, {progress.failed} failed")
        stream.flush()
    return report


def _warn_if_partial(run_name: str, args) -> None:
    """An evaluation of a run that stopped part way covers only its finished rows: say so, as
    its figures (and gates) would otherwise read as the whole data's."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.store import RunStore

    try:
        workspace = load_workspace(args.workspace or args.flow or Path.cwd())
        if not RunStore.exists_in(workspace.state_dir):
            return
        with RunStore.for_workspace(workspace, readonly=True) as store:
            info = store.get_run(run_name)
    except (ConfigError, OSError):
        return
    if info is None or info.total_rows is None or info.rows_done >= info.total_rows:
        return
    then = ("evaluate it again when it ends" if info.status == "running" else
            f"finish the run with `promptwise batch --resume {run_name}`, then `promptwise eval --run {run_name}`")
    print(f"promptwise: warning: run {run_name} is {info.status} with {info.rows_done} of {info.total_rows} rows "
          f"done; this evaluation covers those rows only ({then})", file=sys.stderr)


def run_traced(args) -> int:
    """`run`, with the flow's rows and the evaluators' calls traced (`promptwise traces`)."""
    if args.list:
        return run(args)
    from promptwise.cli import UserError
    from promptwise.engine.errors import FlowError
    from promptwise.tracing import traced

    try:
        with traced(args.flow or args.workspace):
            return run(args)
    except FlowError as error:  # a `tracing:` section that cannot be used
        raise UserError(str(error)) from None


def _show(args) -> int:
    """`eval --show NAME`: print a stored evaluation as `eval` printed it, without running anything."""
    from promptwise.cli import UserError
    from promptwise.commands.options import workspace_or_error
    from promptwise.evaluation.compare import unknown_name_message
    from promptwise.evaluation.report_text import render_evaluation
    from promptwise.evaluation.results_store import EvalStore
    from promptwise.evaluation.runner import EvalResult
    from promptwise.store import RunStore

    existing_folder("--workspace", args.workspace)
    workspace = workspace_or_error(args.workspace or args.flow or Path.cwd())
    if not RunStore.exists_in(workspace.state_dir):
        raise UserError(f"--show {args.show}: no runs in {workspace.state_dir}; run from the workspace folder "
                        "(or pass --workspace DIR)")
    with EvalStore.for_workspace(workspace, readonly=True) as store:
        record = store.get(args.show) or store.latest_for_run(args.show)
        if record is None:
            raise UserError(f"--show: {unknown_name_message(store, args.show)}")
        rows = store.scores(record.name)
    with RunStore.for_workspace(workspace, readonly=True) as runs:
        run = runs.get_run(record.run)
    from promptwise.commands.runs import evaluation_is_stale, stale_note

    stale = run is not None and evaluation_is_stale(record, run)  # the run was resumed since
    if args.format == "json":
        data = record.to_json()
        data["evaluation"] = data.pop("name")
        data["stale"] = stale
        data["rows"] = EvalResult(record.evaluators, rows, record.metrics, record.summary).to_json()["rows"]
        print(json_text(data, indent=2))
    else:
        print(render_evaluation(record.name, record.run, record.evaluators, record.metrics, record.summary, rows))
        if stale:
            print(f"note: this evaluation is {stale_note(run)}")
    return 0


def _check_gates_first(gates, args) -> None:
    """A gate that names no metric is refused before the run and the judges cost anything."""
    from promptwise.cli import UserError
    from promptwise.config import ConfigError, load_workspace
    from promptwise.evaluation.config import EvalConfigError
    from promptwise.evaluation.gates import GateError, check_gate_names
    from promptwise.evaluation.runner import EvaluationError
    from promptwise.evaluation.service import config_for

    flow = args.flow
    try:
        if args.run and args.config is None:
            from promptwise.store import RunStore

            workspace = load_workspace(args.workspace or args.flow or Path.cwd())
            if not RunStore.exists_in(workspace.state_dir):
                return
            with RunStore.for_workspace(workspace, readonly=True) as store:
                info = store.get_run(args.run)
            if info is None:
                return
            flow = Path(info.flow)
        config = config_for(flow, args.config)
    except (EvaluationError, EvalConfigError, ConfigError, OSError):
        return  # the evaluation itself reports these, with their context
    try:
        check_gate_names(gates, [spec.name for spec in config.evaluators])
    except GateError as error:
        raise UserError(f"{error}; nothing was run") from None


def run(args) -> int:
    import asyncio  # here, not at the top: --help need not load asyncio (and ssl)

    from promptwise.cli import UserError
    from promptwise.config import ConfigError, load_workspace
    from promptwise.engine.errors import FlowError
    from promptwise.evaluation.config import EvalConfigError
    from promptwise.evaluation.gates import GateError, evaluate_gates, parse_gate
    from promptwise.evaluation.junit import write_junit
    from promptwise.evaluation.registry import describe_types
    from promptwise.evaluation.report_text import render_evaluation
    from promptwise.evaluation.runner import EvaluationError
    from promptwise.evaluation.service import evaluate_flow, evaluate_run

    if args.list:
        for item in describe_types():
            print(f"{item['type']:<18} inputs: {', '.join(item['inputs'])}\n{'':<18} {item['description']}")
        return 0
    if args.show:
        return _show(args)
    if args.run and args.flow and args.data:
        raise UserError("pass either FLOW --data FILE (run and evaluate) or --run RUN (evaluate a run), not both")
    if not args.run and args.flow is None:
        raise UserError("nothing to evaluate; pass FLOW (with --data or eval.yaml's `data:`) or --run RUN")
    args.concurrency = concurrency_or_default(args.concurrency)
    if args.models is not None:
        if args.run or args.flow is None:
            raise UserError("--models runs FLOW once per model; pass FLOW (not --run)")
        unsupported = [option for option, given in (("--name", args.name), ("--fail-under", args.fail_under),
                                                    ("--fail-over", args.fail_over), ("--junit", args.junit))
                       if given]
        if unsupported:
            raise UserError(f"{', '.join(unsupported)} cannot be used with --models (one run per model); gate or "
                            "export one model's run with `promptwise eval --run RUN`")
        from promptwise.commands.model_compare import run_models

        return run_models(args, args.flow, parse_variants(args.variant, "classify=variant_1"))
    if args.node is not None:
        raise UserError("--node NAME chooses the llm node whose model --models replaces; pass --models too")
    try:
        gates = [parse_gate(g, "under") for g in args.fail_under] + [parse_gate(g, "over") for g in args.fail_over]
    except GateError as error:
        raise UserError(str(error)) from None
    use_cache = not args.no_cache
    if gates:
        _check_gates_first(gates, args)
    try:
        if args.run:
            existing_folder("--workspace", args.workspace)
            workspace = load_workspace(args.workspace or (args.flow if args.flow else Path.cwd()))
            outcome = asyncio.run(evaluate_run(args.run, workspace=workspace, config_path=args.config,
                                               concurrency=args.concurrency, use_cache=use_cache))
        else:
            progress = _progress(sys.stderr) if sys.stderr.isatty() else None
            tracker = RunTracker(progress)
            variants = parse_variants(args.variant, "classify=variant_1")
            refuse_undefined_variables(args.flow, variants, args.allow_undefined)
            try:
                outcome = asyncio.run(evaluate_flow(args.flow, args.data, config_path=args.config,
                                                    variants=variants, name=args.name,
                                                    concurrency=args.concurrency, use_cache=use_cache,
                                                    on_progress=tracker.on_progress, on_start=tracker.on_start,
                                                    on_warning=warn))
            except KeyboardInterrupt:
                if progress is not None:
                    sys.stderr.write("\n")
                print(tracker.interrupted_message(), file=sys.stderr)
                return 130
            if progress is not None:
                sys.stderr.write("\n")
    except (EvalConfigError, EvaluationError, FlowError, ConfigError) as error:
        raise UserError(str(error)) from None
    _warn_if_partial(outcome.run, args)
    result = outcome.result
    try:
        outcomes = evaluate_gates(gates, result.metrics, result.summary)
    except GateError as error:
        raise UserError(str(error)) from None
    if args.junit:
        try:
            write_junit(args.junit, result.evaluators, result.rows, suite_name=f"promptwise.{outcome.run}",
                        data_name=str(outcome.data) if outcome.data else None)
        except OSError as error:
            raise UserError(f"{args.junit}: cannot write the JUnit file ({error.strerror})") from None
    if args.format == "json":
        data = outcome.to_json()
        data["gates"] = [{"metric": o.gate.metric, "direction": o.gate.direction, "limit": o.gate.limit,
                          "value": o.value, "passed": o.passed} for o in outcomes]
        print(json_text(data, indent=2))
    else:
        print(render_evaluation(outcome.name, outcome.run, result.evaluators, result.metrics, result.summary,
                                result.rows))
        if outcomes:
            print()
            for gate_outcome in outcomes:
                print(gate_outcome.describe())
        if args.junit:
            print(f"\nJUnit XML: {args.junit}")
    unscored = _evaluators_that_scored_nothing(result)
    for message in unscored:
        print(f"promptwise: error: {message}", file=sys.stderr)
    return 0 if all(o.passed for o in outcomes) and not unscored else 1


def _evaluators_that_scored_nothing(result) -> list[str]:
    """An evaluator that failed on every row (a judge whose endpoint refused every call) measured
    nothing: the evaluation must not pass as if it had."""
    messages = []
    for evaluator in result.evaluators:
        figures = result.metrics.get(evaluator["name"], {})
        count, errors = figures.get("count") or 0, figures.get("errors") or 0
        if count and errors >= count:
            first = next((row.scores[evaluator["name"]].error for row in result.rows
                          if evaluator["name"] in row.scores and row.scores[evaluator["name"]].error), None)
            messages.append(f"evaluator `{evaluator['name']}` could not score any of the {plural(count, 'row')}"
                            + (f"; the first error: {first}" if first else ""))
    return messages
