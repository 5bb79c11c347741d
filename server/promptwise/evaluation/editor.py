"""What the editor shows from stored evaluations: lenses over the flow, its evaluated nodes and
its variants; hovers with the worst rows; information diagnostics on the dataset's lines.

Plain data only (no pygls): the language server converts `LensItem` to a code lens and the
`Problem`s to diagnostics. Everything is read from the run store, read-only, so it can be
called while a run or an evaluation writes; a workspace without a store gives nothing.

    latest_results_for(flow_path, workspace) -> list[LensItem]
    dataset_diagnostics(dataset_path, workspace) -> list[Problem]
    check_eval_file(path, text=None) -> list[Problem]      # PW80x for eval.yaml itself
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptwise.config import WorkspaceConfig, load_workspace
from promptwise.documents.source import Range  # before analysis: documents/__init__ imports analysis
from promptwise.analysis.problem import Problem, Severity  # noqa: E402,I001
from promptwise.evaluation.base import Score
from promptwise.evaluation.report_text import fmt_number, fmt_percent, fmt_seconds, fmt_usd

if TYPE_CHECKING:  # the lenses read the store; `check` of an eval.yaml does not import it
    from promptwise.evaluation.results_store import EvalStore, StoredEvaluation
    from promptwise.evaluation.runner import RowScores

log = logging.getLogger(__name__)

RUN_FIGURE_TYPES = ("latency", "tokens", "cost")
WORST_ROWS = 5


@dataclass(frozen=True)
class LensItem:
    owner: str  # "flow" | "node" | "variant"
    name: str | None  # None for the flow; the node name; "node.variant_id" for a variant
    range: Range  # where the lens goes in the flow file
    text: str  # e.g. "groundedness 4.3 (+0.2) · pass 92% · p95 1.8 s · $0.004/row"
    hover: str  # markdown: figures and the worst rows with their reasons
    delta: str | None  # the change of the headline figure from the previous evaluation
    evaluation: str
    run: str

    def to_json(self) -> dict:
        return {"owner": self.owner, "name": self.name, "range": self.range.to_json(), "text": self.text,
                "hover": self.hover, "delta": self.delta, "evaluation": self.evaluation, "run": self.run}


def _open_store(workspace: WorkspaceConfig) -> EvalStore | None:
    from promptwise.evaluation.results_store import EvalStore
    from promptwise.store.run_store import RunStore

    if not RunStore.exists_in(workspace.state_dir):
        return None
    return EvalStore.for_workspace(workspace, readonly=True)


def _flow_file(flow_path: Path) -> Path:
    if flow_path.is_dir():
        for name in ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml"):
            if (flow_path / name).is_file():
                return flow_path / name
    return flow_path


# A run's variants never change once it is created: remember them (bounded) so a lens refresh
# does not re-read every run's totals from the store.
_VARIANTS_SEEN: dict[tuple[str, str], dict] = {}


def _run_variants(workspace: WorkspaceConfig, runs: list[str]) -> dict[str, dict]:
    from promptwise.store.run_store import RunStore

    root = str(workspace.state_dir)
    missing = [run for run in set(runs) if (root, run) not in _VARIANTS_SEEN]
    if missing:
        with RunStore.for_workspace(workspace, readonly=True) as store:
            for run in missing:
                info = store.get_run(run)
                if info is not None:
                    if len(_VARIANTS_SEEN) > 4096:
                        _VARIANTS_SEEN.clear()
                    _VARIANTS_SEEN[(root, run)] = dict(info.variants or {})
    return {run: _VARIANTS_SEEN.get((root, run), {}) for run in runs}


# ----- figures and text -----


def _headline(evaluation: StoredEvaluation, names: list[str] | None = None) -> str | None:
    """The evaluator whose mean leads the lens: the first quality evaluator (not latency/cost)."""
    for evaluator in evaluation.evaluators:
        if names is not None and evaluator["name"] not in names:
            continue
        if evaluator["type"] not in RUN_FIGURE_TYPES and evaluation.metrics.get(evaluator["name"], {}).get("mean") is not None:
            return evaluator["name"]
    return None


def _row_pass_rate(rows: list[RowScores], names: list[str] | None) -> float | None:
    """Share of rows where every thresholded evaluator passed (an unscored row does not pass)."""
    verdicts = []
    for row in rows:
        scores = [s for n, s in row.scores.items() if names is None or n in names]
        judged = [s for s in scores if s.passed is not None or s.error is not None]
        if judged:
            verdicts.append(all(s.passed is True for s in judged))
    return sum(verdicts) / len(verdicts) if verdicts else None


def _signed(value: float, percent: bool = False) -> str:
    if percent:
        return f"{'+' if value >= 0 else '−'}{abs(value) * 100:.0f}%"
    return f"{'+' if value >= 0 else '−'}{fmt_number(abs(value), 2)}"


def lens_text(evaluation: StoredEvaluation, rows: list[RowScores], previous: StoredEvaluation | None,
              previous_rows: list[RowScores] | None, names: list[str] | None = None) -> tuple[str, str | None]:
    parts = []
    delta_text = None
    headline = _headline(evaluation, names)
    if headline is not None:
        mean = evaluation.metrics[headline]["mean"]
        text = f"{headline} {fmt_number(mean, 2)}"
        before = previous.metrics.get(headline, {}).get("mean") if previous else None
        if isinstance(before, (int, float)) and abs(mean - before) >= 0.005:
            delta_text = _signed(mean - before)
            text += f" ({delta_text})"
        parts.append(text)
    rate = _row_pass_rate(rows, names)
    if rate is not None:
        text = f"pass {fmt_percent(rate)}"
        before_rate = _row_pass_rate(previous_rows, names) if previous_rows else None
        if before_rate is not None and abs(rate - before_rate) >= 0.005:
            change = _signed(rate - before_rate, percent=True)
            text += f" ({change})"
            delta_text = delta_text or change
        parts.append(text)
    summary = evaluation.summary
    if summary.get("latency_p95_ms") is not None:
        parts.append(f"p95 {fmt_seconds(summary['latency_p95_ms']).replace(' s', ' s')}")
    if summary.get("cost_per_row") is not None:
        parts.append(f"{fmt_usd(summary['cost_per_row'])}/row")
    return " · ".join(parts) or "evaluated: no scores", delta_text


def _worst(rows: list[RowScores], names: list[str] | None, evaluators: list[dict]) -> list[tuple[RowScores, str, Score]]:
    higher = {e["name"]: e.get("higher_is_better", True) for e in evaluators}
    bad = []
    for row in rows:
        for name, score in row.scores.items():
            if names is not None and name not in names:
                continue
            if score.error is not None or score.passed is False:
                bad.append((row, name, score))
    # errors first, then the furthest from good
    def order(item):
        _, name, score = item
        if score.error is not None:
            return (0, 0.0)
        value = score.value or 0.0
        return (1, value if higher.get(name, True) else -value)
    return sorted(bad, key=order)


def hover_text(evaluation: StoredEvaluation, rows: list[RowScores], names: list[str] | None, data_name: str | None) -> str:
    lines = [f"**Evaluation** `{evaluation.name}` of run `{evaluation.run}`", "",
             "| evaluator | mean | pass | errors |", "| --- | ---: | ---: | ---: |"]
    for evaluator in evaluation.evaluators:
        if names is not None and evaluator["name"] not in names:
            continue
        m = evaluation.metrics.get(evaluator["name"], {})
        lines.append(f"| {evaluator['name']} | {fmt_number(m.get('mean'), 3)} | {fmt_percent(m.get('pass_rate'))} "
                     f"| {m.get('errors', 0)} |")
    worst = _worst(rows, names, evaluation.evaluators)
    if worst:
        lines += ["", f"**Worst rows** ({len(worst)} below threshold or not scored):"]
        for row, name, score in worst[:WORST_ROWS]:
            where = f"row {row.line}"
            if row.data_line and data_name:
                where += f" ({data_name}:{row.data_line})"
            what = f"not scored: {score.error}" if score.error else f"{fmt_number(score.value, 2)} — {score.reason}"
            lines.append(f"- {where} · {name}: {what[:200]}")
    return "\n".join(lines)


# ----- lenses -----


def latest_results_for(flow_path: Path | str, workspace: WorkspaceConfig | None = None) -> list[LensItem]:
    """Lenses for a flow file from its latest evaluations. Never raises (logs and returns [])."""
    try:
        return _latest_results_for(Path(flow_path), workspace)
    except Exception:  # the editor must keep working whatever the store holds
        log.exception("evaluation lenses for %s failed", flow_path)
        return []


def _latest_results_for(flow_path: Path, workspace: WorkspaceConfig | None) -> list[LensItem]:
    flow_file = _flow_file(flow_path)
    workspace = workspace or load_workspace(flow_file)
    store = _open_store(workspace)
    if store is None:
        return []
    with store:
        history = store.list_for_flow(str(flow_file.resolve()), limit=50)
        if not history:
            return []
        rows_cache: dict[str, list[RowScores]] = {}

        def rows_of(evaluation: StoredEvaluation | None) -> list[RowScores] | None:
            if evaluation is None:
                return None
            if evaluation.name not in rows_cache:
                rows_cache[evaluation.name] = store.scores(evaluation.name, details=False)
            return rows_cache[evaluation.name]

        variants = _run_variants(workspace, [e.run for e in history])
        document = _load_flow(flow_file)
        items: list[LensItem] = []
        latest = history[0]
        previous = history[1] if len(history) > 1 else None
        data_name = Path(latest.data).name if latest.data else None
        text, delta = lens_text(latest, rows_of(latest), previous, rows_of(previous))
        flow_range = Range.empty(0, 0)
        items.append(LensItem("flow", None, flow_range, text, hover_text(latest, rows_of(latest), None, data_name),
                              delta, latest.name, latest.run))
        if document is None:
            return items
        # nodes whose outputs the evaluators read
        for node_name, evaluator_names in _evaluated_nodes(document, latest).items():
            node = document.node(node_name)
            if node is None:
                continue
            text, delta = lens_text(latest, rows_of(latest), previous, rows_of(previous), evaluator_names)
            items.append(LensItem("node", node_name, node.name_range, text,
                                  hover_text(latest, rows_of(latest), evaluator_names, data_name), delta,
                                  latest.name, latest.run))
        # each variant: its latest evaluation, against its own previous one
        for node_name, node_variants in document.node_variants.items():
            for variant_id, variant in node_variants.variants.items():
                chosen = [e for e in history
                          if variants.get(e.run, {}).get(node_name, _default_variant(node_variants)) == variant_id]
                if not chosen:
                    continue
                current, before = chosen[0], (chosen[1] if len(chosen) > 1 else None)
                text, delta = lens_text(current, rows_of(current), before, rows_of(before))
                items.append(LensItem("variant", f"{node_name}.{variant_id}", variant.key_range, text,
                                      hover_text(current, rows_of(current), None,
                                                 Path(current.data).name if current.data else None),
                                      delta, current.name, current.run))
        return items


def _default_variant(node_variants) -> str | None:
    return node_variants.default_variant_id or next(iter(node_variants.variants), None)


def _load_flow(flow_file: Path):
    try:
        import promptwise.documents  # noqa: F401
        from promptwise.documents import load_document

        document = load_document(flow_file)
    except Exception:
        return None
    return document if getattr(document, "kind", None) == "flow_dag" else None


def _evaluated_nodes(document, evaluation: StoredEvaluation) -> dict[str, list[str]]:
    """node name -> evaluators that read an output the node produces."""
    producers: dict[str, str] = {}
    for name, output in document.outputs.items():
        reference = output.reference
        if reference is not None and reference.is_node and reference.name:
            producers[name] = reference.name
    nodes: dict[str, list[str]] = {}
    for evaluator in evaluation.evaluators:
        for output in evaluator.get("outputs") or []:
            node = producers.get(output)
            if node is not None and evaluator["name"] not in nodes.setdefault(node, []):
                nodes[node].append(evaluator["name"])
    return nodes


# ----- dataset diagnostics -----


def dataset_diagnostics(dataset_path: Path | str, workspace: WorkspaceConfig | None = None) -> list[Problem]:
    """Information diagnostics on the lines of a dataset whose rows fell under a threshold (PW810)
    or could not be scored (PW811) in the latest evaluation over that file. Never raises."""
    try:
        return _dataset_diagnostics(Path(dataset_path), workspace)
    except Exception:
        log.exception("dataset diagnostics for %s failed", dataset_path)
        return []


def _dataset_diagnostics(dataset_path: Path, workspace: WorkspaceConfig | None) -> list[Problem]:
    workspace = workspace or load_workspace(dataset_path)
    store = _open_store(workspace)
    if store is None:
        return []
    with store:
        history = store.list_for_data(str(dataset_path.resolve()), limit=1)
        if not history:
            return []
        evaluation = history[0]
        rows = store.scores(evaluation.name, details=False)
    try:
        lines = dataset_path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError):
        return []
    thresholds = {e["name"]: (e.get("threshold"), e.get("higher_is_better", True)) for e in evaluation.evaluators}
    problems = []
    for row in rows:
        if not row.data_line or row.data_line > len(lines):
            continue
        index = row.data_line - 1
        line_range = Range.of(index, 0, index, len(lines[index].rstrip("\r")))
        for name, score in row.scores.items():
            if score.error is not None:
                problems.append(Problem(dataset_path, line_range, Severity.INFORMATION, "PW811",
                                        f"{name}: not scored in evaluation {evaluation.name} ({score.error[:200]}); "
                                        f"fix the row or the evaluator and evaluate again"))
            elif score.passed is False:
                threshold, higher = thresholds.get(name, (None, True))
                comparison = "<" if higher else ">"
                problems.append(Problem(dataset_path, line_range, Severity.INFORMATION, "PW810",
                                        f"{name} {fmt_number(score.value, 2)} {comparison} threshold "
                                        f"{fmt_number(threshold)} in evaluation {evaluation.name}: "
                                        f"{score.reason[:200]}"))
    return problems


# ----- eval.yaml itself -----


def check_eval_file(path: Path | str, text: str | None = None) -> list[Problem]:
    """PW80x problems of an eval.yaml (syntax, types, inputs, references, data columns,
    flow outputs), with exact ranges. Never raises."""
    from promptwise.evaluation.config import parse_eval_config

    path = Path(path)
    try:
        config, problems = parse_eval_config(path, text)
        problems += _option_problems(config)
        problems += _column_problems(config)
    except Exception:
        log.exception("checking %s failed", path)
        return []
    return problems


def _option_problems(config) -> list[Problem]:
    """Build each evaluator to check its options (a regex that does not compile, a schema that
    is not one, a judge prompt that is missing). Python functions and evaluation flows are not
    built here: that would import or load the user's code on every keystroke."""
    from promptwise.evaluation.base import EvaluatorConfigError
    from promptwise.evaluation.registry import BuildContext, build_evaluator

    problems = []
    context = BuildContext(base_dir=config.base_dir)
    for spec in config.evaluators:
        if spec.type in ("python", "flow"):
            continue
        try:
            build_evaluator(spec.type, spec.name, spec.threshold, spec.options, context)
        except EvaluatorConfigError as error:
            problems.append(Problem(config.path, spec.range, Severity.ERROR, "PW805", str(error)))
    return problems


