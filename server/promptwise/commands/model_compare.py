"""`promptwise eval FLOW --models A,B,...` (and `compare --models A,B --flow FLOW`): the same flow and
evaluation run once per model, the model substituted in every llm node (or `--node NAME`), then
one table — quality, cost per row, latency, errors — and the cheapest model within `--margin` of
the best.

Every model is checked against the catalog and priced before the first call; each model's run is
a normal stored run (its `models` parameter says what was replaced), so `runs show` and
`compare RUN RUN` read it as any other.

Exit codes: 0 every model evaluated; 1 a model could not be run or evaluated (the others are still
compared, the reason printed); 2 a usage error or a model the catalog does not know (nothing run).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from promptwise.commands.options import RunTracker, json_text, non_negative_number, warn

DEFAULT_MARGIN = 0.02
PROGRESS_EVERY_SECONDS = 0.5  # --progress: at most two lines a second per model (and always the last row)


def add_arguments(parser, *, with_models_help: str) -> None:
    parser.add_argument("--models", metavar="M1,M2,...", help=with_models_help)
    parser.add_argument("--node", metavar="NAME",
                        help="with --models: replace the model of this llm node only (default: every llm node)")
    parser.add_argument("--margin", type=margin, default=DEFAULT_MARGIN, metavar="X",
                        help="with --models: recommend the cheapest model whose primary metric is within X of the "
                             f"best (default {DEFAULT_MARGIN})")
    parser.add_argument("--progress", action="store_true",
                        help="with --models: a line on stderr as each model's rows finish (`progress MODEL: DONE/TOTAL "
                             "rows, N failed`), at most twice a second, for editors and scripts following a long "
                             "comparison")


# --margin: nan would compare false with every model, and then nothing is recommended.
margin = non_negative_number()


def parse_models(text: str) -> list[str]:
    from promptwise.cli import UserError

    models = [m.strip() for m in text.split(",") if m.strip()]
    if len(models) < 2:
        raise UserError(f"--models {text!r}: name at least two models, separated by commas "
                        "(e.g. --models gpt-4o-mini,gpt-4.1-mini)")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise UserError(f"--models: {', '.join(repeated)} named more than once; name each model once")
    return models


@dataclass
class ModelResult:
    model: str
    run: str | None  # None: the model could not be run or evaluated (`error` says why)
    evaluation: str | None
    figures: dict  # metric name -> value (the evaluators' main figures)
    primary: float | None
    cost_per_row: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    rows_failed: int | None
    eval_errors: int | None
    estimate_expected: float | None
    estimate_upper: float | None
    error: str | None = None

    def to_json(self) -> dict:
        return {"model": self.model, "run": self.run, "evaluation": self.evaluation, "metrics": self.figures,
                "primary": self.primary, "cost_per_row": self.cost_per_row, "latency_p50_ms": self.latency_p50_ms,
                "latency_p95_ms": self.latency_p95_ms, "rows_failed": self.rows_failed,
                "eval_errors": self.eval_errors, "error": self.error,
                "estimate": {"cost_expected": self.estimate_expected, "cost_upper": self.estimate_upper}}


def main_figure(evaluator: dict, metrics: dict) -> tuple[str, bool]:
    """The figure that says how good an evaluator found the runs, and whether higher is better:
    its accuracy (classification, whose default threshold makes the pass rate the same number
    under a vaguer name), the pass rate when it has a threshold, else its mean."""
    if "accuracy" in metrics:
        return "accuracy", True
    if evaluator.get("threshold") is not None and "pass_rate" in metrics:
        return "pass_rate", True
    return "mean", bool(evaluator.get("higher_is_better", True))


def recommend(results: list[ModelResult], higher_is_better: bool, margin: float) -> tuple[str | None, str]:
    """The cheapest model whose primary figure is within `margin` of the best, and why."""
    scored = [r for r in results if r.primary is not None]
    if not scored:
        return None, "no model has a primary metric to compare (every row failed, or no evaluator scored)"
    best = max(r.primary for r in scored) if higher_is_better else min(r.primary for r in scored)
    close = [r for r in scored if abs(r.primary - best) <= margin + 1e-12]
    # A model without a known price cannot be called the cheapest: priced models first.
    close.sort(key=lambda r: (r.cost_per_row is None, r.cost_per_row or 0.0, r.model))
    chosen = close[0]
    others = [r.model for r in close[1:]]
    reason = (f"the cheapest of the models within {margin:g} of the best primary metric ({best:.4g})"
              + (f"; also within the margin: {', '.join(others)}" if others else ""))
    return chosen.model, reason


def run_models(args, flow: Path, variants: dict[str, str] | None = None) -> int:
    """Estimate every model, run and evaluate the flow (with `variants`) with each, print one table."""
    import asyncio

    from promptwise.cli import UserError
    from promptwise.commands.preflight import refuse_undefined_variables
    from promptwise.config import ConfigError, load_workspace
    from promptwise.costing.preflight import REASONING_ROOM, EstimateError, estimate_target, reasoning_room_note
    from promptwise.engine.errors import FlowError
    from promptwise.evaluation.compare import load_column
    from promptwise.evaluation.config import EvalConfigError
    from promptwise.evaluation.results_store import EvalStore
    from promptwise.evaluation.runner import EvaluationError
    from promptwise.evaluation.service import config_for, evaluate_flow
    from promptwise.store import RunStore

    models = parse_models(args.models)
    target = args.node or "*"
    try:
        config = config_for(flow, args.config)
        data = args.data if args.data is not None else config.data
        if data is None:
            raise UserError(f"{config.path}: no data to run on; pass --data FILE or set `data:` in eval.yaml")
        # Every model named, priced and refused (with a did-you-mean) before the first call.
        refuse_unusable_target(flow, args.node)
        estimates = {}
        problems = []
        for model in models:
            try:
                estimates[model] = estimate_target(flow, data=data, model=model, variants=variants)
            except EstimateError as error:  # named as the option the user gave, --models
                problems.append(str(error).replace(f"--model {model}:", f"--models: {model}:", 1))
        if problems:  # one line per distinct problem: a file's problem is every model's
            raise UserError("\n".join(dict.fromkeys(problems)) + "\nnothing was run")
        refuse_undefined_variables(flow, variants or {}, args.allow_undefined)
        out = sys.stderr if args.format == "json" else sys.stdout
        scope = f"node `{args.node}`" if args.node else "every llm node"
        print(f"Estimate over {data} with the model replaced in {scope}"
              + (" (priced as if every model call used it)" if args.node else "") + ":", file=out)
        width = max(24, *(len(model) for model in estimates))  # fine-tuned names are long
        for model, report in estimates.items():
            expected = "-" if report.cost_expected is None else f"${report.cost_expected:.4f}"
            if report.cost_expected is not None and report.observed_with:
                # Output lengths read from another model's runs: said, as the estimate's basis.
                expected += f" (output as in the runs with {', '.join(report.observed_with)})"
            upper = "-" if report.cost_upper is None else f"${report.cost_upper:.4f}"
            print(f"  {model:<{width}} expected {expected}, at most {upper}", file=out)
            for node in report.nodes:  # a reasoning model whose max_tokens leaves it little room
                if node.reasoning_limit is not None and node.reasoning_limit < REASONING_ROOM:
                    print(f"  {'':<{width}} warning: {reasoning_room_note(node)}", file=out)
        warned: set[str] = set()  # the flow's warnings (a column feeding no input...) once, not per model

        def warn_once(message: str) -> None:
            if message not in warned:
                warned.add(message)
                warn(message)

        runs: dict[str, str] = {}  # model -> its evaluated run
        evaluations: dict[str, str] = {}  # model -> its evaluation (RUN.evalN)
        failures: dict[str, str] = {}  # model -> why it has no evaluation
        for model in models:
            print(f"running and evaluating with {model} ...", file=sys.stderr)
            tracker = RunTracker(progress_lines(model) if getattr(args, "progress", False) else None)
            try:
                outcome = asyncio.run(evaluate_flow(flow, data, config_path=args.config, models={target: model}, variants=variants,
                                                    concurrency=args.concurrency, use_cache=not args.no_cache,
                                                    on_progress=tracker.on_progress, on_start=tracker.on_start,
                                                    on_warning=warn_once))
            except KeyboardInterrupt:
                print(tracker.interrupted_message(), file=sys.stderr)
                if runs:
                    print("promptwise: models evaluated so far: " + ", ".join(f"{m} ({r})" for m, r in runs.items()),
                          file=sys.stderr)
                return 130
            except (EvaluationError, FlowError) as error:
                # One model the endpoint does not serve must not cost the others' results.
                failures[model] = str(error)
                print(f"promptwise: error: {model}: {error}", file=sys.stderr)
                continue
            runs[model], evaluations[model] = outcome.run, outcome.name
        if not runs:
            raise UserError("\n".join(dict.fromkeys(failures.values())))
        workspace = load_workspace(flow)
        with EvalStore.for_workspace(workspace, readonly=True) as store:
            columns = {model: load_column(store, workspace, name) for model, name in evaluations.items()}
        with RunStore.for_workspace(workspace, readonly=True) as store:
            failed = {model: store.get_run(name).rows_failed for model, name in runs.items()}
    except (EvalConfigError, EvaluationError, FlowError, ConfigError) as error:
        raise UserError(str(error)) from None
    first = next(iter(columns.values())).evaluation_record
    figures = [(e["name"], *main_figure(e, first.metrics.get(e["name"], {}))) for e in first.evaluators]
    primary_name, primary_higher = (f"{figures[0][0]}.{figures[0][1]}", figures[0][2]) if figures else (None, True)
    results = []
    for model in models:
        report = estimates[model]
        if model in failures:
            results.append(ModelResult(model, None, None, {}, None, None, None, None, None, None,
                                       report.cost_expected, report.cost_upper, failures[model]))
            continue
        column = columns[model]
        record = column.evaluation_record
        values = {f"{name}.{figure}": _number(record.metrics.get(name, {}).get(figure)) for name, figure, _ in figures}
        errors = sum(int(record.metrics.get(name, {}).get("errors") or 0) for name, _, _ in figures)
        results.append(ModelResult(model, column.run, column.evaluation, values,
                                   values.get(primary_name) if primary_name else None,
                                   _number(record.summary.get("cost_per_row")),
                                   _number(record.summary.get("latency_p50_ms")),
                                   _number(record.summary.get("latency_p95_ms")),
                                   failed[model], errors, report.cost_expected, report.cost_upper))
    chosen, reason = recommend(results, primary_higher, args.margin)
    html = getattr(args, "html", None)  # `compare --models ... --html FILE`
    if html and len(evaluations) >= 2:
        _write_html(html, list(evaluations.values()), workspace)
    if args.format == "json":
        print(json_text({"node": args.node, "primary_metric": primary_name, "higher_is_better": primary_higher,
                         "margin": args.margin, "models": [r.to_json() for r in results],
                         "recommendation": {"model": chosen, "reason": reason}}, indent=2))
    else:
        print()
        print(format_table(results, [f"{n}.{f}" for n, f, _ in figures]))
        for model, why in failures.items():
            print(f"{model}: not evaluated: {why}")
        print()
        print(f"recommended: {chosen} ({reason})" if chosen else f"no recommendation: {reason}")
        if len(runs) > 1:
            print("compare the runs row by row: promptwise compare " + " ".join(runs.values()))
    if html and len(evaluations) >= 2:
        print(f"HTML report (the models' runs row by row): {html}", file=sys.stderr if args.format == "json" else sys.stdout)
    elif html:
        print(f"promptwise: warning: {html} not written: fewer than two models were evaluated", file=sys.stderr)
    return 1 if failures else 0


def progress_lines(model: str):
    """`--progress`: what a batch reports as its rows finish, as plain lines an editor can read (the
    progress bar of `eval` is for a terminal and is not drawn when stderr is not one)."""
    import time

    last = [float("-inf")]

    def report(progress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - last[0] < PROGRESS_EVERY_SECONDS:
            return
        last[0] = now
        print(f"progress {model}: {progress.done}/{progress.total} rows, {progress.failed} failed", file=sys.stderr,
              flush=True)

    return report


def _write_html(path: Path, evaluations: list[str], workspace) -> None:
    from promptwise.cli import UserError
    from promptwise.evaluation.compare import compare
    from promptwise.evaluation.report_html import write_html

    try:
        write_html(path, compare(evaluations, workspace))
    except OSError as error:
        raise UserError(f"{path}: cannot write the report ({error.strerror})") from None


def refuse_unusable_target(flow: Path, node: str | None) -> None:
    """A flex flow has no model to replace, and `--node NAME` must name an llm node of the flow (a
    node with variants counts when one of them is llm): said once, before the estimate, rather
    than once per model after it."""
    from promptwise.cli import UserError
    from promptwise.costing.preflight import EstimateError, resolve_target
    from promptwise.documents.load import load_document

    try:
        path = resolve_target(Path(flow))
    except EstimateError:
        return  # the estimate says what is wrong with the target
    document = load_document(path)
    if getattr(document, "kind", None) == "flex_flow":
        raise UserError(f"{path}: --models replaces the model of a flow.dag.yaml's llm nodes or a prompty's; a "
                        "flex flow calls its models from Python, so there is none to replace: run it once per "
                        "model (e.g. a model input or setting), then `promptwise compare RUN RUN`")
    if node is None:
        return
    if getattr(document, "kind", None) == "prompty":
        raise UserError(f"{path}: --node applies to flow.dag.yaml llm nodes; a .prompty has one model "
                        "(leave --node out)")
    if getattr(document, "kind", None) != "flow_dag":
        return
    llm_nodes = []
    for flow_node in document.nodes:
        group = document.node_variants.get(flow_node.name) if flow_node.use_variants else None
        kinds = [v.node.type for v in group.variants.values() if v.node] if group else [flow_node.type]
        if any((kind or "").lower() == "llm" for kind in kinds):
            llm_nodes.append(flow_node.name)
    if node not in llm_nodes:
        raise UserError(f"{path}: --node {node}: no llm node of that name (llm nodes: "
                        f"{', '.join(llm_nodes) or 'none'}); nothing was run")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def format_table(results: list[ModelResult], metric_names: list[str]) -> str:
    from promptwise.evaluation.report_text import fmt_figure

    headers = ["model", *metric_names, "cost/row", "latency p50", "latency p95", "rows failed", "eval errors", "run"]
    rows = []
    for r in results:
        rows.append([r.model, *(fmt_figure(r.figures.get(m), "") for m in metric_names),
                     fmt_figure(r.cost_per_row, "$"), fmt_figure(r.latency_p50_ms, "ms"),
                     fmt_figure(r.latency_p95_ms, "ms"), _count(r.rows_failed), _count(r.eval_errors),
                     r.run or "not evaluated (below)"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    return "\n".join(lines)