def _column_problems(config) -> list[Problem]:
    from promptwise.evaluation.mapping import references_in
    from promptwise.evaluation.flow_outputs import flow_output_names

    problems: list[Problem] = []
    columns: set[str] | None = None
    if config.data is not None and config.data.is_file():
        try:
            from promptwise.costing.dataset_rows import Row, read_rows

            columns = set()
            for item in read_rows(config.data):
                if isinstance(item, Row):
                    columns.update(item.values)
        except Exception:
            columns = None
    flow = config.flow or config.path.parent
    outputs = flow_output_names(flow) if (flow.is_dir() or flow.is_file()) else None
    for spec in config.evaluators:
        for input_name, value in spec.inputs.items():
            where = spec.input_ranges.get(input_name, spec.range)
            try:
                references = references_in(value)
            except Exception:
                continue
            for reference in references:
                column = reference.column
                if reference.source == "data" and column and columns is not None and column not in columns:
                    problems.append(Problem(config.path, where, Severity.ERROR, "PW806",
                                            f"{config.data.name} has no column `{column}`; its columns are: "
                                            f"{', '.join(sorted(columns)) or '(none)'}"))
                if reference.source == "run.outputs" and column and outputs is not None and column not in outputs:
                    problems.append(Problem(config.path, where, Severity.ERROR, "PW807",
                                            f"the flow has no output `{column}`; its outputs are: "
                                            f"{', '.join(sorted(outputs)) or '(none)'}"))
    return problems
